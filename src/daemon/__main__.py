import sys

from sugo.daemon.main import main

sys.exit(main())

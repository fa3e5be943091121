"""`python -m sugo.cli ...` runs the `sugo` command."""

import sys

from sugo.cli.main import main

sys.exit(main())

import logging
import os
import sys

from sugo.daemon.main import main

code = main()
# Leave without joining worker threads: one may still wait on a hung
# instrument (its request has a timeout, but a stop does not wait for it).
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)

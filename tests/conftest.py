"""Settings for every test process and every daemon the tests start."""

import os

from sugo.protocol.server import STRICT_REPLIES_ENV

# A daemon answers a reply that is not of its request's declared type with an
# error (it only logs it for users): every request the suite makes checks it.
os.environ[STRICT_REPLIES_ENV] = "1"

"""The wire protocol shared by the daemon, driver hosts, job runners and the CLI.

Typed messages (msgspec Structs, JSON on the wire), numeric arrays as raw
binary frames, no pickle anywhere. Must stay import-light: no numpy, no xarray.
"""

PROTOCOL_VERSION = 1

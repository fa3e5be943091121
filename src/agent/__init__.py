"""`sugo agent`: an instrument PC's side of the agent registry (docs/network.md).

Portable on purpose (Windows instrument PCs): no fork, pidfds, sessions or
POSIX-only signals; driver hosts are plain subprocesses, stopped by request.
"""

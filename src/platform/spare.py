"""A spare interpreter (the portable mode's warm start): started before it is
needed, it imports its modules, then waits for one request on stdin.

    python -m sugo.platform.spare NAME MODULE [PRELOAD ...]

Request: one JSON line ``{"argv": [...], "logfile": "..."}``; the process then
runs ``MODULE.main(argv)`` with its output in the log file, and exits (NAME
is for ``ps``). An
end of input without a request (the launcher closed) ends it quietly. Where
no fork is available, this keeps the imports off a job's start all the same.
"""

import importlib
import json
import os
import sys


def serve(module: str, preload: list[str]) -> int:
    for name in preload:
        importlib.import_module(name)
    main = importlib.import_module(module).main
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    argv = [str(a) for a in request["argv"]]
    logfile = request.get("logfile") or os.devnull
    fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return int(main(argv))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m sugo.platform.spare NAME MODULE [PRELOAD ...]")
    sys.exit(serve(sys.argv[2], sys.argv[3:]))

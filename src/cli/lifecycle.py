"""`sugo start` and `sugo stop`: the daemon as a background process.

`start` returns when the daemon says, on a pipe it was given (``--ready-fd``),
that every driver host is up or has failed, and its status confirms it; `stop`
waits (polling every 20 ms) until the daemon's pid is gone and its port free.
Both give up at a deadline.
"""

import errno
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sugo.cli.context import OK, Context
from sugo.cli.output import CliError, Output
from sugo.errors import RequestFailed, RequestTimeout, SugoError
from sugo.paths import bind_failed, settings_path
from sugo.platform.logfiles import daemon_log, daemon_output
from sugo.platform.procs import can_pass_fds, detached
from sugo.protocol.endpoints import connect_host

if TYPE_CHECKING:
    from sugo.client import SugoClient
    from sugo.protocol import daemon_api as api

POLL = 0.02
TAIL_LINES = 20
DAEMON_SAYS = "sugo daemon: "  # how the daemon's own error lines start (sugo.daemon.main)

# Daemons this process started, by pid: polled by `stop` so that a caller
# that runs start and stop in one process (tests, `sugo demo`) reaps its child
# instead of waiting on a zombie.
_spawned: dict[int, "subprocess.Popen[bytes]"] = {}


class Started(NamedTuple):
    """A daemon that `start_daemon` brought up."""

    port: int
    pid: int
    seconds: float
    status: "api.StatusInfo"
    logfile: Path


# -- ports ------------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port.

    SO_REUSEADDR is on, as ZeroMQ sets it for the daemon's own bind: the bind
    then fails only for a listening socket, not for connections of a stopped
    daemon lingering in TIME_WAIT (which would not stop the daemon either).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _check_port_unused(port: int, bind: str, appdir: Path) -> None:
    try:
        if port_free(port, bind):
            return
    except OSError as e:  # an address of no interface here, IPv6 switched off, ...
        raise CliError(bind_failed(appdir, bind, port, e.errno, e.strerror or str(e))) from None
    from sugo.client import SugoClient

    try:
        with SugoClient(port, appdir, timeout=1.0, host=connect_host(bind)) as client:
            info = client.ping()
    except SugoError:
        # A daemon of another app folder does not answer our key either.
        raise CliError(
            f"port {port} is taken by another program (or another app folder's daemon); "
            "choose another with --port"
        ) from None
    raise CliError(
        f"a daemon is already running on port {port} (pid {info.pid}, appdir {info.appdir})"
    )


# -- process and logs -------------------------------------------------------------


def _tail(path: Path, start: int = 0, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def _gone(pid: int) -> bool:
    proc = _spawned.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return False
        del _spawned[pid]
        return True
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill_spawned(grace: float = 5.0) -> None:
    """Stop the daemons this process started that still run (an interrupt,
    then a kill after ``grace`` seconds): the last resort of `sugo demo`. An
    interrupt, not SIGTERM: a daemon that gets SIGTERM leaves its driver hosts
    and jobs running for the next start, which the demo's throwaway appdir has not."""
    for pid, proc in list(_spawned.items()):
        if proc.poll() is None:
            if sys.platform == "win32":
                proc.terminate()
            else:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace)
        del _spawned[pid]


def _not_up(st: "api.StatusInfo") -> list[str]:
    """What keeps a daemon that says it is ready from being fully up."""
    problems = [
        f"driver {d.name}: {d.error or d.state}"
        for d in st.drivers
        if d.error or d.state != "ready"
    ]
    problems += [f"component {c.name}: {c.state}" for c in st.components if c.state == "failed"]
    return problems


def daemon_level(verbose: int = 0, quiet: int = 0, verbosity: str | None = None) -> str | None:
    """The log level `sugo start` gives the daemon and its driver hosts:
    ``--verbosity``, else DEBUG for ``-v``, WARNING for ``-q``; None leaves
    it to ``[logging] level`` of settings.toml."""
    if verbosity:
        return verbosity
    if verbose:
        return "DEBUG"
    if quiet:
        return "WARNING"
    return None


def start_daemon(
    appdir: Path,
    port: int,
    timeout: float = 30.0,
    verbose: int = 0,
    out: Output | None = None,
    level: str | None = None,
) -> Started:
    """Start the daemon of ``appdir`` on ``port`` in the background and return
    once it reports every driver and component up. CliError says what failed."""
    sfile = settings_path(appdir)
    if not sfile.exists():
        raise CliError(f"no settings file {sfile}; run 'sugo init' first")
    # The daemon validates the files (a bad one is still one clear line, see
    # _daemon_error): validating them here too would cost ~0.2 s before it starts.
    logdir, bind = _logdir_and_bind(sfile)
    _check_port_unused(port, bind, appdir)

    logdir.mkdir(parents=True, exist_ok=True)
    outfile, logfile = daemon_output(logdir, port), daemon_log(logdir, port)
    log_start = logfile.stat().st_size if logfile.exists() else 0
    # The daemon writes a line on this pipe once every driver host is up or
    # has failed; its end closes when it exits. Nothing to poll meanwhile.
    # Where a child cannot inherit a pipe (Windows), the loop below just polls.
    ready_r, ready_w = os.pipe() if can_pass_fds() else (None, None)
    cmd = [sys.executable, "-m", "sugo.daemon", "--appdir", str(appdir), "--port", str(port)]
    if ready_w is not None:
        cmd += ["--ready-fd", str(ready_w)]
    level = level or daemon_level(verbose)
    if level:
        cmd += ["--verbosity", level]
    t0 = time.monotonic()
    try:
        try:
            with outfile.open("wb") as sink:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    **detached(),  # survives the shell; not hit by its Ctrl-C
                    cwd=appdir,
                    pass_fds=() if ready_w is None else (ready_w,),
                )
        finally:
            if ready_w is not None:
                os.close(ready_w)  # the daemon holds the only write end now
        _spawned[proc.pid] = proc

        def died(reason: str) -> CliError:
            out_tail = _tail(outfile)
            log_tail = _tail(logfile, log_start)
            if out is not None and not out.json_mode:
                for name, tail in ((outfile, out_tail), (logfile, log_tail)):
                    if tail:
                        out.note(f"--- last lines of {name}:")
                        for line in tail:
                            out.note(f"    {line}")
            return CliError(reason, out=out_tail, log=log_tail)

        from sugo.client import SugoClient  # while the daemon starts, not after

        deadline = t0 + timeout
        # Until the daemon says it is ready (or exits), there is nothing to ask it.
        if ready_r is not None:
            _readable(ready_r, deadline - time.monotonic())
        last: api.StatusInfo | None = None
        with SugoClient(port, appdir, timeout=1.0, host=connect_host(bind)) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    _spawned.pop(proc.pid, None)
                    said = _daemon_error(outfile)
                    if said is not None:
                        raise CliError(said)  # a bad settings or devices file: one line
                    raise died(f"the daemon exited with code {code} while starting (see {logfile})")
                try:
                    st = client.status()
                except (RequestTimeout, RequestFailed):
                    pass  # not listening or not serving yet (or exiting)
                else:
                    last = st
                    if st.pid != proc.pid:
                        raise CliError(f"another daemon (pid {st.pid}) answers on port {port}")
                    if st.ready:
                        break
                    failed = [d for d in st.drivers if d.state == "failed"]
                    if failed:
                        raise died(
                            f"daemon on port {port} (pid {proc.pid}) is running, but "
                            + "; ".join(f"driver {d.name} failed: {d.error}" for d in failed)
                        )
                if time.monotonic() >= deadline:
                    waiting = _waiting_for(last)
                    raise died(
                        f"daemon on port {port} (pid {proc.pid}) not up after {timeout:g} s"
                        f"{waiting}; it is still running: see 'sugo status' or 'sugo stop'"
                    )
                time.sleep(POLL)
    finally:
        if ready_r is not None:
            os.close(ready_r)
    seconds = time.monotonic() - t0
    problems = _not_up(last)
    if problems:
        raise CliError(
            f"daemon up on port {port} (pid {proc.pid}), but not all of it: " + "; ".join(problems),
            port=port,
            pid=proc.pid,
        )
    return Started(port=port, pid=proc.pid, seconds=seconds, status=last, logfile=logfile)


def _readable(fd: int, seconds: float) -> None:
    """Wait up to ``seconds`` for ``fd`` to have data or be closed."""
    ready, _, _ = select.select([fd], [], [], max(0.0, seconds))
    if ready:
        os.read(fd, 64)


def _logdir_and_bind(sfile: Path) -> tuple[Path, str]:
    """The log folder and the bind address of a settings file.

    Read without validating the file (the daemon does that); when one is
    missing or malformed, the file is validated here, so that the error is the
    validator's one line.
    """
    from sugo.daemon.prestart import quick_settings

    quick = quick_settings(sfile)
    if quick is not None:
        return quick.logdir, quick.bind
    from sugo.config import load_settings

    settings = load_settings(sfile)
    return settings.logdir, settings.daemon.bind


def _daemon_error(outfile: Path) -> str | None:
    """What is wrong with the files, as the daemon said before it exited
    (``sugo daemon: <file>: <problem>`` in its output), or None. A daemon
    that could not start for another reason (``sugo daemon: cannot start:``)
    is reported with the tails of its output and log instead."""
    for line in reversed(_tail(outfile)):
        if line.startswith(DAEMON_SAYS):
            said = line.removeprefix(DAEMON_SAYS).strip()
            return None if not said or said.startswith("cannot start") else said
    return None


def _waiting_for(st: "api.StatusInfo | None") -> str:
    if st is None:
        return " (it never answered)"
    pending = [f"driver {d.name} ({d.state})" for d in st.drivers if d.state != "ready"]
    pending += [f"component {c.name}" for c in st.components if c.state == "registering"]
    return f" (waiting for {', '.join(pending)})" if pending else ""


def stop_daemon(client: "SugoClient", force: bool = False, timeout: float = 30.0) -> dict[str, Any]:
    """Ask the daemon to stop, then wait until its process is gone and its
    port free. Returns the daemon's reply plus ``seconds``."""
    from sugo.protocol.wire import to_builtins

    t0 = time.monotonic()
    reply = client.stop(force=force, timeout=timeout)
    pid = reply.pid
    deadline = t0 + timeout
    while not (_gone(pid) and port_free(client.port, client.host)):
        if time.monotonic() >= deadline:
            raise CliError(
                f"the daemon (pid {pid}) accepted to stop but still runs after {timeout:g} s"
            )
        time.sleep(POLL)
    return {**to_builtins(reply), "port": client.port, "seconds": time.monotonic() - t0}


# -- commands ---------------------------------------------------------------------


def cmd_start(ctx: Context) -> int:
    level = daemon_level(ctx.verbose, int(ctx.args.quiet), ctx.args.verbosity)
    started = start_daemon(ctx.appdir, ctx.port, timeout=ctx.args.timeout, out=ctx.out, level=level)
    st = started.status
    if ctx.out.json_mode:
        ctx.out.json(
            {
                "port": started.port,
                "pid": started.pid,
                "seconds": round(started.seconds, 3),
                "drivers": len(st.drivers),
                "components": len(st.components),
                "pipelines": len(st.pipelines),
                "log": str(started.logfile),
            }
        )
        return OK
    ctx.out.line(
        f"sugo: daemon up on port {started.port} (pid {started.pid}): "
        f"{_count(len(st.drivers), 'driver')}, {_count(len(st.components), 'component')}, "
        f"{_count(len(st.pipelines), 'pipeline')} in {started.seconds:.2f} s"
    )
    return OK


def cmd_stop(ctx: Context) -> int:
    done = stop_daemon(ctx.client(), force=ctx.args.force, timeout=ctx.args.timeout)
    if ctx.out.json_mode:
        ctx.out.json({**done, "seconds": round(done["seconds"], 3)})
        return OK
    cancelled = done.get("cancelled") or []
    extra = f"; cancelled jobs {', '.join(map(str, cancelled))}" if cancelled else ""
    ctx.out.line(
        f"sugo: daemon on port {done['port']} (pid {done['pid']}) stopped "
        f"in {done['seconds']:.2f} s{extra}"
    )
    return OK


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"

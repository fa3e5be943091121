"""Linux network namespaces joined to the test's own namespace by veth pairs
(`ip netns`, as root): each agent gets its own PC, address and link.

``Lab.make()`` returns None (with the reason) where namespaces cannot be made:
not Linux, not root, no `ip`, or the kernel refuses.
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=20)


@dataclass
class Pc:
    ns: str
    outer: str  # veth end in the test's namespace (the daemon's side)
    inner: str
    outer_ip: str  # the daemon's address as this PC sees it
    inner_ip: str

    def link(self, up: bool) -> None:
        done = _ip("link", "set", self.outer, "up" if up else "down")
        assert done.returncode == 0, done.stderr


@dataclass
class Lab:
    pcs: list[Pc] = field(default_factory=list)

    @staticmethod
    def unavailable() -> str | None:
        if not sys.platform.startswith("linux"):
            return f"network namespaces are Linux-only (this is {sys.platform})"
        if os.geteuid() != 0:
            return f"`ip netns add` needs root (the tests run as uid {os.geteuid()})"
        if shutil.which("ip") is None:
            return "no `ip` command (iproute2)"
        return None

    @classmethod
    def make(cls, count: int) -> "tuple[Lab | None, str | None]":
        why = cls.unavailable()
        if why is not None:
            return None, why
        lab = cls()
        tag = f"{os.getpid() % 10000:04d}"
        subnet = 16 + os.getpid() % 200  # 10.<subnet>.<i>.0/24: apart from parallel runs
        try:
            for i in range(1, count + 1):
                pc = Pc(
                    ns=f"sugo{tag}a{i}", outer=f"sg{tag}o{i}", inner=f"sg{tag}i{i}",
                    outer_ip=f"10.{subnet}.{i}.1", inner_ip=f"10.{subnet}.{i}.2",
                )  # fmt: skip
                steps = [
                    ("netns", "add", pc.ns),
                    ("link", "add", pc.outer, "type", "veth", "peer", "name", pc.inner),
                    ("link", "set", pc.inner, "netns", pc.ns),
                    ("addr", "add", f"{pc.outer_ip}/24", "dev", pc.outer),
                    ("link", "set", pc.outer, "up"),
                    ("-n", pc.ns, "addr", "add", f"{pc.inner_ip}/24", "dev", pc.inner),
                    ("-n", pc.ns, "link", "set", pc.inner, "up"),
                    ("-n", pc.ns, "link", "set", "lo", "up"),
                ]
                lab.pcs.append(pc)
                for step in steps:
                    done = _ip(*step)
                    if done.returncode != 0:
                        lab.close()
                        return None, f"`ip {' '.join(step)}` failed: {done.stderr.strip()}"
        except (OSError, subprocess.SubprocessError) as e:
            lab.close()
            return None, f"cannot run `ip`: {e}"
        return lab, None

    def close(self) -> None:
        for pc in self.pcs:
            _ip("link", "del", pc.outer)  # also removes its peer
            _ip("netns", "del", pc.ns)
        self.pcs.clear()


class Capture:
    """Every frame on one interface (an AF_PACKET socket: a packet capture
    without tcpdump), until ``stop``."""

    ETH_P_ALL = 0x0003

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(self.ETH_P_ALL))
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.2)
        self.frames: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.frames.append(self.sock.recv(65536))
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        return b"".join(self.frames)

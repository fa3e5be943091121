"""TCP endpoints as `[network] listen`, `sugo --connect` and `sugo agent --daemon`
take them, and where a process of this machine reaches a server bound to an
address (`[daemon] bind`): the one rule for the daemon, its driver hosts, the
processes it starts, the CLI and the web server.

Import-light (no zmq): the daemon uses it before its driver hosts start.
"""

import ipaddress


def split_endpoint(value: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` → (HOST, PORT); ValueError naming what is wrong.
    HOST is an IP address or a name ([v6] in brackets)."""
    text = value.strip()
    if not text.startswith("tcp://"):
        raise ValueError(f"{value!r} is not a tcp://ADDRESS:PORT endpoint")
    host, sep, port_text = text[len("tcp://") :].rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{value!r} is not a tcp://ADDRESS:PORT endpoint")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: port {port} is not between 1 and 65535")
    return host.strip("[]"), port


def check_endpoint(value: str) -> str:
    """A listen endpoint: tcp:// with an IP address (or * for every address)."""
    host, _ = split_endpoint(value)
    if host != "*":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host!r} is not an IP address (or *)") from None
    return value.strip()


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port); ValueError if malformed."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"listen {text!r}: {port_text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"listen {text!r}: port {port} is not between 1 and 65535")
    return host, port


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Only 127.0.0.1 and ::1 count: 127.0.0.2, "localhost" and 0.0.0.0 do not."""
    try:
        return str(ipaddress.ip_address(host)) in LOOPBACK
    except ValueError:
        return False


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


#: Where a process of this machine reaches a server bound to every address.
WILDCARD_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def connect_host(bind: str) -> str:
    """Where a process of this machine reaches a server bound to ``bind``:
    loopback (of the same family) for every address (``0.0.0.0``, ``::``, or
    none given), else that address itself (``127.0.0.2``, ``::1``, a LAN IP)."""
    bind = bind.strip().strip("[]")
    if bind in ("", "*"):
        return "127.0.0.1"
    try:
        bind = str(ipaddress.ip_address(bind))  # "0:0::0" is "::"
    except ValueError:
        return bind  # a host name: the resolver decides
    return WILDCARD_LOOPBACK.get(bind, bind)


def endpoint(host: str, port: int) -> str:
    """``tcp://HOST:PORT``, an IPv6 address in brackets."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def local_endpoint(bind: str, port: int) -> str:
    """The endpoint a process of this machine connects to, to reach the server
    bound to ``bind`` on ``port`` (the daemon, one of its driver hosts)."""
    return endpoint(connect_host(bind), port)


def is_ipv6(address: str) -> bool:
    """True when an address or ``tcp://`` endpoint is IPv6: its zmq socket
    needs the IPV6 option (off by default: an IPv6 bind or connect then fails
    with "No such device")."""
    text = address.split("#", 1)[0].removeprefix("tcp://")
    return text.startswith("[") or text.count(":") > 1

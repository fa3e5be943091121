"""TCP endpoints as `[network] listen`, `sugo --connect` and `sugo agent --daemon` take them."""

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


def is_loopback(host: str) -> bool:
    """Only 127.0.0.1 and ::1 count: 127.0.0.2, "localhost" and 0.0.0.0 do not."""
    try:
        return str(ipaddress.ip_address(host)) in LOOPBACK
    except ValueError:
        return False


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"

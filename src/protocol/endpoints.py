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

"""A TCP relay that records every byte between clients and a server: the
tests look for plaintext on the wire without tcpdump."""

import contextlib
import socket
import threading


class TcpTap:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.listener = socket.create_server((host, 0))
        self.port = int(self.listener.getsockname()[1])
        self.endpoint = f"tcp://{host}:{self.port}"
        self._seen: list[bytes] = []
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def seen(self) -> bytes:
        with self._lock:
            return b"".join(self._seen)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            with self._lock:
                self._seen.append(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()

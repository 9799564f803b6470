"""Webhook receivers on loopback for tests: one that answers (and keeps what it got), and a tarpit that never finishes answering."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Receiver:
    """A loopback HTTP receiver answering each POST with the next status of `statuses` (the last one repeats), keeping what it got."""

    def __init__(self, statuses: tuple[int, ...] = (204,)) -> None:
        self.got: list[tuple[dict, bytes]] = []
        self._arrived = threading.Condition()
        got, arrived, answers = self.got, self._arrived, list(statuses)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                with arrived:
                    got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                    arrived.notify_all()
                self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?team=ml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def received(self) -> list[dict]:
        """The JSON bodies received, in order."""
        return [json.loads(body) for _, body in self.got]

    def wait(self, count: int = 1, timeout: float = 30) -> list[dict]:
        """The JSON bodies received, once there are at least `count` of them (raises TimeoutError after `timeout` seconds)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.got) >= count, timeout):
                raise TimeoutError(f"{len(self.got)} of {count} webhook deliveries arrived in {timeout} s")
        return self.received

    def close(self) -> None:
        self.server.shutdown()


class Tarpit:
    """Accepts connections and drips an answer one byte every 0.2 s, forever: only a deadline for the whole call ends it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            while not self.closed.wait(0.2):
                conn.sendall(b"X")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.closed.set()
        self.sock.close()

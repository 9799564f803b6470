"""A real S3-compatible server (moto's server mode) on loopback, for tests and benchmarks.

moto checks a conditional PUT's `If-None-Match: *` and then stores the object as two steps on a
threaded server, so two writers racing for one name can both be told they created it; AWS S3
decides such a PUT atomically, and the tuning database's commit log relies on that. Run as a
module, this file serves moto's application with its mutating requests taken one at a time
(reads stay concurrent), which makes the check and the store one step as on S3.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from typing_extensions import Self

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MUTATING = frozenset({"PUT", "POST", "DELETE"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """Starts `moto.server` on 127.0.0.1 and points this process's AWS settings at it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self._saved: dict[str, str | None] = {}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.s3_server", "--port", str(self.port)],
            cwd=_ROOT,
            env={**os.environ, "MOTO_PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)
        for k, v in self.env.items():
            self._saved[k] = os.environ.get(k)
            os.environ[k] = v
        return self

    def new_bucket(self) -> str:
        """Create an empty bucket; returns its name."""
        import s3fs

        name = f"farm-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
        return name

    def __exit__(self, *exc) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def serialize_writes(app: Callable) -> Callable:
    """A WSGI application that runs `app`'s PUT, POST and DELETE requests one at a time, response included."""
    lock = threading.Lock()

    def serialized(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in _MUTATING:
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serialized


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    run_simple("127.0.0.1", args.port, serialize_writes(DomainDispatcherApplication(create_backend_app)), threaded=True)


if __name__ == "__main__":
    main()

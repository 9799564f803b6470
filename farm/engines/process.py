"""A fresh interpreter of its own for timing: it imports only what the calls it is sent need.

TVM's popen worker imports TVM before it reads its first call (2.7 s of CPU here), so each
of ONNX Runtime's five timing configurations paid for TVM it never used, and ran in a
process unlike the application it stands for, which loads ONNX Runtime alone. This worker
starts with numpy and imports the module of each function it is sent (an ONNX Runtime
configuration is ready in 0.25 s, against 2.3 s in TVM's worker: `scripts/bench_engine_timing.py`). The environment it starts with is the caller's plus
`env`: what an engine must read before its first call (`TVM_NUM_THREADS`) is there.

Calls and results travel as cloudpickle frames over two pipes of its own. Failures come
back as values turned into exceptions on the caller's side: the call's own exception as
a `WorkerError` with the worker's traceback; a call that outlives its timeout kills the
process (`TimeoutError`); a process that dies is a `ChildProcessError`.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

import cloudpickle

_LENGTH = struct.Struct("<Q")


class WorkerError(RuntimeError):
    """A call raised in the worker; the message is the worker's traceback."""


class WorkerProcess:
    """One fresh interpreter; `send` a call, then `recv` its result (one call at a time); `kill` when done."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        call_read, call_write = os.pipe()
        result_read, result_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(call_read), str(result_write)],
            pass_fds=(call_read, result_write),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        os.close(call_read)
        os.close(result_write)
        self._calls, self._results = call_write, result_read
        self._deadline: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, fn: Callable, args: tuple = (), timeout: float | None = None) -> None:
        """Start `fn(*args)` in the worker; `recv` waits for it at most `timeout` seconds from now."""
        data = cloudpickle.dumps((fn, args))
        self._deadline = None if timeout is None else time.monotonic() + timeout
        frame = memoryview(_LENGTH.pack(len(data)) + data)
        try:
            while frame:
                frame = frame[os.write(self._calls, frame) :]
        except BrokenPipeError:
            raise ChildProcessError("the worker process has exited") from None

    def recv(self):
        """The result of the call sent last; its exception as a `WorkerError`."""
        ok, value = cloudpickle.loads(self._read(_LENGTH.unpack(self._read(_LENGTH.size))[0]))
        if not ok:
            raise WorkerError(value)
        return value

    def kill(self) -> None:
        """Stop the process (at once) and close its pipes; again, nothing."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for fd in (self._calls, self._results):
            if fd >= 0:
                os.close(fd)
        self._calls = self._results = -1

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            wait = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
            if not select.select([self._results], [], [], wait)[0]:
                self.process.kill()
                raise TimeoutError("the call did not finish in time (the worker was killed)")
            chunk = os.read(self._results, min(left, 1 << 20))
            if not chunk:
                raise ChildProcessError(f"the worker process died (exit code {self.process.wait()})")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _serve(calls: int, results: int) -> None:
    with os.fdopen(calls, "rb") as reader, os.fdopen(results, "wb") as writer:
        while header := reader.read(_LENGTH.size):
            fn, args = cloudpickle.loads(reader.read(_LENGTH.unpack(header)[0]))
            try:
                reply = (True, fn(*args))
            except Exception:  # noqa: BLE001 - the caller gets every failure of the call, as a value
                reply = (False, traceback.format_exc())
            data = cloudpickle.dumps(reply)
            writer.write(_LENGTH.pack(len(data)) + data)
            writer.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))

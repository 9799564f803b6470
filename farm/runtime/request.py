"""Inference requests: `infer()` queues an inference on the model's worker thread and returns at once.

A model runs its requests one at a time on a single worker thread of its own (the TVM
VM is not re-entrant), in the order `infer()` was called. Inputs are checked and copied
when `infer()` is called, so the caller's arrays are free again as soon as it returns.

`wait()` is Python-style: it returns True once the inference has finished and False when
the timeout passed first. After a failed inference it raises the request's `InferError`
(and again on every call, until the next `infer()`). A request cancelled while still
queued is finished too: `wait()` returns True without raising, `status` is CANCELLED,
and `outputs` raises `RequestError`. A running inference cannot be interrupted.

The callback is called once per inference, with the final status and the error (or
None): on the worker thread when the inference ran, in the cancelling thread when it was
cancelled. It is called before `wait()` returns, so a waiter sees its effects.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from .errors import InferError, InvalidArgumentError, RequestError, RuntimeApiError
from .tensors import ordered_arrays

if TYPE_CHECKING:
    from .loaded import LoadedModel
    from .model import Model

log = logging.getLogger(__name__)


class InferStatus(enum.Enum):
    """READY: never started, or finished well; RUNNING: queued or running; FAULT: failed; CANCELLED: cancelled while queued."""

    READY = "ready"
    RUNNING = "running"
    FAULT = "fault"
    CANCELLED = "cancelled"


Callback = Callable[[InferStatus, "RuntimeApiError | None"], None]


class InferRequest:
    """One inference at a time of a model, run asynchronously; reusable once finished."""

    def __init__(self, model: Model | LoadedModel) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._status = InferStatus.READY
        self._error: RuntimeApiError | None = None
        self._outputs: dict[str, np.ndarray] | None = None
        self._future: Future | None = None
        self._done = threading.Event()
        self._done.set()
        self._callback: Callback | None = None

    @property
    def status(self) -> InferStatus:
        return self._status

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """The outputs of the last inference by name (the preallocated arrays, when given)."""
        with self._lock:
            status, outputs, error = self._status, self._outputs, self._error
        if outputs is not None:
            return dict(outputs)
        reasons = {
            InferStatus.READY: "has not run",
            InferStatus.RUNNING: "is still running: wait() for it",
            InferStatus.FAULT: f"failed: {error}",
            InferStatus.CANCELLED: "was cancelled",
        }
        raise RequestError(f"no outputs: the request of model {self._model.name!r} {reasons[status]}")

    def set_callback(self, callback: Callback | None) -> None:
        """Call `callback(status, error_or_None)` once when each inference finishes (None: no callback)."""
        if callback is not None and not callable(callback):
            raise InvalidArgumentError(f"the callback must be callable, got {type(callback).__name__}")
        self._callback = callback

    def infer(self, inputs: list | tuple | dict, outputs: list | tuple | dict | None = None) -> None:
        """Queue an inference of `inputs` (a list in input order, or a dict by name, of numpy arrays) and return.

        `outputs`, optional preallocated arrays (list or dict) of the outputs' exact shapes and
        dtypes, receive the results. Every array is checked here: the errors are raised now.
        """
        self._refuse_if_running()
        args = self._model._device_tensors(ordered_arrays("input", self._model.inputs, inputs))
        targets = None if outputs is None else ordered_arrays("output", self._model.outputs, outputs, writable=True)
        with self._lock:
            self._refuse_if_running()
            done = threading.Event()
            future = self._model._submit(self._execute, args, targets, done)
            self._status, self._error, self._outputs = InferStatus.RUNNING, None, None
            self._future, self._done = future, done
        future.add_done_callback(lambda f: self._finish_if_cancelled(f, done))

    def wait(self, timeout_us: float | None = 0) -> bool:
        """True once the inference finished (or was cancelled), False if `timeout_us` microseconds passed first (0 or None: no limit).

        Raises the request's `InferError` when the inference failed.
        """
        if timeout_us is not None and (
            isinstance(timeout_us, bool) or not isinstance(timeout_us, (int, float)) or timeout_us < 0
        ):
            raise InvalidArgumentError(f"timeout_us must be a number of microseconds >= 0 or None, got {timeout_us!r}")
        with self._lock:
            done, status = self._done, self._status
        if not done.is_set():
            if self._model._on_worker():
                if status is InferStatus.RUNNING:
                    raise RequestError(
                        "wait() from a callback for a request still queued would never return: "
                        "the model's worker thread runs its requests one at a time"
                    )
            elif not done.wait(timeout_us / 1e6 if timeout_us else None):
                return False
        with self._lock:
            if self._status is InferStatus.FAULT:
                raise self._error.with_traceback(None)
        return True

    def cancel(self) -> bool:
        """Cancel the inference if it is still queued (True); False when it is running or finished."""
        with self._lock:
            future = self._future if self._status is InferStatus.RUNNING else None
        return future is not None and future.cancel()

    def _refuse_if_running(self) -> None:
        if self._status is InferStatus.RUNNING:
            raise RequestError(
                f"the request of model {self._model.name!r} is still running: wait() for it before infer()"
            )

    def _finish_if_cancelled(self, future: Future, done: threading.Event) -> None:
        """A done future's callback: a cancelled one (by `cancel()` or the model's `close()`) never ran `_execute`."""
        if future.cancelled():
            self._finish(done, InferStatus.CANCELLED, None, None)

    def _execute(self, args: list, targets: list[np.ndarray] | None, done: threading.Event) -> None:
        """On the worker thread: run the inference, then finish the request."""
        try:
            outputs = self._model._infer(args, targets)
        except InferError as error:  # whatever fails, the request is a FAULT carrying it
            self._finish(done, InferStatus.FAULT, error, None)
        else:
            self._finish(done, InferStatus.READY, None, outputs)

    def _finish(
        self, done: threading.Event, status: InferStatus, error: RuntimeApiError | None, outputs: dict | None
    ) -> None:
        with self._lock:
            self._status, self._error, self._outputs = status, error, outputs
            callback = self._callback
        if callback is not None:
            try:
                callback(status, error)
            except Exception:
                log.exception("the callback of a request of model %r raised", self._model.name)
        done.set()

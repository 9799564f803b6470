"""What every loaded model shares, whatever its engine: one worker thread that runs its requests in order, and their API.

A loaded model (`farm.runtime.model.Model` on TVM, `ort_model.OnnxRuntimeModel`,
`openvino_model.OpenVinoModel`, `hybrid_model.HybridModel`) owns one worker thread;
asynchronous requests (`create_request`) and profiling are queued on it, in order, and
one model's inferences never overlap (each holds the model's execution lock). A
synchronous `run` on an idle model of an engine whose calls may come from any thread
(`_any_thread`) runs on the caller's thread instead: handing an inference to another
thread and waking the caller again costs tens to hundreds of microseconds, a large part of
a small model's time, and the farm times engines through `run`. An engine prepares a
thread it has not run on yet in `_enter_thread` (TVM sizes that thread's pool). An engine supplies one
inference (`_execute`), and where it differs from the defaults here, how inputs become
its tensors (`_device_tensors`: numpy arrays) and a profile (`_profile`: whole-model
timings).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .container import ModelView
from .errors import InferError, InvalidArgumentError, ModelError, RequestError
from .local_info import DeviceInfo
from .profiling import ProfileResult, sample_inputs, time_model
from .request import InferRequest
from .tensors import ordered_arrays


class LoadedModel(ModelView):
    """A model loaded on one device: its tensors, requests to run it, and its profile."""

    device: DeviceInfo
    threads: int
    _executor: ThreadPoolExecutor
    _worker: int
    _any_thread = True  # whether an inference may run on the caller's thread (not TVM's: its pool is its worker's)

    def _start_executor(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"farm-runtime-{self._container.name}")
        self._execution = threading.Lock()  # held by every inference: one model's never overlap
        self._queued = 0  # submitted to the worker and not finished
        self._queued_lock = threading.Lock()
        self._closed = False

    @property
    def folder(self) -> str:
        return self._container.folder

    def create_request(self) -> InferRequest:
        return InferRequest(self)

    def run(self, inputs: list | tuple | dict, outputs: list | tuple | dict | None = None) -> dict[str, np.ndarray]:
        """One inference, waited for: the outputs by name (on the caller's thread when the model is idle and its engine
        allows it, else queued behind the model's requests)."""
        if not (self._any_thread and self._queued == 0):
            request = self.create_request()
            request.infer(inputs, outputs)
            request.wait()
            return request.outputs
        if self._closed:
            raise RequestError(f"model {self.name!r} is closed")
        arrays = ordered_arrays("input", self._container.inputs, inputs)
        targets = None if outputs is None else ordered_arrays("output", self._container.outputs, outputs, writable=True)
        with self._execution:
            self._enter_thread()
            return self._infer(self._call_tensors(arrays), targets)

    def engine_call(self, inputs: list | tuple | dict) -> Callable[[], list[np.ndarray]]:
        """The engine's own call on `inputs`, prepared for the calling thread (its tensors made once): what `run` adds
        to it is the runtime's overhead, which the farm measures against it."""
        args = self._device_tensors(ordered_arrays("input", self._container.inputs, inputs))
        self._enter_thread()
        return lambda: self._execute(args)

    def _call_tensors(self, arrays: list[np.ndarray]) -> list:
        """The inputs as the engine takes them for a synchronous call, the execution lock held (by default as for a
        request)."""
        return self._device_tensors(arrays)

    def _enter_thread(self) -> None:
        """Before an inference on the caller's thread: whatever the engine needs of a thread it has not run on yet."""

    def _infer(self, args: list, targets: list[np.ndarray] | None) -> dict[str, np.ndarray]:
        """One inference of `args` (into `targets` when given), the model's execution lock held; `InferError` if it fails."""
        try:
            results = self._execute(args)
            if targets is not None:
                for target, result in zip(targets, results):
                    np.copyto(target, result)
                results = targets
        except Exception as e:
            raise InferError(
                f"inference of model {self.name!r} on {self.device.id} failed: {type(e).__name__}: {e}"
            ) from e
        return dict(zip(self.output_names, results))

    def profile(self, repeat: int = 10, warmup: int = 2, inputs: list | tuple | dict | None = None) -> ProfileResult:
        """Time `repeat` inferences (after `warmup`) of `inputs` (default: `sample_inputs`), whole and, where the engine
        can, per layer; blocks."""
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise InvalidArgumentError(f"repeat must be an integer >= 1, got {repeat!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise InvalidArgumentError(f"warmup must be an integer >= 0, got {warmup!r}")
        arrays = (
            sample_inputs(self._container.inputs)
            if inputs is None
            else ordered_arrays("input", self._container.inputs, inputs)
        )
        return self._submit(self._profile, self._device_tensors(arrays), repeat, warmup).result()

    def close(self) -> None:
        """Cancel the queued requests, wait for the running one, stop the worker thread."""
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, device={self.device.id!r}, threads={self.threads}, folder={self.folder!r})"

    def _submit(self, fn, *args) -> Future:
        """`fn(*args)` queued on the worker thread, run under the model's execution lock."""

        def job():
            try:
                with self._execution:
                    return fn(*args)
            finally:
                with self._queued_lock:
                    self._queued -= 1

        with self._queued_lock:
            self._queued += 1
        try:
            future = self._executor.submit(job)
        except RuntimeError as e:
            with self._queued_lock:
                self._queued -= 1
            raise RequestError(f"model {self.name!r} is closed") from e
        future.add_done_callback(lambda f: self._forget(f))
        return future

    def _forget(self, future: Future) -> None:
        """A cancelled job never ran, so never counted itself out."""
        if future.cancelled():
            with self._queued_lock:
                self._queued -= 1

    def _on_worker(self) -> bool:
        return threading.get_ident() == self._worker

    def _check_outputs(self, results: list[np.ndarray]) -> list[np.ndarray]:
        if len(results) != len(self._container.outputs):
            raise ModelError(
                f"the model returned {len(results)} outputs, its metadata lists {len(self._container.outputs)}"
            )
        return results

    def _device_tensors(self, arrays: list[np.ndarray]) -> list:
        """The inputs as the engine takes them (C-contiguous numpy arrays, unless it says otherwise)."""
        return [np.ascontiguousarray(a) for a in arrays]

    def _execute(self, args: list) -> list[np.ndarray]:
        raise NotImplementedError

    def _profile(self, args: list, repeat: int, warmup: int) -> ProfileResult:
        """On the worker thread: whole-model timings of the engine's call, then its per-layer timings where it has any."""
        call, sync = self._profiled_call(args)
        try:
            model_ns = time_model(call, sync, repeat, warmup)
            layer_ns = self._layer_timings(args, repeat)
        except Exception as e:
            raise InferError(
                f"profiling model {self.name!r} on {self.device.id} failed: {type(e).__name__}: {e}"
            ) from e
        return ProfileResult(self.name, model_ns, layer_ns, self.device.id, self.threads, warmup=warmup)

    def _profiled_call(self, args: list) -> tuple[Callable[[], object], Callable[[], None]]:
        """One inference as profiling times it, and what waits for the device to finish it."""
        return (lambda: self._execute(args)), (lambda: None)

    def _layer_timings(self, args: list, repeat: int) -> dict[str, list[int]]:
        """Nanoseconds of each layer over `repeat` inferences (none, unless the engine can time its layers)."""
        return {}

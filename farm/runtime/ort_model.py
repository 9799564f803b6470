"""A variant whose engine is ONNX Runtime: the original ONNX model in a session with the settings the farm chose.

The farm measures ONNX Runtime's settings per model and kind (`farm.engines`) and writes
the fastest as Olive-style inference settings (`execution_provider`, `provider_options`,
`session_options` with `extra_session_config`) in the variant's metadata; this module
turns them back into a session and runs it behind the same interface as a TVM `Model`
(requests, `run`, `profile`), so an application does not care which engine it got.
`onnxruntime` is imported only here and only when such a model loads: a wheel of a TVM
variant needs none.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .container import ModelFolder, ModelView
from .errors import InferError, InvalidArgumentError, ModelError, RequestError
from .local_info import DeviceInfo
from .profiling import ProfileResult, sample_inputs, time_model
from .request import InferRequest
from .tensors import ordered_arrays

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}  # device platform -> ONNX Runtime provider


def session_options(settings: dict, threads: int | None = None):
    """The `onnxruntime.SessionOptions` of Olive-style `settings` (the default session for `{}`), `threads` intra-op threads if given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    for key, value in (settings.get("session_options") or {}).items():
        if key == "extra_session_config":
            for entry, text in (value or {}).items():
                options.add_session_config_entry(entry, str(text))
        elif key == "execution_mode":
            options.execution_mode = ort.ExecutionMode(value)
        elif key == "graph_optimization_level":
            options.graph_optimization_level = ort.GraphOptimizationLevel(value)
        else:
            setattr(options, key, value)
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


def providers(settings: dict, platform: str) -> list[str]:
    """The execution providers of `settings`, else the one for a device of `platform`."""
    return list(settings.get("execution_provider") or [PROVIDERS[platform]])


class OnnxRuntimeModel(ModelView):
    """A model loaded in an ONNX Runtime session on one device: the same API as `farm.runtime.Model`."""

    def __init__(self, container: ModelFolder, onnx_path: str, settings: dict, device: DeviceInfo, threads: int | None) -> None:
        import onnxruntime as ort

        self._container = container
        self.device = device
        try:
            self._session = ort.InferenceSession(onnx_path, session_options(settings, threads), providers=providers(settings, device.platform))
        except Exception as e:
            raise ModelError(f"ONNX Runtime cannot load {onnx_path}: {type(e).__name__}: {e}") from e
        self._input_names = [i.name for i in self._session.get_inputs()]
        self.threads = threads or (settings.get("session_options") or {}).get("intra_op_num_threads") or device.cores
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"farm-runtime-{container.name}")
        self._worker = self._executor.submit(threading.get_ident).result()

    @property
    def folder(self) -> str:
        return self._container.folder

    def create_request(self) -> InferRequest:
        return InferRequest(self)

    def run(self, inputs: list | tuple | dict, outputs: list | tuple | dict | None = None) -> dict[str, np.ndarray]:
        """One inference, waited for: the outputs by name."""
        request = self.create_request()
        request.infer(inputs, outputs)
        request.wait()
        return request.outputs

    def profile(self, repeat: int = 10, warmup: int = 2, inputs: list | tuple | dict | None = None) -> ProfileResult:
        """Time `repeat` inferences (after `warmup`) of `inputs` (default: `sample_inputs`); ONNX Runtime gives no per-layer times here."""
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise InvalidArgumentError(f"repeat must be an integer >= 1, got {repeat!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise InvalidArgumentError(f"warmup must be an integer >= 0, got {warmup!r}")
        arrays = sample_inputs(self._container.inputs) if inputs is None else ordered_arrays("input", self._container.inputs, inputs)
        return self._submit(self._profile, arrays, repeat, warmup).result()

    def close(self) -> None:
        """Cancel the queued requests, wait for the running one, stop the worker thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OnnxRuntimeModel({self.name!r}, device={self.device.id!r}, threads={self.threads}, folder={self.folder!r})"

    def _submit(self, fn, *args) -> Future:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as e:
            raise RequestError(f"model {self.name!r} is closed") from e

    def _on_worker(self) -> bool:
        return threading.get_ident() == self._worker

    def _device_tensors(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return [np.ascontiguousarray(a) for a in arrays]

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """On the worker thread: one inference, its outputs as numpy arrays."""
        results = self._session.run(None, dict(zip(self._input_names, args)))
        if len(results) != len(self._container.outputs):
            raise ModelError(f"the model returned {len(results)} outputs, its metadata lists {len(self._container.outputs)}")
        return results

    def _profile(self, args: list[np.ndarray], repeat: int, warmup: int) -> ProfileResult:
        try:
            model_ns = time_model(lambda: self._execute(args), lambda: None, repeat, warmup)
        except Exception as e:
            raise InferError(f"profiling model {self.name!r} on {self.device.id} failed: {type(e).__name__}: {e}") from e
        return ProfileResult(self.name, model_ns, {}, self.device.id, self.threads, warmup=warmup)

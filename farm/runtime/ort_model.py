"""The `onnxruntime` engine in the runtime: the original ONNX model in a session with the settings the farm chose.

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

import numpy as np

from .container import ModelFolder
from .errors import ModelError
from .loaded import LoadedModel
from .local_info import DeviceInfo

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}  # device platform -> ONNX Runtime provider
SPINNING = "session.intra_op.allow_spinning"  # session config entry: whether the intra-op pool spins between runs

_shared_pool: list[
    int
] = []  # the intra-op threads of this process's shared ONNX Runtime pool, once `share_thread_pool` made it
_shared_pool_lock = threading.Lock()


def share_thread_pool(threads: int | None) -> int:
    """Make ONNX Runtime's thread pool one for the whole process, `threads` intra-op threads (None: ORT's default); its size.

    The first call decides (ONNX Runtime creates the pool once); every session made after it
    in this process must run on it (`session_options` sees to that), since ONNX Runtime
    refuses a session with a pool of its own in a process with a shared one. The hybrid
    engine needs it: light PP-OCRv4 SVTR cut into 2 ONNX Runtime sessions with pools of their
    own ran 25.3 ms against 11.9 ms whole (each pool spins while the other works), and on
    one shared pool 13.1 ms, 12 cuts 14.2 ms.
    """
    import onnxruntime as ort

    with _shared_pool_lock:
        if not _shared_pool:
            ort.set_global_thread_pool_sizes(threads or 0, 1)
            _shared_pool.append(threads or 0)
        return _shared_pool[0]


def session_options(settings: dict, threads: int | None = None):
    """The `onnxruntime.SessionOptions` of Olive-style `settings` (the default session for `{}`), `threads` intra-op threads if given
    (on the process's shared pool, once there is one, whatever the settings say of threads)."""
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
    if _shared_pool:
        options.use_per_session_threads = False
    return options


def session_threads(settings: dict) -> int | None:
    """The threads a session of `settings` computes with: inter-op threads in parallel mode, else intra-op (None: ORT's default)."""
    options = settings.get("session_options") or {}
    return (
        options.get("inter_op_num_threads")
        if options.get("execution_mode") == 1
        else options.get("intra_op_num_threads")
    )


def providers(settings: dict, platform: str) -> list[str]:
    """The execution providers of `settings`, else the one for a device of `platform`."""
    return list(settings.get("execution_provider") or [PROVIDERS[platform]])


class OnnxRuntimeModel(LoadedModel):
    """A model loaded in an ONNX Runtime session on one device: the same API as `farm.runtime.Model`."""

    def __init__(
        self, container: ModelFolder, onnx_path: str, settings: dict, device: DeviceInfo, threads: int | None
    ) -> None:
        import onnxruntime as ort

        self._container = container
        self.device = device
        try:
            self._session = ort.InferenceSession(
                onnx_path, session_options(settings, threads), providers=providers(settings, device.platform)
            )
        except Exception as e:
            raise ModelError(f"ONNX Runtime cannot load {onnx_path}: {type(e).__name__}: {e}") from e
        self._input_names = [i.name for i in self._session.get_inputs()]
        self.threads = threads or session_threads(settings) or device.cores
        self._start_executor()
        self._worker = self._executor.submit(threading.get_ident).result()

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """On the worker thread: one inference, its outputs as numpy arrays."""
        return self._check_outputs(self._session.run(None, dict(zip(self._input_names, args))))


def open_model(container: ModelFolder, device: DeviceInfo, threads: int | None, engine: str) -> OnnxRuntimeModel:
    """The folder's ONNX model in a session with the settings the farm measured fastest (`load_model`'s `onnxruntime`)."""
    settings = container.figures(engine).settings
    return OnnxRuntimeModel(container, container.engine_file(engine), settings, device, threads)

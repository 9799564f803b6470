"""Loading a model folder onto a device of this host (`load_model`) and running it (`Model`).

A model owns one worker thread that runs everything TVM does with it: inferences of its
requests, one at a time and in order (the Relax VM is not re-entrant), and profiling.

TVM's thread pool belongs to the thread that launches the parallel work, so the number
of threads is set on that worker before anything runs there. TVM caps a pool at the size
it was created with: `$TVM_NUM_THREADS`, else its own guess at the physical cores (half
the logical CPUs on x86, one thread on a two-vCPU virtual machine). So a CPU model runs
`threads` threads, by default `$TVM_NUM_THREADS` when set, else the physical cores this
process may use (`DeviceInfo.cores`, as the farm measured the variant with), and the
worker's pool is created with `TVM_NUM_THREADS` set to that number (the count the farm
measured fastest, when the folder records one). `model.threads` is the number TVM reports
using. A folder whose engine is ONNX Runtime loads as a `farm.runtime.ort_model.OnnxRuntimeModel`,
one whose engine is `hybrid` as a `farm.runtime.hybrid_model.HybridModel`.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import tvm
from tvm import relax

from .container import ENGINES, ModelFolder, ModelView, read_model_folder
from .errors import (
    ContainerError,
    DeviceError,
    InferError,
    InvalidArgumentError,
    ModelError,
    RequestError,
)
from .local_info import DeviceInfo, find_device, get_local_info, host_cpu_flags
from .ort_model import OnnxRuntimeModel
from .profiling import (
    ProfileResult,
    device_sync,
    sample_inputs,
    time_layers,
    time_model,
)
from .request import InferRequest
from .tensors import ordered_arrays

if TYPE_CHECKING:
    from .hybrid_model import HybridModel

NUM_THREADS_VAR = "TVM_NUM_THREADS"
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}  # platform.machine() spellings -> LLVM triple's

_environ_lock = threading.Lock()


def configure_thread_pool(threads: int | None) -> int:
    """On a thread before TVM ran anything there: its TVM thread pool sized `threads` (None: TVM's own choice); the threads TVM uses."""
    if threads is not None:
        with _environ_lock:
            saved = os.environ.get(NUM_THREADS_VAR)
            os.environ[NUM_THREADS_VAR] = str(threads)
            try:
                tvm.get_global_func("runtime.config_threadpool")(0, threads)
            finally:
                if saved is None:
                    del os.environ[NUM_THREADS_VAR]
                else:
                    os.environ[NUM_THREADS_VAR] = saved
    return int(tvm.get_global_func("runtime.NumThreads")())


def _start_worker(
    module: tvm.runtime.Module, device: tvm.runtime.Device, threads: int | None
) -> tuple[relax.VirtualMachine, int, int]:
    """On the model's worker thread, before TVM ran anything there: its thread pool, then the VM; (vm, threads, thread id)."""
    threads = configure_thread_pool(threads)
    try:
        vm = relax.VirtualMachine(module, device)
    except Exception as e:
        raise ModelError(f"the Relax VM does not start on this library: {type(e).__name__}: {e}") from e
    return vm, threads, threading.get_ident()


def numpy_outputs(value: object) -> list[np.ndarray]:
    """The VM's result (a tensor or nested tuples of them) as flat numpy arrays, in order."""
    if isinstance(value, tvm.runtime.Tensor):
        return [value.numpy()]
    return [array for item in value for array in numpy_outputs(item)]


class Model(ModelView):
    """A model loaded on one device through TVM's Relax VM: its tensors, requests to run it, and its profile."""

    def __init__(
        self, container: ModelFolder, module: tvm.runtime.Module, device: DeviceInfo, threads: int | None
    ) -> None:
        self._container = container
        self._module = module
        self.device = device
        self._tvm_device = device.tvm_device()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"farm-runtime-{container.name}")
        try:
            self._vm, self.threads, self._worker = self._executor.submit(
                _start_worker, module, self._tvm_device, threads
            ).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

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
        """Time `repeat` inferences (after `warmup`) of `inputs` (default: `sample_inputs`), whole and per layer; blocks."""
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
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Model({self.name!r}, device={self.device.id!r}, threads={self.threads}, folder={self.folder!r})"

    def _submit(self, fn, *args) -> Future:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as e:
            raise RequestError(f"model {self.name!r} is closed") from e

    def _on_worker(self) -> bool:
        return threading.get_ident() == self._worker

    def _device_tensors(self, arrays: list[np.ndarray]) -> list[tvm.runtime.Tensor]:
        return [tvm.runtime.tensor(a, self._tvm_device) for a in arrays]

    def _execute(self, args: list[tvm.runtime.Tensor]) -> list[np.ndarray]:
        """On the worker thread: one inference, its outputs as numpy arrays."""
        results = numpy_outputs(self._vm["main"](*args))
        if len(results) != len(self._container.outputs):
            raise ModelError(
                f"the model returned {len(results)} outputs, its metadata lists {len(self._container.outputs)}"
            )
        return results

    def _profile(self, args: list[tvm.runtime.Tensor], repeat: int, warmup: int) -> ProfileResult:
        """On the worker thread: the plain VM's timings, then a second, instrumented VM's per-layer timings."""
        sync = device_sync(self._tvm_device)
        try:
            main = self._vm["main"]
            model_ns = time_model(lambda: main(*args), sync, repeat, warmup)
            layer_ns = time_layers(relax.VirtualMachine(self._module, self._tvm_device), args, sync, repeat)
        except Exception as e:
            raise InferError(
                f"profiling model {self.name!r} on {self.device.id} failed: {type(e).__name__}: {e}"
            ) from e
        return ProfileResult(self.name, model_ns, layer_ns, self.device.id, self.threads, warmup=warmup)


def _choose_device(container: ModelFolder, available: list[DeviceInfo], devices: object) -> DeviceInfo:
    """The first device (of `devices`, else of this host) of the platform the model is built for."""
    if devices is None:
        candidates, where = available, "this host has"
    else:
        items = [devices] if isinstance(devices, (str, DeviceInfo)) else devices
        if not isinstance(items, (list, tuple)) or not items:
            raise InvalidArgumentError(
                f"devices must be a device id ('cpu:0', 'cuda:0'), a DeviceInfo or a non-empty list of them, got {devices!r}"
            )
        candidates = [find_device(d.id if isinstance(d, DeviceInfo) else d, available) for d in items]
        where = "the devices given are"
    for device in candidates:
        if device.platform == container.platform:
            return device
    raise DeviceError(
        f"model {container.name!r} runs on a {container.platform} device (TVM target {container.metadata['target']['kind']!r}); "
        f"{where}: {', '.join(d.id for d in candidates)}"
    )


def _check_cpu(container: ModelFolder, architecture: str) -> None:
    """`DeviceError` unless this CPU can execute the library: its architecture, and every CPU flag the code needs."""
    arch = str(container.metadata["target"].get("mtriple", "")).split("-", 1)[0]
    machine = ARCH_ALIASES.get(architecture.lower(), architecture.lower())
    if arch and machine and arch != machine:
        raise DeviceError(f"model {container.name!r} is built for {arch} CPUs, this host is {machine}")
    flags = host_cpu_flags()
    missing = sorted(set(container.cpu_flags) - flags) if flags is not None else []
    if missing:
        raise DeviceError(
            f"model {container.name!r} (kind {container.metadata.get('kind', '?')}) needs CPU features this host lacks: "
            f"{', '.join(missing)}; its code would die with SIGILL here: load the variant of this host's kind"
        )


def load_model(
    folder: str | os.PathLike,
    devices: str | DeviceInfo | list | None = None,
    threads: int | None = None,
    engine: str | None = None,
) -> Model | OnnxRuntimeModel | HybridModel:
    """The model of `folder` loaded on the first of `devices` (ids such as 'cpu:0') that can run it, else on this host's first.

    `engine`: `tvm`, `onnxruntime` or `hybrid`; default the one the farm chose for the folder
    (`metadata.json`'s `engine`), with the settings it measured fastest. `threads`: the
    number of TVM runtime threads (ONNX Runtime intra-op threads); default the count the
    farm chose, else `$TVM_NUM_THREADS` when set, else the CPU's physical cores.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidArgumentError(f"threads must be an integer >= 1 or None, got {threads!r}")
    if engine is not None and engine not in ENGINES:
        raise InvalidArgumentError(f"engine must be one of {', '.join(ENGINES)} or None, got {engine!r}")
    container = read_model_folder(folder)
    engine = engine or container.engine
    host = get_local_info()
    device = _choose_device(container, host.devices, devices)
    if engine == "onnxruntime":
        return OnnxRuntimeModel(
            container, container.onnx_model, container.engine_info(engine).get("settings") or {}, device, threads
        )
    if device.platform == "cpu":
        _check_cpu(container, host.architecture)
        threads = threads or container.engine_info(engine).get("threads")
        if threads is None and NUM_THREADS_VAR not in os.environ:
            threads = device.cores
    if engine == "hybrid":
        from .hybrid_model import HybridModel

        return HybridModel(container, container.hybrid_model, device, threads)
    try:
        module = tvm.runtime.load_module(container.library)
    except Exception as e:
        raise ContainerError(f"cannot load the library {container.library}: {type(e).__name__}: {e}") from e
    return Model(container, module, device, threads)

"""The `tvm` engine in the runtime: a variant's TVM library on a device through the Relax VM (`Model`, `open_model`).

A model owns one worker thread (`farm.runtime.loaded.LoadedModel`) that runs everything
TVM does with it: inferences of its requests, one at a time and in order (the Relax VM is
not re-entrant), and profiling, per layer too.

TVM's thread pool belongs to the thread that launches the parallel work, so the number
of threads is set on that worker before anything runs there. TVM caps a pool at the size
it was created with: `$TVM_NUM_THREADS`, else its own guess at the physical cores (half
the logical CPUs on x86). So a CPU model runs `threads` threads, by default the count the
farm measured fastest, else `$TVM_NUM_THREADS` when set, else the physical cores this
process may use (`DeviceInfo.cores`), and the worker's pool is created with
`TVM_NUM_THREADS` set to that number. `model.threads` is the number TVM reports using.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import tvm
from tvm import relax

from .container import ModelFolder
from .errors import ContainerError, ModelError
from .loaded import LoadedModel
from .loading import NUM_THREADS_VAR, compiled_threads
from .local_info import DeviceInfo
from .profiling import device_sync, time_layers

_environ_lock = threading.Lock()
DLPACK_CPU = 1  # DLPack's kDLCPU


def aligned_empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on a 64-byte boundary (what TVM shares through DLPack)."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def to_tvm(array: np.ndarray, device: tvm.runtime.Device) -> tvm.runtime.Tensor:
    """`array` as a TVM tensor on a CPU `device`, sharing its memory where TVM allows it (64-byte aligned, contiguous, writable:
    DLPack cannot say read-only, and arrays that come through Ray's object store are)."""
    flags = array.flags
    if (
        device.dlpack_device_type() == DLPACK_CPU
        and flags.c_contiguous
        and flags.writeable
        and array.ctypes.data % 64 == 0
    ):
        return tvm.runtime.from_dlpack(array)
    return tvm.runtime.tensor(np.ascontiguousarray(array), device)


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


def size_this_thread(sized: threading.local, threads: int) -> None:
    """TVM's pool belongs to the thread that launches parallel work: size this thread's to `threads`, once per thread
    (`sized` remembers, for one model)."""
    if getattr(sized, "threads", None) != threads:
        configure_thread_pool(threads)
        sized.threads = threads


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


class Model(LoadedModel):
    """A model loaded on one device through TVM's Relax VM: its tensors, requests to run it, and its profile."""

    def __init__(
        self, container: ModelFolder, module: tvm.runtime.Module, device: DeviceInfo, threads: int | None
    ) -> None:
        self._container = container
        self._module = module
        self.device = device
        self._tvm_device = device.tvm_device()
        self._start_executor()
        self._sized = threading.local()  # whether a thread's TVM pool has been sized for this model
        self._staging: tuple[list[np.ndarray], list[tvm.runtime.Tensor]] | None = None
        try:
            self._vm, self.threads, self._worker = self._executor.submit(
                _start_worker, module, self._tvm_device, threads
            ).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    def _enter_thread(self) -> None:
        size_this_thread(self._sized, self.threads)

    def _device_tensors(self, arrays: list[np.ndarray]) -> list[tvm.runtime.Tensor]:
        """Copies of `arrays` on the device (a queued request must not see the caller change its arrays)."""
        return [tvm.runtime.tensor(a, self._tvm_device) for a in arrays]

    def _call_tensors(self, arrays: list[np.ndarray]) -> list[tvm.runtime.Tensor]:
        """`arrays` for a synchronous call (the execution lock held): on a CPU, copied into the model's staging buffers,
        64-byte aligned numpy arrays TVM shares through DLPack, made once (a copy into them costs a tenth of a new
        tensor); elsewhere, new device tensors."""
        if self._tvm_device.dlpack_device_type() != DLPACK_CPU:
            return self._device_tensors(arrays)
        if self._staging is None:
            buffers = [aligned_empty(a.shape, a.dtype) for a in arrays]
            self._staging = (buffers, [tvm.runtime.from_dlpack(b) for b in buffers])
        buffers, tensors = self._staging
        for buffer, array in zip(buffers, arrays):
            np.copyto(buffer, array)
        return tensors

    def _execute(self, args: list[tvm.runtime.Tensor]) -> list[np.ndarray]:
        """On the worker thread: one inference, its outputs as numpy arrays."""
        return self._check_outputs(numpy_outputs(self._vm["main"](*args)))

    def _profiled_call(self, args: list[tvm.runtime.Tensor]) -> tuple:
        """The plain VM's call (outputs left on the device), and the device's sync."""
        main = self._vm["main"]
        return (lambda: main(*args)), device_sync(self._tvm_device)

    def _layer_timings(self, args: list[tvm.runtime.Tensor], repeat: int) -> dict[str, list[int]]:
        """Each kernel call's time, from a second, instrumented VM."""
        vm = relax.VirtualMachine(self._module, self._tvm_device)
        return time_layers(vm, args, device_sync(self._tvm_device), repeat)


def open_model(container: ModelFolder, device: DeviceInfo, threads: int | None, engine: str) -> Model:
    """The folder's TVM library loaded on `device` (`farm.runtime.loading.load_model` calls this for the `tvm` engine)."""
    threads = compiled_threads(container, engine, device, threads)
    library = container.engine_file(engine)
    try:
        module = tvm.runtime.load_module(library)
    except Exception as e:
        raise ContainerError(f"cannot load the library {library}: {type(e).__name__}: {e}") from e
    return Model(container, module, device, threads)

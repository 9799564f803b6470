"""A variant whose engine is `hybrid`: the model as a sequence of segments, each run by the engine that was faster for it.

Design: the farm cuts the ONNX model into kernels (`farm.engines.kernels`), times each on
the device in both engines, and merges consecutive kernels of the same engine into one
segment: a TVM segment is a Relax VM library compiled from that part of the ONNX graph
with the database's best schedules, an ONNX Runtime segment is that part as an ONNX model
in a session. Segments run in graph order; tensors pass between them as numpy arrays that
share memory with TVM's tensors through DLPack (an array TVM cannot take without a copy,
one not 64-byte aligned, is copied). A sequence of segments rather than one Relax module
calling ONNX Runtime through `R.call_dps_packed`: each segment stays an ordinary program of
its engine (tuned TVM code, or ONNX Runtime with its own graph fusions across the
segment), the crossing is one Python call (6-10 us), and the per-kernel timings that chose
the plan went through exactly this call path.

Everything lives in one file of the variant folder, `hybrid.zip`: `plan.json` (graph
inputs and outputs, the segments with their tensor names and files, and every kernel with
its two timings) and one file per segment. Both engines share the cores and get the same
thread count. TVM's pool never spins in a hybrid (`SPIN_COUNT_VAR` = 0): its idle workers
loop on `sched_yield` for 300,000 turns after each kernel, tens of milliseconds, beside
the ONNX Runtime segment that follows (a YOLOv8n hybrid with one TVM kernel among 64 ran
15.6 ms where its kernels added up to 10.7). TVM reads that count once per process, when
its first pool starts, so a hybrid model sets it for the process unless the process did.
ONNX Runtime's segments share one thread pool, made process-wide when the first hybrid
loads (`farm.runtime.ort_model.share_thread_pool`: sessions with pools of their own spin
against each other, and a cut then cost more than any kernel saves). `onnxruntime` is
imported only here, when such a model loads.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import zipfile

import numpy as np
import tvm
from tvm import relax

from .container import ModelFolder
from .errors import ContainerError, ModelError
from .loaded import LoadedModel
from .loading import compiled_threads
from .local_info import DeviceInfo
from .model import DLPACK_CPU, size_this_thread, to_tvm
from .ort_model import PROVIDERS, session_options, share_thread_pool

PLAN_FILE = "plan.json"
SPIN_COUNT_VAR = "TVM_THREAD_POOL_SPIN_COUNT"
NO_SPIN = {SPIN_COUNT_VAR: "0"}  # the environment a hybrid's process needs before TVM's first pool starts
ENGINE_SUFFIXES = {"tvm": ".so", "onnxruntime": ".onnx"}


def read_plan(archive: bytes) -> tuple[dict, dict[str, bytes]]:
    """The plan of a `hybrid.zip` and its segments' files by name; `ContainerError` for anything malformed."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            plan = json.loads(zf.read(PLAN_FILE))
            segments = plan["segments"]
            files = {}
            for segment in segments:
                name = segment["file"]
                if (
                    segment["engine"] not in ENGINE_SUFFIXES
                    or os.path.basename(name) != name
                    or not name.endswith(ENGINE_SUFFIXES[segment["engine"]])
                ):
                    raise ValueError(f"segment file {name!r} of engine {segment['engine']!r}")
                files[name] = zf.read(name)
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as e:
        raise ContainerError(f"not a hybrid plan archive: {type(e).__name__}: {e}") from e
    return plan, files


def write_plan(plan: dict, files: dict[str, bytes]) -> bytes:
    """A `hybrid.zip` holding `plan` and the segments' `files` (stored: libraries and weights barely compress)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(PLAN_FILE, json.dumps(plan, indent=2))
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _flat(value: object) -> list:
    return [value] if isinstance(value, tvm.runtime.Tensor) else [t for item in value for t in _flat(item)]


class _TvmSegment:
    def __init__(self, library: bytes, device: tvm.runtime.Device) -> None:
        with tempfile.TemporaryDirectory(prefix="farm-hybrid-") as folder:
            path = os.path.join(folder, "segment.so")
            with open(path, "wb") as f:
                f.write(library)
            self.vm = relax.VirtualMachine(tvm.runtime.load_module(path), device)
        self.main, self.device = self.vm["main"], device

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        outputs = _flat(self.main(*[to_tvm(a, self.device) for a in arrays]))
        if self.device.dlpack_device_type() == DLPACK_CPU:  # CPU: numpy shares TVM's buffers
            return [np.from_dlpack(t) for t in outputs]
        return [
            t.numpy() for t in outputs
        ]  # a GPU's outputs come to the host, where the next segment's engine takes them


class _OrtSegment:
    def __init__(self, model: bytes, inputs: list[str], outputs: list[str], platform: str) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(model, session_options({}), providers=[PROVIDERS[platform]])
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.outputs, {name: np.ascontiguousarray(a) for name, a in zip(self.inputs, arrays)})


class HybridPipeline:
    """The segments of a hybrid plan loaded on one device: `pipeline(arrays)` runs one inference, graph inputs in order."""

    def __init__(self, archive: bytes, device_type: str = "cpu", threads: int | None = None) -> None:
        self.plan, files = read_plan(archive)
        self.ort_threads = share_thread_pool(threads)
        device = tvm.runtime.device(device_type, 0)
        self.segments = []
        for segment in self.plan["segments"]:
            data = files[segment["file"]]
            if segment["engine"] == "tvm":
                run = _TvmSegment(data, device)
            else:
                run = _OrtSegment(data, segment["inputs"], segment["outputs"], device_type)
            self.segments.append((run, segment["inputs"], segment["outputs"]))

    def __call__(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        values = dict(zip(self.plan["inputs"], arrays))
        for run, inputs, outputs in self.segments:
            values.update(zip(outputs, run([values[name] for name in inputs])))
        return [values[name] for name in self.plan["outputs"]]


class HybridModel(LoadedModel):
    """A hybrid variant loaded on one device: the same API as `farm.runtime.Model`."""

    def __init__(self, container: ModelFolder, archive_path: str, device: DeviceInfo, threads: int | None) -> None:
        from .model import configure_thread_pool

        self._container = container
        self.device = device
        with open(archive_path, "rb") as f:
            archive = f.read()
        for key, value in NO_SPIN.items():
            os.environ.setdefault(key, value)
        self._start_executor()
        self._sized = threading.local()  # whether a thread's TVM pool has been sized for this model

        def start() -> tuple[HybridPipeline, int, int]:
            count = configure_thread_pool(threads)
            return HybridPipeline(archive, device.platform, count), count, threading.get_ident()

        try:
            self._pipeline, self.threads, self._worker = self._executor.submit(start).result()
        except ContainerError:
            self._executor.shutdown(wait=False)
            raise
        except Exception as e:
            self._executor.shutdown(wait=False)
            raise ModelError(f"the hybrid plan of {archive_path} does not load: {type(e).__name__}: {e}") from e

    def _enter_thread(self) -> None:
        size_this_thread(self._sized, self.threads)

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """One inference, its outputs as numpy arrays of their own."""
        return self._check_outputs([np.array(a) for a in self._pipeline(args)])


def open_model(container: ModelFolder, device: DeviceInfo, threads: int | None, engine: str) -> HybridModel:
    """The folder's hybrid plan loaded on `device` (`load_model`'s `hybrid`): TVM's code checked against this CPU first."""
    threads = compiled_threads(container, engine, device, threads)
    return HybridModel(container, container.engine_file(engine), device, threads)

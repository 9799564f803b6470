"""The `openvino` engine in the runtime: the variant's ONNX model compiled by OpenVINO with the settings the farm chose.

The variant keeps the portable ONNX model and the OpenVINO properties that measured
fastest (`metadata.json`'s `engines.openvino.settings`: threads, streams, the latency hint,
CPU pinning and the inference precision, always explicit: OpenVINO runs bf16 by default
on CPUs with AMX-BF16, so an exact variant says f32); the model is compiled for this CPU
when it loads (a compiled blob is not portable across CPUs and is never relied on).
Inferences run on one infer request, inputs shared with OpenVINO without a copy where
numpy allows it; `profile` times the layers through OpenVINO's own profiling on a second
compiled model with performance counters on. `openvino` is imported only here, when such
a model loads.
"""

from __future__ import annotations

import threading

import numpy as np

from .container import ModelFolder
from .errors import ModelError
from .loaded import LoadedModel
from .local_info import DeviceInfo

DEVICES = {"cpu": "CPU"}  # device platform -> OpenVINO device
THREADS = "INFERENCE_NUM_THREADS"
PERF_COUNT = "PERF_COUNT"


def compile_model(model: str | bytes, settings: dict, platform: str = "cpu", threads: int | None = None):
    """The ONNX model at `model` (a path, or its bytes) compiled by OpenVINO with `settings`' properties (`threads`
    overriding theirs)."""
    import openvino as ov

    core = ov.Core()
    properties = {**(settings.get("properties") or {}), **({THREADS: threads} if threads else {})}
    return core.compile_model(core.read_model(model), DEVICES[platform], properties)


def runner(compiled) -> tuple[object, callable]:
    """An infer request of `compiled` and the function that runs it on a list of arrays (the model's input order)."""
    request = compiled.create_infer_request()
    count = len(compiled.outputs)

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        request.infer(dict(enumerate(arrays)), share_inputs=True)
        return [request.get_output_tensor(i).data.copy() for i in range(count)]

    return request, run


class OpenVinoModel(LoadedModel):
    """A model compiled by OpenVINO on one device: the same API as `farm.runtime.Model`."""

    def __init__(self, container: ModelFolder, onnx_path: str, settings: dict, device: DeviceInfo, threads: int | None):
        self._container, self.device = container, device
        self._settings, self._onnx_path = settings, onnx_path
        try:
            self._compiled = compile_model(onnx_path, settings, device.platform, threads)
        except Exception as e:
            raise ModelError(f"OpenVINO cannot compile {onnx_path}: {type(e).__name__}: {e}") from e
        self.threads = int(self._compiled.get_property(THREADS)) or threads or device.cores
        self._request, self._run = runner(self._compiled)
        self._start_executor()
        self._worker = self._executor.submit(threading.get_ident).result()

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        """On the worker thread: one inference, its outputs as numpy arrays of their own."""
        return self._check_outputs(self._run(args))

    def _layer_timings(self, args: list[np.ndarray], repeat: int) -> dict[str, list[int]]:
        """Each executed layer's time from OpenVINO's performance counters, on a second compiled model with them on."""
        settings = {**self._settings, "properties": {**(self._settings.get("properties") or {}), PERF_COUNT: True}}
        request, run = runner(compile_model(self._onnx_path, settings, self.device.platform, self.threads))
        run(args)
        layers: dict[str, list[int]] = {}
        for _ in range(repeat):
            run(args)
            for info in request.profiling_info:
                if info.status.name == "EXECUTED":
                    layers.setdefault(info.node_name, []).append(int(info.real_time.total_seconds() * 1e9))
        return layers


def open_model(container: ModelFolder, device: DeviceInfo, threads: int | None, engine: str) -> OpenVinoModel:
    """The folder's ONNX model compiled by OpenVINO with the settings the farm measured fastest (`load_model`'s `openvino`)."""
    if device.platform not in DEVICES:
        raise ModelError(f"the openvino engine runs on {', '.join(DEVICES)} devices, not {device.platform}")
    settings = container.figures(engine).settings
    return OpenVinoModel(container, container.engine_file(engine), settings, device, threads)

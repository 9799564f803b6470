"""The `openvino` engine: the original ONNX model compiled by OpenVINO (Intel's inference toolkit, oneDNN inside) for CPUs.

A device vendor's library is often the fastest way to run a model on its hardware, so the
farm times it beside ONNX Runtime and its own TVM code. Its settings are measured per
model and kind like the others': the thread count (each power of two up to the node's
cores), one stream and the latency hint (one inference at a time, as the farm's users
call it), CPU pinning off, and on at the node's core count, where it can pay. The
inference precision is always explicit: OpenVINO runs bf16 by default on CPUs with
AMX-BF16, and an exact variant must compute in f32. Settings are written as OpenVINO
properties under `properties`, which the runtime (`farm.runtime.openvino_model`) compiles
the ONNX model with; the variant carries the portable ONNX model, never a compiled blob.
OpenVINO is a default dependency where its wheels exist; where it is not installed the
engine is not offered.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

from ..precision import BF16
from .base import Engine, EngineConfig, Preparation, thread_counts

F32 = "f32"


def properties(threads: int, pinning: bool, precision: str = F32) -> dict:
    """The OpenVINO properties of one configuration."""
    return {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": pinning,
        "INFERENCE_PRECISION_HINT": precision,
    }


class OpenVinoEngine(Engine):
    name = "openvino"
    title = "OpenVINO"
    model_type = "OpenVINOModel"
    usage = (
        'model.onnx is the ONNX model: openvino.Core().compile_model("model.onnx", "CPU", properties) runs it; '
        'metadata.json\'s "engines" gives the properties the farm measured fastest.'
    )

    def available(self, device_type: str) -> bool:
        return device_type == "cpu" and importlib.util.find_spec("openvino") is not None

    def configs(self, cores: int) -> list[EngineConfig]:
        configs = [
            EngineConfig(self.name, f"ov-{t}t", {"properties": properties(t, False)}, t)
            for t in reversed(thread_counts(cores))
        ]
        return configs + [EngineConfig(self.name, f"ov-{cores}t-pin", {"properties": properties(cores, True)}, cores)]

    def reduced_configs(self, cores: int, precision: str) -> list[EngineConfig]:
        """bf16 at each thread count: OpenVINO's own default on CPUs with native bf16."""
        if precision != BF16:
            return []
        return [
            EngineConfig(self.name, f"ov-{t}t-bf16", {"properties": properties(t, False, BF16)}, t, BF16)
            for t in reversed(thread_counts(cores))
        ]

    def prepare(self, preparation: Preparation) -> bytes:
        return preparation.original

    def requirements(self) -> list[str]:
        return [f"openvino=={importlib.metadata.version('openvino')}"]

    def inference_settings(self, measured: dict, device: str) -> dict:
        return dict(measured.get("settings") or {})

"""The `onnxruntime` engine: the original ONNX model in ONNX Runtime, with the session settings that measured fastest.

ONNX Runtime's defaults are not always its best (a small model can run faster on one
intra-op thread, spinning off, than on all cores). So the settings are measured per model
and kind, and the candidates are: the default session; every thread
count of `thread_counts`, with the intra-op pool's spinning on and off (one thread has no
pool to spin); and parallel execution of independent nodes across the cores. The graph
optimization level stays at ONNX Runtime's default (all, layout optimizations included),
the level that is fastest on CPU. Settings are written as Olive's inference settings
(`execution_provider`, `provider_options`, `session_options` with `extra_session_config`),
which the runtime (`farm.runtime.ort_model.session_options`) turns back into a session.
"""

from __future__ import annotations

import importlib.metadata

from ..runtime.ort_model import PROVIDERS, SPINNING
from .base import Engine, EngineConfig, Preparation, thread_counts


def inference_settings(session: dict, device_type: str = "cpu") -> dict:
    """Olive-style inference settings for `session` options on `device_type`."""
    return {"execution_provider": [PROVIDERS[device_type]], "provider_options": [{}], "session_options": dict(session)}


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"
    title = "ONNX Runtime"
    model_type = "ONNXModel"
    usage = (
        'model.onnx is the ONNX model: onnxruntime.InferenceSession("model.onnx") runs it; metadata.json\'s '
        '"engines" gives the session settings the farm measured fastest.'
    )

    def configs(self, cores: int) -> list[EngineConfig]:
        configs = [EngineConfig(self.name, "ort-default", inference_settings({}), None)]
        for t in thread_counts(cores):
            spins = ("1", "0") if t > 1 else ("0",)
            for spin in spins:
                session = {"intra_op_num_threads": t, "extra_session_config": {SPINNING: spin}}
                label = f"ort-{t}t" + ("" if t == 1 else "-spin" if spin == "1" else "-nospin")
                configs.append(EngineConfig(self.name, label, inference_settings(session), t))
        if cores > 1:
            session = {
                "execution_mode": 1,
                "inter_op_num_threads": cores,
                "intra_op_num_threads": 1,
            }  # 1 = ORT_PARALLEL
            configs.append(EngineConfig(self.name, f"ort-parallel-{cores}", inference_settings(session), cores))
        return configs

    def requirements(self) -> list[str]:
        return [f"onnxruntime=={importlib.metadata.version('onnxruntime')}"]

    def prepare(self, preparation: Preparation) -> bytes:
        return preparation.original

    def inference_settings(self, measured: dict, device: str) -> dict:
        return dict(measured.get("settings") or {})

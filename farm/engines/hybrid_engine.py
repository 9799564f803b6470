"""The `hybrid` engine: each kernel of the model on the engine that measured faster for it (`farm.engines.hybrid_plan`).

Its artifact is the variant's `hybrid.zip` (the plan and its segments), run by
`farm.runtime.hybrid_model.HybridPipeline`, the same code a deployed package runs. Both
engines inside it use the same thread count, one configuration per count of
`thread_counts`, with ONNX Runtime's pool spinning between runs or not where there is a
pool; TVM's pool is sized from `TVM_NUM_THREADS` in the worker's environment.
"""

from __future__ import annotations

import numpy as np

from ..runtime.container import HYBRID_FILE
from .base import Engine, EngineConfig, Runner, thread_counts
from .onnxruntime_engine import OnnxRuntimeEngine
from .tvm_engine import TvmEngine


class HybridEngine(Engine):
    name = "hybrid"
    artifact = HYBRID_FILE

    def configs(self, cores: int) -> list[EngineConfig]:
        configs = []
        for t in reversed(thread_counts(cores)):
            for spinning in (False, True) if t > 1 else (False,):
                label = f"hybrid-{t}t" + ("" if t == 1 else "-spin" if spinning else "-nospin")
                configs.append(EngineConfig(self.name, label, {"num_threads": t, "ort_spinning": spinning}, t))
        return configs

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        return TvmEngine().worker_env(config)

    def load(self, artifact: bytes, config: EngineConfig, device_type: str, inputs: list[np.ndarray]) -> Runner:
        from ..runtime.hybrid_model import HybridPipeline

        pipeline = HybridPipeline(artifact, device_type, config.threads, config.settings.get("ort_spinning", False))

        def run() -> list[np.ndarray]:
            return [np.array(a) for a in pipeline(inputs)]  # out of TVM's buffers, as an application gets them

        return run

    def requirements(self) -> list[str]:
        return [*TvmEngine().requirements(), *OnnxRuntimeEngine().requirements()]

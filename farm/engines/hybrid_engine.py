"""The `hybrid` engine: each kernel of the model on the engine that measured faster for it (`farm.engines.hybrid_plan`).

Its artifact is the variant's `hybrid.zip` (the plan and its segments), run by
`farm.runtime.hybrid_model.HybridPipeline`, the same code a deployed package runs. Both
engines inside it use the same thread count, one configuration per count of
`thread_counts` (ONNX Runtime's segments on one shared pool of that size); TVM's pool is
sized from `TVM_NUM_THREADS` in the worker's environment, and never spins
(`farm.runtime.hybrid_model.NO_SPIN`).
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
    modules = ("tvm", "onnxruntime")

    def configs(self, cores: int) -> list[EngineConfig]:
        return [EngineConfig(self.name, f"hybrid-{t}t", {"num_threads": t}, t) for t in reversed(thread_counts(cores))]

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        from ..runtime.hybrid_model import NO_SPIN

        return {**TvmEngine().worker_env(config), **NO_SPIN}

    def load(self, artifact: bytes, config: EngineConfig, device_type: str, inputs: list[np.ndarray]) -> Runner:
        from ..runtime.hybrid_model import HybridPipeline

        pipeline = HybridPipeline(artifact, device_type, config.threads)

        def run() -> list[np.ndarray]:
            return [np.array(a) for a in pipeline(inputs)]  # out of TVM's buffers, as an application gets them

        return run

    def requirements(self) -> list[str]:
        return [*TvmEngine().requirements(), *OnnxRuntimeEngine().requirements()]

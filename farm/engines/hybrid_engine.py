"""The `hybrid` engine: each kernel of the model on the engine that measured faster for it (`farm.engines.hybrid_plan`).

Its artifact is the variant's `hybrid.zip` (the plan and its segments), run by
`farm.runtime.hybrid_model.HybridPipeline`, the same code a deployed package runs. Both
engines inside it use the same thread count, one configuration per count of
`thread_counts` (ONNX Runtime's segments on one shared pool of that size); TVM's pool is
sized from `TVM_NUM_THREADS` in the worker's environment, and never spins
(`farm.runtime.hybrid_model.NO_SPIN`).
"""

from __future__ import annotations

from ..runtime.ort_model import PROVIDERS
from .base import Engine, EngineConfig, thread_counts
from .onnxruntime_engine import OnnxRuntimeEngine
from .tvm_engine import TvmEngine

PLAN_KEY = "hybrid"  # where a tune's summary and a variant's metrics keep the hybrid's plan (`variant.plan_summary`)


class HybridEngine(Engine):
    name = "hybrid"
    title = "hybrid"
    model_type = "TVMOnnxRuntimeHybrid"
    usage = "hybrid.zip holds the plan and its TVM and ONNX Runtime segments; runtime/ (the farm's runtime) runs it."

    def configs(self, cores: int) -> list[EngineConfig]:
        return [EngineConfig(self.name, f"hybrid-{t}t", {"num_threads": t}, t) for t in reversed(thread_counts(cores))]

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        from ..runtime.hybrid_model import NO_SPIN

        return {**TvmEngine().worker_env(config), **NO_SPIN}

    def requirements(self) -> list[str]:
        return [*TvmEngine().requirements(), *OnnxRuntimeEngine().requirements()]

    def inference_settings(self, measured: dict, device: str) -> dict:
        """Its ONNX Runtime segments: one process-wide pool with as many threads as TVM's."""
        return {
            "execution_provider": [PROVIDERS[device]],
            "session_options": {"use_per_session_threads": False},
            "global_thread_pool": {"intra_op_num_threads": measured.get("threads"), "inter_op_num_threads": 1},
        }

"""The `tvm` engine: the variant's tuned Relax VM library, run with the thread count that measured fastest.

TVM's runtime sizes its thread pool once, from `TVM_NUM_THREADS` (else half the logical
CPUs on x86: one thread on this 2-vCPU machine), so each thread count is a worker of its
own started with that variable set. The count is a choice per model and kind like any
other setting: small models often run faster on fewer threads than the node has.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile

import numpy as np

from .base import Engine, EngineConfig, Runner, thread_counts

NUM_THREADS_VAR = "TVM_NUM_THREADS"


class TvmEngine(Engine):
    name = "tvm"
    artifact = "model.so"
    modules = ("tvm",)

    def configs(self, cores: int) -> list[EngineConfig]:
        return [EngineConfig(self.name, f"tvm-{t}t", {"num_threads": t}, t) for t in reversed(thread_counts(cores))]

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        return {NUM_THREADS_VAR: str(config.threads), "OMP_NUM_THREADS": str(config.threads)}

    def load(self, artifact: bytes, config: EngineConfig, device_type: str, inputs: list[np.ndarray]) -> Runner:
        import tvm
        from tvm import relax

        from ..runtime.model import numpy_outputs

        with tempfile.TemporaryDirectory(prefix="farm-engine-") as folder:
            path = os.path.join(folder, self.artifact)
            with open(path, "wb") as f:
                f.write(artifact)
            device = tvm.runtime.device(device_type, 0)
            vm = relax.VirtualMachine(tvm.runtime.load_module(path), device)
        args = [tvm.runtime.tensor(x, device) for x in inputs]
        main = vm["main"]

        def run() -> list[np.ndarray]:
            return numpy_outputs(main(*args))  # .numpy() syncs the device and copies out, as an application must

        return run

    def requirements(self) -> list[str]:
        return [f"{name}=={importlib.metadata.version(name)}" for name in ("apache-tvm", "apache-tvm-ffi")]

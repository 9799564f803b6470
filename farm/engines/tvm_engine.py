"""The `tvm` engine: the variant's tuned Relax VM library, run with the thread count that measured fastest.

TVM's runtime sizes its thread pool once, from `TVM_NUM_THREADS` (else half the logical
CPUs on x86), so each thread count is a worker of its own started with that variable set.
The count is a choice per model and kind like any other setting: small models often run
faster on fewer threads than the node has.
"""

from __future__ import annotations

import importlib.metadata

from .base import Engine, EngineConfig, Preparation, thread_counts

NUM_THREADS_VAR = "TVM_NUM_THREADS"

# example.py takes no data as code: it reads the model's name and tensors from metadata.json when it runs.
EXAMPLE = '''"""Run the packaged model with plain Apache TVM on random inputs: python example.py"""

import json
import os

import numpy as np
import tvm
from tvm import relax

HERE = os.path.dirname(os.path.abspath(__file__))


def random_input(spec: dict, rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(np.dtype(spec["dtype"]), np.floating):
        return rng.standard_normal(spec["shape"]).astype(spec["dtype"])
    return rng.integers(0, 2, spec["shape"]).astype(spec["dtype"])


def flatten(value) -> list:
    if isinstance(value, tvm.runtime.Tensor):
        return [value.numpy()]
    return [array for item in value for array in flatten(item)]


def main() -> None:
    with open(os.path.join(HERE, "metadata.json")) as f:
        metadata = json.load(f)
    device = tvm.cuda() if metadata["target"]["kind"] == "cuda" else tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(os.path.join(HERE, metadata["library"])), device)
    rng = np.random.default_rng(0)
    inputs = [tvm.runtime.tensor(random_input(spec, rng), device) for spec in metadata["inputs"]]
    for spec, output in zip(metadata["outputs"], flatten(vm["main"](*inputs))):
        print(spec["name"], output.shape, output.dtype, output.ravel()[:5])


if __name__ == "__main__":
    main()
'''


class TvmEngine(Engine):
    name = "tvm"
    title = "TVM"
    usage = 'model.so is a Relax executable: tvm.relax.VirtualMachine(tvm.runtime.load_module("model.so"), device)["main"](*inputs).'
    model_type = "TVMRelaxExecutable"

    def configs(self, cores: int) -> list[EngineConfig]:
        return [EngineConfig(self.name, f"tvm-{t}t", {"num_threads": t}, t) for t in reversed(thread_counts(cores))]

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        return {NUM_THREADS_VAR: str(config.threads), "OMP_NUM_THREADS": str(config.threads)}

    def prepare(self, preparation: Preparation) -> bytes:
        """The model compiled with the database's best records for the target (TVM's default schedules elsewhere)."""
        import tvm

        from tuning_db.metaschedule import ParquetDatabase

        from ..tuning.session import compile_with_records, exported_library

        target = tvm.target.Target(preparation.target)
        db = ParquetDatabase(preparation.db_uri, target, auto_compact_files=None)
        try:
            return exported_library(compile_with_records(db, preparation.model, target))
        finally:
            db.close()

    def example(self) -> str:
        return EXAMPLE

    def requirements(self) -> list[str]:
        return [f"{name}=={importlib.metadata.version(name)}" for name in ("apache-tvm", "apache-tvm-ffi")]

"""A variant as a shared-object tarball: the library, its metadata and an example that runs it with plain Apache TVM.

`<model>-<kind>.tar.gz` unpacks to one folder `<model>-<kind>/` holding `model.so`, the
ONNX model when ONNX Runtime is one of the variant's engines, `metadata.json` (the variant's metadata with its benchmark under `"benchmark"`, library
checksum unchanged, so `farm.runtime.load_model` loads the unpacked folder), `example.py`
and `README.txt`. The archive is deterministic: members sorted, mode 0644 (folder 0755),
no owners, fixed times.
"""

from __future__ import annotations

import json
import os

from ..archive import write_tar_gz
from .variant import METADATA_FILE, read_variant

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

README = """{model} compiled by Apache TVM {tvm_version} for {kind} (target key {target_key}), packaged by tuning-farm.
model.so is a Relax executable: tvm.relax.VirtualMachine(tvm.runtime.load_module("model.so"), device)["main"](*inputs).
metadata.json lists the inputs and outputs (name, dtype, shape), the TVM target and the benchmark on a {kind} node.
python example.py runs it on random inputs (needs apache-tvm=={tvm_version} and numpy).
"""


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def build_tarball(variant_dir: str, out_dir: str) -> str:
    """Write `<model>-<kind>.tar.gz` into `out_dir` and return its path."""
    variant = read_variant(variant_dir)
    meta = variant.metadata
    metadata = {**meta, "benchmark": variant.benchmark} if variant.benchmark else meta
    files = {name: _read(os.path.join(variant.folder, name)) for name in variant.model_files}
    files |= {
        METADATA_FILE: json.dumps(metadata, indent=2).encode(),
        "example.py": EXAMPLE.encode(),
        "README.txt": README.format(
            model=meta["model"],
            kind=meta["kind"],
            tvm_version=meta.get("tvm_version", "?"),
            target_key=meta.get("target_key", "?"),
        ).encode(),
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.path.abspath(out_dir), f"{variant.stem}.tar.gz")
    write_tar_gz(path, [(variant.stem, None), *((f"{variant.stem}/{name}", data) for name, data in files.items())])
    return path

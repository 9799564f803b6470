"""A variant as a tarball: its engine's file, its metadata and an example that runs it with the engine's own library.

`<model>-<kind>.tar.gz` unpacks to one folder `<model>-<kind>/` holding the file the
variant's engine runs (`model.so` for TVM, `model.onnx` for ONNX Runtime, `hybrid.zip`),
`metadata.json` (the variant's metadata naming only that file, with its benchmark under
`"benchmark"`, checksums unchanged, so `farm.runtime.load_model` loads the unpacked
folder), `example.py` (the engine's own, `Engine.example`: plain Apache TVM for a TVM
library; else one that runs the farm's runtime, bundled under `runtime/`) and `README.txt`. The archive is deterministic: members sorted, mode 0644 (folder 0755),
no owners, fixed times.
"""

from __future__ import annotations

import json
import os

from ..archive import write_tar_gz
from ..runtime.container import METADATA
from .variant import read_variant
from .wheel import RUNTIME_DIR, runtime_files

# example.py of an engine without one of its own: the bundled runtime loads the folder, whatever its engine
RUNTIME_EXAMPLE = '''"""Run the packaged model with the bundled farm runtime on random inputs: python example.py"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from runtime import load_model  # noqa: E402
from runtime.profiling import sample_inputs  # noqa: E402


def main() -> None:
    with load_model(HERE) as model:
        for spec, output in zip(model.outputs, model.run(sample_inputs(model.inputs)).values()):
            print(spec.name, output.shape, output.dtype, np.ravel(output)[:5])


if __name__ == "__main__":
    main()
'''

README = """{model} optimized by tuning-farm for {kind} (target key {target_key}), engine: {engine}.
{usage}
metadata.json lists the inputs and outputs (name, dtype, shape), the target and the benchmark on a {kind} node.
python example.py runs it on random inputs (needs {requirements}).
"""


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def build_tarball(variant_dir: str, out_dir: str) -> str:
    """Write `<model>-<kind>.tar.gz` into `out_dir` and return its path."""
    from ..engines import engine_named

    variant = read_variant(variant_dir)
    engine = engine_named(variant.engine)
    meta = variant.package_metadata
    metadata = {**meta, "benchmark": variant.benchmark} if variant.benchmark else meta
    files = {name: _read(os.path.join(variant.folder, name)) for name in variant.model_files}
    example = engine.example()
    if example is None:
        files |= {f"runtime/{name}": _read(os.path.join(RUNTIME_DIR, name)) for name in runtime_files()}
    files |= {
        METADATA: json.dumps(metadata, indent=2).encode(),
        "example.py": (example or RUNTIME_EXAMPLE).encode(),
        "README.txt": README.format(
            model=meta["model"],
            kind=meta["kind"],
            engine=engine.title,
            usage=engine.usage,
            requirements=" and ".join(variant.requirements()),
            target_key=meta.get("target_key", "?"),
        ).encode(),
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.path.abspath(out_dir), f"{variant.stem}.tar.gz")
    write_tar_gz(path, [(variant.stem, None), *((f"{variant.stem}/{name}", data) for name, data in files.items())])
    return path

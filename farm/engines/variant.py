"""Recording a device comparison's engine choice in a variant folder, so the runtime and the packages run what won.

The folder gets the original ONNX model beside the TVM library (ONNX Runtime is one of its
engines), and its metadata gets `engine` (the chosen one), `engines` (per engine: latency,
p90, agreement, threads, settings of its fastest configuration) and the ONNX model's name
and SHA-256. The metadata is replaced atomically and last, as `write_variant` wrote it.
"""

from __future__ import annotations

import json
import os

from ..runtime.container import METADATA, ONNX_FILE, file_sha256

ENGINE_FIELDS = ("latency_ms", "p90_ms", "agrees", "threads", "config", "settings")


def record_engines(variant_dir: str, check: dict, onnx_model: bytes) -> dict:
    """Write `onnx_model` into `variant_dir` and the choice of `check` (a `time_engines` result) into its metadata; the metadata."""
    onnx_path = os.path.join(variant_dir, ONNX_FILE)
    with open(onnx_path, "wb") as f:
        f.write(onnx_model)
    path = os.path.join(variant_dir, METADATA)
    with open(path) as f:
        metadata = json.load(f)
    metadata.update(
        engine=check["engine"],
        engines={name: {k: e[k] for k in ENGINE_FIELDS} for name, e in check["engines"].items()},
        onnx_model=ONNX_FILE,
        onnx_model_sha256=file_sha256(onnx_path),
    )
    with open(path + ".tmp", "w") as f:
        json.dump(metadata, f, indent=2)
    os.replace(path + ".tmp", path)
    return metadata

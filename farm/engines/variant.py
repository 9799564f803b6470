"""Recording a device comparison's engine choice in a variant folder, so the runtime and the packages run what won.

The folder gets the original ONNX model beside the TVM library (ONNX Runtime is one of its
engines) and, when the farm built one, the hybrid's plan archive; its metadata gets
`engine` (the chosen one), `engines` (per engine: latency, p90, agreement, threads,
settings of its fastest configuration), the ONNX model's and the archive's names and
SHA-256, and `hybrid` (`plan_summary`: which kernels run where, each kernel's two
timings, back to back and at a crossing). The metadata is replaced atomically and last, as `write_variant` wrote it.
"""

from __future__ import annotations

import json
import os

from ..runtime.container import HYBRID_FILE, METADATA, ONNX_FILE, file_sha256

ENGINE_FIELDS = ("latency_ms", "p90_ms", "agrees", "threads", "config", "settings")
KERNEL_FIELDS = (
    "index",
    "name",
    "op_types",
    "engine",
    "tvm_us",
    "onnxruntime_us",
    "tvm_crossing_us",
    "onnxruntime_crossing_us",
    "agrees",
    "tvm_error",
)
PLAN_FIELDS = ("built", "error", "threads", "kernels_per_engine", "estimated_ms")


def plan_summary(plan: dict) -> dict:
    """What a user reads of a hybrid plan: whether it was built, kernels per engine, and each kernel's engine and two timings."""
    summary = {k: plan[k] for k in PLAN_FIELDS if k in plan}
    if "kernels" in plan:
        summary["kernels"] = [{k: kernel[k] for k in KERNEL_FIELDS if k in kernel} for kernel in plan["kernels"]]
    return summary


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return file_sha256(path)


def record_engines(
    variant_dir: str, check: dict, onnx_model: bytes, hybrid: bytes | None = None, plan: dict | None = None
) -> dict:
    """Write `onnx_model` (and the `hybrid` archive) into `variant_dir` and the choice of `check` (a `time_engines` result)
    into its metadata, with the hybrid's `plan`; the metadata."""
    files = {"onnx_model": (ONNX_FILE, onnx_model)}
    if hybrid is not None:
        files["hybrid_model"] = (HYBRID_FILE, hybrid)
    path = os.path.join(variant_dir, METADATA)
    with open(path) as f:
        metadata = json.load(f)
    for key, (name, data) in files.items():
        metadata.update({key: name, f"{key}_sha256": _write(os.path.join(variant_dir, name), data)})
    metadata.update(
        engine=check["engine"],
        engines={name: {k: e[k] for k in ENGINE_FIELDS} for name, e in check["engines"].items()},
    )
    if plan is not None:
        metadata["hybrid"] = plan_summary(plan)
    with open(path + ".tmp", "w") as f:
        json.dump(metadata, f, indent=2)
    os.replace(path + ".tmp", path)
    return metadata

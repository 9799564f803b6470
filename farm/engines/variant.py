"""Recording a device comparison's engine choice in a variant folder, so the runtime and the packages run what won.

The folder gets the file of every engine timed beside the TVM library the tune wrote (the
original ONNX model, and the hybrid's plan archive when the farm built one), through the
folder's owner (`farm.runtime.container`); its metadata gets `engine` (the chosen one),
`engines` (per engine: latency, p90, agreement, threads, settings of its fastest
configuration), each file's name and SHA-256, and `hybrid` (`plan_summary`: which
kernels run where, each kernel's timings, back to back and at a crossing). The metadata
is replaced atomically and last.
"""

from __future__ import annotations

from dataclasses import replace

from ..runtime.container import EngineFigures, VariantMetadata, read_metadata, write_metadata, write_model_file
from .comparison import Comparison

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


def record_engines(
    variant_dir: str,
    check: Comparison,
    files: dict[str, bytes],
    plan: dict | None = None,
    base: VariantMetadata | None = None,
) -> dict:
    """Write each engine's file of `files` (engine name -> bytes) into `variant_dir` and the choice of `check` into its
    metadata (the folder's, else `base` for a folder that has none yet), with the hybrid's `plan`; the metadata."""
    from . import engine_named
    from .hybrid_engine import PLAN_KEY

    metadata = base or VariantMetadata.from_json(read_metadata(variant_dir))
    written = {}
    for name, data in files.items():
        key = engine_named(name).file_key
        entry = write_model_file(variant_dir, key, data)
        written[key] = (entry[key], entry[f"{key}_sha256"])
    engines = {
        name: EngineFigures(e.latency_ms, e.p90_ms, e.agrees, e.threads, e.config, e.settings, e.precision)
        for name, e in check.engines.items()
    }
    extra = {**metadata.extra, **({PLAN_KEY: plan_summary(plan)} if plan is not None else {})}
    metadata = replace(metadata, engine=check.engine, engines=engines, files={**metadata.files, **written}, extra=extra)
    write_metadata(variant_dir, metadata.as_json())
    return metadata.as_json()

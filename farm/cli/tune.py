"""`farm tune`: tune an ONNX model for device kinds of the farm and write one variant folder per kind."""

from __future__ import annotations

import json
import os
import uuid
from typing import Annotated, Optional

import typer

from ..paths import default_db_uri
from .output import console, emit_json, fail, stdout_to_stderr


def _default_kind() -> str:
    """The host's own kind: its LLVM CPU name when the farm can serve it, else its highest ISA level."""
    from cluster.devices import detect_kinds, host_cpu_name

    cpu = [k.name for k in detect_kinds() if k.platform == "cpu"]
    own = host_cpu_name()
    return own if own in cpu else cpu[-1]


def tune(
    model: Annotated[str, typer.Argument(help="The ONNX model to tune.")],
    target: Annotated[Optional[str], typer.Option("--target", help="Device kinds, comma-separated (default: this host's own kind).")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Trials to measure per kind, over all tasks.")] = 200,
    trials_per_task: Annotated[Optional[int], typer.Option("--trials-per-task", help="At most this many trials per task.")] = None,
    done_after: Annotated[int, typer.Option("--done-after", help="A task with this many records for the target is not searched again.")] = 64,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="NAME:D0,D1,… for an input with dynamic dimensions (repeatable).")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="Tuning database URI (default: $FARM_DB or the user data directory).")] = None,
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded Ray).")] = None,
    out: Annotated[str, typer.Option("--out", help="Folder for the variants, one sub-folder per kind.")] = "variants",
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Tune MODEL for each device kind and write `OUT/<kind>/` (library + metadata)."""
    from cluster.builder import RayBuilder
    from cluster.connect import connect

    from ..models.onnx_import import ModelImportError, parse_input_shapes, prepare, random_inputs
    from ..tuning.session import TuningPlan

    try:
        onnx_model = prepare(model, parse_input_shapes(input_shape or []))
    except ModelImportError as e:
        fail(str(e))
    kinds = [k.strip() for k in (target or _default_kind()).split(",") if k.strip()]
    connect(address, kinds=kinds)
    builder = RayBuilder()
    plan = TuningPlan(trials=trials, trials_per_task=trials_per_task, done_after=done_after)
    job_id = uuid.uuid4().hex[:12]
    name = os.path.splitext(os.path.basename(model))[0]
    with open(model, "rb") as f:
        original = f.read()
    inputs = random_inputs(onnx_model.inputs)
    summaries = {}
    with stdout_to_stderr(json_out):
        for kind in kinds:
            summaries[kind] = _tune_one(onnx_model, name, kind, plan, db or default_db_uri(), out, builder, job_id, original, inputs, json_out)
    if json_out:
        emit_json({"model": name, "job_id": job_id, "targets": summaries})
    disagree = [k for k, s in summaries.items() if not s["agrees"]]
    if disagree:
        fail(f"the tuned variant for {', '.join(disagree)} does not compute what the ONNX model computes (see benchmark.json)", code=1)


def _tune_one(onnx_model, name, kind, plan, db_uri, out, builder, job_id, original, inputs, quiet) -> dict:
    """One kind: tune, write the variant, verify it against ONNX Runtime on a node of the kind."""
    from cluster.nodes import NoDeviceError

    from ..benchmark import compare_on_device
    from ..tuning.session import VARIANT_LIBRARY, tune_for_kind

    try:
        summary = tune_for_kind(onnx_model, name, kind, plan, db_uri, out, builder=builder, job_id=job_id)
        check = compare_on_device(kind, os.path.join(summary.variant_dir, VARIANT_LIBRARY), original, inputs)
    except NoDeviceError as e:
        fail(str(e))
    with open(os.path.join(summary.variant_dir, "benchmark.json"), "w") as f:
        json.dump(check, f, indent=2)
    if not quiet:
        console.print(
            f"{kind}: {summary.tasks} tasks ({summary.tasks_tuned} tuned), {summary.trials_measured} trials measured, "
            f"{summary.trials_reused} reused, {summary.tuning_seconds:.1f} s; TVM {check['tvm_latency_ms']:.3f} ms vs "
            f"ONNX Runtime {check['ort_latency_ms']:.3f} ms ({check['speedup_vs_ort']:.2f}x), max abs diff {check['max_abs_diff']:.2e}"
            f"{'' if check['agrees'] else ' — OUTPUTS DISAGREE'} → {summary.variant_dir}"
        )
    return {**summary.as_json(), **{k: check[k] for k in ("tvm_latency_ms", "ort_latency_ms", "speedup_vs_ort", "max_abs_diff", "max_rel_diff", "agrees")}}

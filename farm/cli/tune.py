"""`farm tune`: tune an ONNX model for device kinds of the farm and write one variant folder per kind."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from ..paths import default_db_uri
from ..precision import DEFAULT_TOLERANCE, Tolerance
from ..workflow_options import DEFAULTS, build_options
from .output import console, emit_json, fail, stdout_to_stderr
from .progress import show_progress

if TYPE_CHECKING:
    from rich.table import Table

    from ..engines.comparison import Comparison
    from ..tuning.job import KindResult


def _hybrid_line(plan: dict) -> str:
    """The hybrid's plan in a few words: built or not, and the kernels each engine won."""
    from ..engines import engine_named

    if "error" in plan:
        return f"no hybrid ({plan['error']})"
    counts = ", ".join(f"{n} on {engine_named(name).title}" for name, n in plan["kernels_per_engine"].items())
    built = "hybrid built" if plan["built"] else "no hybrid (one engine won every kernel)"
    return f"{built}: kernels fastest {counts}"


def _summary_line(kind: str, result: KindResult) -> str:
    """One kind's tune in a line: tasks, trials, the engine chosen against ONNX Runtime's default, what each measured."""
    from ..engines import engine_named

    s, check = result.summary, result.comparison
    engines = ", ".join(
        f"{engine_named(name).title} ≈{e.latency_ms:.3f} ms (out of reach: one untimed inference)"
        if e.estimated
        else f"{engine_named(name).title} {e.latency_ms:.3f} ms ({e.threads or 'default'} threads)"
        for name, e in check.engines.items()
    )
    quiet = s.fidelity
    quiet = f" (best of {quiet['tasks']} tasks re-measured: {quiet['pick_changed']} picks changed)" if quiet else ""
    wrong = check.disagreeing
    wrong = f" — OUTPUTS DISAGREE: {', '.join(engine_named(name).title for name in wrong)}" if wrong else ""
    best, ort = check.chosen.latency_ms, check.reference.median_ms
    return (
        f"{kind}: {s.tasks} tasks ({s.tasks_tuned} tuned), {s.trials_measured} trials measured, "
        f"{s.trials_reused} reused, {s.tuning_seconds:.1f} s{quiet}; engine {engine_named(check.engine).title} "
        f"{best:.3f} ms vs ONNX Runtime's default {ort:.3f} ms ({ort / best:.2f}x); measured: {engines}{wrong}; "
        f"{_precision_line(check)}; {_hybrid_line(result.plan)} → {s.variant_dir}"
    )


def engine_table(kind: str, check: Comparison) -> Table:
    """Every engine at its best configuration on `kind`'s node, fastest first, the chosen one marked, and the
    precision not allowed where it was measured: the comparison at a glance."""
    from rich.table import Table

    from ..engines import engine_named

    table = Table(title=f"{kind}: engines timed through farm.runtime, batch 1", title_justify="left")
    for column in (
        "engine",
        "configuration",
        "threads",
        "precision",
        "median ms",
        "p90 ms",
        "vs ORT default",
        "agrees",
    ):
        table.add_column(column, justify="right" if column.endswith(("ms", "default", "threads")) else "left")
    reference = check.reference.median_ms
    rows = sorted(check.engines.items(), key=lambda item: item[1].latency_ms)
    for name, e in rows:
        chosen = " (chosen)" if name == check.engine else ""
        table.add_row(
            f"{engine_named(name).title}{chosen}",
            e.config,
            str(e.threads or "default"),
            e.precision,
            f"≈{e.latency_ms:.3f}" if e.estimated else f"{e.latency_ms:.3f}",
            "–" if e.estimated else f"{e.p90_ms:.3f}",
            f"{reference / e.latency_ms:.2f}x",
            "not timed: out of reach" if e.estimated else "yes" if e.agrees else "NO",
            style="bold" if chosen else None,
        )
    alt = check.alternative
    if alt is not None:
        table.add_row(
            f"{engine_named(alt.engine).title} (not allowed)",
            alt.label,
            str(alt.threads or "default"),
            alt.precision,
            f"{alt.stats.median_ms:.3f}",
            f"{alt.stats.p90_ms:.3f}",
            f"{reference / alt.stats.median_ms:.2f}x",
            "within tolerance",
            style="dim",
        )
    return table


def _precision_line(check: Comparison) -> str:
    """The precision chosen, and what the other would give (or why it was not measured)."""
    from ..engines import engine_named
    from ..precision import BF16, EXACT

    alt, samples = check.alternative, check.run.get("samples", 1)
    if alt is not None:
        top1 = f", top-1 agreement {alt.top1:.0%}" if alt.top1 is not None else ""
        return (
            f"precision {check.precision}; {alt.precision} would run {check.chosen.latency_ms / alt.stats.median_ms:.2f}x "
            f"faster ({engine_named(alt.engine).title} {alt.label}{top1}, max relative error {alt.max_rel_diff:.2g} on "
            f"{samples} sample{'s' if samples != 1 else ''}): allow it with --precision {alt.precision}"
        )
    if check.precision == EXACT and not any(c.precision == BF16 for c in check.configs):
        return f"precision {EXACT} ({BF16} not measured: this node's CPU does not compute it natively)"
    return f"precision {check.precision}"


def default_kind() -> str:
    """The host's own kind: its LLVM CPU name when the farm can serve it, else its highest ISA level."""
    from cluster.devices import detect_kinds, host_cpu_name

    cpu = [k.name for k in detect_kinds() if k.platform == "cpu"]
    own = host_cpu_name()
    return own if own in cpu else cpu[-1]


def tune(
    model: Annotated[str, typer.Argument(help="The ONNX model to tune.")],
    target: Annotated[
        str | None, typer.Option("--target", help="Device kinds, comma-separated (default: this host's own kind).")
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", help="Trials to measure per kind, over all tasks.")
    ] = DEFAULTS.trials,
    trials_per_task: Annotated[
        int | None, typer.Option("--trials-per-task", help="At most this many trials per task.")
    ] = None,
    done_after: Annotated[
        int, typer.Option("--done-after", help="A task with this many records for the target is not searched again.")
    ] = 64,
    search_workers: Annotated[
        int | None, typer.Option("--search-workers", help="Search workers per kind (default: one per 4 cluster CPUs).")
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="NAME:D0,D1,… for an input with dynamic dimensions (repeatable)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Tuning database URI (default: $FARM_DB or the user data directory).")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded Ray).")
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="exact: only configurations that agree with the fp32 original; bf16: also bfloat16 ones within "
            "--tolerance, on CPUs that compute bf16 natively.",
        ),
    ] = DEFAULTS.precision,
    tolerance: Annotated[
        str | None, typer.Option("--tolerance", help=f"rel=R and/or top1=F (default {DEFAULT_TOLERANCE}).")
    ] = None,
    sample_inputs: Annotated[
        str | None,
        typer.Option(
            "--sample-inputs",
            help="An .npz of arrays named by input, the first axis indexing samples: agreement is measured on them.",
        ),
    ] = None,
    out: Annotated[str, typer.Option("--out", help="Folder for the variants, one sub-folder per kind.")] = "variants",
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Tune MODEL for each device kind, concurrently, time every engine on the device, and write `OUT/<kind>/` with the fastest."""
    from cluster.connect import connect
    from cluster.nodes import NoDeviceError

    from ..models.onnx_import import parse_input_shapes, prepare
    from ..models.samples import load_samples
    from ..tuning.job import TuneJob
    from ..tuning.session import TuningPlan

    try:
        options = build_options(trials=trials, precision=precision, tolerance=tolerance)
        onnx_model = prepare(model, parse_input_shapes(input_shape or []))
        samples = load_samples(sample_inputs, onnx_model.inputs) if sample_inputs else None
    except ValueError as e:
        fail(str(e))
    kinds = list(dict.fromkeys(k.strip() for k in (target or default_kind()).split(",") if k.strip()))
    connect(address, kinds=kinds)
    plan = TuningPlan(trials=trials, trials_per_task=trials_per_task, done_after=done_after)
    name = os.path.splitext(os.path.basename(model))[0]
    with open(model, "rb") as f:
        original = f.read()
    job = TuneJob(
        onnx_model,
        original,
        name,
        kinds,
        plan,
        db or default_db_uri(),
        out,
        search_workers=search_workers,
        precision=options.precision,
        tolerance=Tolerance.parse(options.tolerance),
        samples=samples,
    )
    with stdout_to_stderr(json_out):
        job.start()
        show_progress(job.sessions, job.futures)
        try:
            results = job.results()
        except NoDeviceError as e:
            fail(str(e))
    if json_out:
        emit_json({"model": name, "job_id": job.job_id, "targets": {k: r.as_json() for k, r in results.items()}})
    else:
        for kind, result in results.items():
            console.print(engine_table(kind, result.comparison), highlight=False)
            console.print(_summary_line(kind, result), highlight=False)
    disagree = [k for k, r in results.items() if not r.comparison.chosen.agrees]
    if disagree:
        fail(
            f"the variant for {', '.join(disagree)} does not compute what the ONNX model computes (see benchmark.json)",
            code=1,
        )

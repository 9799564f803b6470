"""`farm workflow …`: start workflows on the farm server, list, show, follow and cancel them.

`wait` (and `create --wait`) follows a workflow until it ends: a live bar per device kind
on a terminal (stage, trials measured of planned, best latency so far), plain log lines
otherwise. Exit codes: 0 when it completed, 1 when it failed, was cancelled or the wait
timed out, 2 when the server refused a request.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..client import Workflow, WorkflowFailed
from ..stages import STAGES
from ..workflow_options import DEFAULTS, build_options
from .output import console, emit_json, err_console, fail
from .remote import JsonOption, TokenOption, UrlOption, connect, plain

app = typer.Typer(
    help="Workflows: tune a model for device kinds of the cluster, benchmark and package the variants.",
    no_args_is_help=True,
)

LOG_EVERY_S = 15.0
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Give up waiting after this many seconds.")]
PollOption = Annotated[float, typer.Option("--poll", help="Seconds between status checks.")]


def _best(progress: dict) -> str:
    ms = progress.get("best_latency_ms")
    return f"best {ms:.3f} ms" if ms else "best: –"


def _line(kind: str, progress: dict) -> str:
    return f"[{kind}] {progress.get('stage')}: {progress.get('trials') or 0}/{progress.get('total') or '?'} trials, {_best(progress)}"


def _follow_bars(workflow: Workflow, timeout: float | None, poll: float) -> Workflow:
    columns = [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console) as bars:
        ids: dict[str, int] = {}

        def show(w: Workflow) -> None:
            for kind, p in w.progress.items():
                if kind not in ids:
                    ids[kind] = bars.add_task(kind, total=None, best="")
                bars.update(
                    ids[kind],
                    description=f"{kind}: {p.get('stage')}",
                    total=p.get("total") or None,
                    completed=p.get("trials") or 0,
                    best=_best(p),
                )

        return workflow.wait(timeout, poll, on_progress=show)


def _follow_lines(workflow: Workflow, timeout: float | None, poll: float) -> Workflow:
    state = None
    last: dict[str, tuple] = {}
    last_at: dict[str, float] = {}

    def log(w: Workflow) -> None:
        nonlocal state
        if w.state != state:
            err_console.print(f"workflow {w.id}: {w.state}", highlight=False, markup=False)
            state = w.state
        now = time.monotonic()
        for kind, p in w.progress.items():
            seen, previous = (p.get("stage"), p.get("trials"), p.get("best_latency_ms")), last.get(kind)
            if previous is None or seen[0] != previous[0] or (seen != previous and now - last_at[kind] >= LOG_EVERY_S):
                err_console.print(_line(kind, p), highlight=False, markup=False)
                last[kind], last_at[kind] = seen, now

    return workflow.wait(timeout, poll, on_progress=log)


def _follow(workflow: Workflow, timeout: float | None, poll: float, as_json: bool) -> None:
    """Wait for the workflow, then print it; a failure, cancellation or timeout exits with 1."""
    follow = _follow_bars if err_console.is_terminal else _follow_lines
    try:
        workflow = follow(workflow, timeout, poll)
    except WorkflowFailed as e:
        if as_json:
            emit_json(e.workflow.as_json())
        fail(str(e), code=1)
    except TimeoutError as e:
        fail(str(e), code=1)
    if as_json:
        emit_json(workflow.as_json())
    else:
        _print(workflow)


def _print(w: Workflow) -> None:
    console.print(f"workflow {w.id} of model {w.model_id}: {w.state}", highlight=False, markup=False)
    if w.error:
        console.print(f"error: {w.error}", highlight=False, markup=False)
    for kind, p in w.progress.items():
        console.print(_line(kind, p), highlight=False, markup=False)
    for entry in w.outputs.get("ranking", []):
        latency = entry["metrics"].get("best_latency_ms", {}).get("value")
        shown = f"{latency:.3f} ms" if isinstance(latency, (int, float)) else "-"
        console.print(
            f"rank {entry['rank']}: {entry['target']} (variant {entry['variant_id']}) {shown}",
            highlight=False,
            markup=False,
        )
    for package in w.outputs.get("packages", []):
        console.print(
            f"package {package['package_id']}: {package['format']} {package['artifact_name']} ({package['size_bytes']} bytes)",
            highlight=False,
            markup=False,
        )


@app.command()
def create(
    model_id: Annotated[str, typer.Argument(help="The model to optimize.")],
    target: Annotated[str, typer.Option("--target", help="Device kinds, comma-separated (see `farm cluster status`).")],
    trials: Annotated[
        int,
        typer.Option(
            "--trials", min=0, help="Trials to measure per kind, over all tasks (0: compile from the records)."
        ),
    ] = DEFAULTS.trials,
    trials_per_task: Annotated[
        int | None, typer.Option("--trials-per-task", min=1, help="At most this many trials per task.")
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option("--input-shape", help="NAME:D0,D1,… for an input with dynamic dimensions (repeatable)."),
    ] = None,
    stages: Annotated[str, typer.Option("--stages", help="Stages to run, comma-separated.")] = ",".join(
        DEFAULTS.stages.chosen()
    ),
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Notified when the workflow ends (default: your account's).")
    ] = None,
    batch_sizes: Annotated[
        str | None,
        typer.Option(
            "--batch-sizes", help="Benchmark these batch sizes too, e.g. 1,4,16 (needs a dynamic batch dimension)."
        ),
    ] = None,
    sla_ms: Annotated[
        float | None,
        typer.Option("--sla-ms", min=0.0, help="p90 latency SLA: report the largest batch size that meets it."),
    ] = None,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="Timed runs per benchmark.")
    ] = DEFAULTS.benchmark.repeat,
    priorities: Annotated[
        str | None,
        typer.Option(
            "--priorities",
            help="Ranking metrics, most important first; -NAME = lower is better (default: agrees,-best_latency_ms).",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the workflow until it ends.")] = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a workflow tuning MODEL_ID for each device kind in --target."""
    from ..models.onnx_import import ModelImportError, parse_input_shapes

    try:
        shapes = {name: list(dims) for name, dims in parse_input_shapes(input_shape or []).items()}
    except ModelImportError as e:
        fail(str(e))
    chosen = {s.strip() for s in stages.split(",") if s.strip()}
    if chosen - set(STAGES):
        fail(f"unknown stage(s) {', '.join(sorted(chosen - set(STAGES)))}: choose from {', '.join(STAGES)}")
    kinds = [k.strip() for k in target.split(",") if k.strip()]
    try:
        batches = [int(b) for b in batch_sizes.split(",") if b.strip()] if batch_sizes else []
    except ValueError:
        fail(f"--batch-sizes takes integers separated by commas, not {batch_sizes!r}")
    try:
        options = build_options(
            trials=trials,
            trials_per_task=trials_per_task,
            input_shapes=shapes or None,
            stages={stage: stage in chosen for stage in STAGES},
            benchmark={"repeat": repeat, "batch_sizes": batches, "sla_ms": sla_ms},
            priorities=[p.strip() for p in priorities.split(",") if p.strip()] if priorities else None,
        )
    except ValueError as e:
        fail(str(e))
    with connect(url, token) as client:
        workflow = client.create_workflow(model_id, kinds, options=options, webhook_url=webhook_url)
        if wait:
            err_console.print(f"workflow {workflow.id} created", highlight=False, markup=False)
            _follow(workflow, timeout, poll, as_json)
            return
    if as_json:
        emit_json(workflow.as_json())
    else:
        console.print(
            f"workflow {workflow.id} {workflow.state}: {', '.join(workflow.targets)}", highlight=False, markup=False
        )


@app.command("list")
def list_workflows(
    model: Annotated[str | None, typer.Option("--model", help="Only this model's workflows.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only workflows in this state (pending, running, completed, failed, cancelled)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List workflows, newest first."""
    with connect(url, token) as client:
        workflows = client.workflows(model_id=model, state=state)
    if as_json:
        emit_json([w.as_json() for w in workflows])
        return
    table = Table("id", "model", "targets", "state", "created")
    for w in workflows:
        table.add_row(*plain(w.id, w.model_id, ", ".join(w.targets), w.state, f"{w.created_at:%Y-%m-%d %H:%M}"))
    console.print(table)


@app.command()
def show(
    workflow_id: Annotated[str, typer.Argument(help="Workflow id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a workflow's state, progress per kind and error."""
    with connect(url, token) as client:
        workflow = client.workflow(workflow_id)
    if as_json:
        emit_json(workflow.as_json())
    else:
        _print(workflow)


@app.command("wait")
def wait_cmd(
    workflow_id: Annotated[str, typer.Argument(help="Workflow id.")],
    timeout: TimeoutOption = None,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow a workflow until it ends (exit code 1 if it failed or was cancelled)."""
    with connect(url, token) as client:
        _follow(client.workflow(workflow_id), timeout, poll, as_json)


@app.command()
def cancel(
    workflow_id: Annotated[str, typer.Argument(help="Workflow id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or running workflow."""
    with connect(url, token) as client:
        workflow = client.workflow(workflow_id).cancel()
    if as_json:
        emit_json(workflow.as_json())
    else:
        console.print(f"workflow {workflow.id} {workflow.state}", highlight=False, markup=False)

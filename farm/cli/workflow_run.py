"""`farm workflow run`: create a workflow and drive it in this process — the entry point for `ray job submit`.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        farm workflow run MODEL_ID --target x86-64,x86-64-v3 --trials 64 --data-dir DIR --token TOKEN

The command works on the registry directly (`--data-dir`, or `$FARM_REGISTRY_URL` and
`$FARM_ARTIFACTS_URI` for a shared one), not through the API server: the job's own
process is the workflow's driver, so it is recorded as running at once (the server's
dispatcher never starts it a second time) and a marker actor under the driver's name
tells the server it is alive for exactly as long as the job runs. The token says who
spends the cluster time: it must belong to an active user who may optimize.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ..paths import data_dir as default_data_dir
from ..paths import data_folder_db
from ..workflow_options import DEFAULTS, build_options
from .output import emit_json, fail, stdout_to_stderr


def run(
    model_id: Annotated[str, typer.Argument(help="The registry's model to optimize (its original variant is tuned).")],
    target: Annotated[str, typer.Option("--target", help="Device kinds, comma-separated.")],
    trials: Annotated[int, typer.Option("--trials", help="Trials per kind.")] = DEFAULTS.trials,
    trials_per_task: Annotated[
        int | None, typer.Option("--trials-per-task", help="At most this many trials per task.")
    ] = None,
    input_shape: Annotated[
        list[str] | None, typer.Option("--input-shape", help="NAME:D0,D1,… for an input with dynamic dimensions.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="FARM_API_TOKEN", help="API token of the user running it.")
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option("--data-dir", help="Folder of the registry and artifacts (default: the farm's data folder)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Tuning database URI (default: $FARM_DB or the data folder's).")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded Ray).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the finished workflow as JSON.")] = False,
) -> None:
    """Create a workflow for MODEL_ID and run it here to its end (exit 1 if it fails)."""
    from cluster.connect import connect

    from ..models.onnx_import import ModelImportError, parse_input_shapes
    from ..registry import accounts, workflow_records
    from ..registry.database import Registry
    from ..registry.errors import RegistryError
    from ..schemas import WorkflowOut
    from ..workflows.driver import claim_driver, driver_name
    from ..workflows.execute import execute_workflow

    if not token:
        fail("an API token is required (--token or $FARM_API_TOKEN)")
    folder = os.path.abspath(data_dir or default_data_dir())
    try:
        shapes = {k: list(v) for k, v in parse_input_shapes(input_shape or []).items()}
        options = build_options(trials=trials, trials_per_task=trials_per_task, input_shapes=shapes or None)
    except (ModelImportError, ValueError) as e:
        fail(str(e))
    connect(address)
    registry = Registry.for_data_dir(folder)
    try:
        with registry.session() as s:
            user = accounts.authenticate(s, token)
            if not (user.is_admin or user.can_optimize):
                fail(f"{user.email} may not start workflows (read-only user)")
            kinds = [k.strip() for k in target.split(",") if k.strip()]
            # one transaction: the server's dispatcher never sees it pending, nor running without its live marker
            workflow_id = workflow_records.create_workflow(
                s, model_id, targets=kinds, options=options, created_by=user.id
            ).id
            marker = claim_driver(workflow_id)
            workflow_records.start_workflow(s, workflow_id, driver=driver_name(workflow_id))
        with stdout_to_stderr(json_out):
            typer.echo(f"workflow {workflow_id}: running", err=True)
            state = execute_workflow(
                registry, workflow_id, db_uri=data_folder_db(db, folder), work_root=os.path.join(folder, "work")
            )
        del marker
        with registry.session() as s:
            out = WorkflowOut.model_validate(workflow_records.get_workflow(s, workflow_id)).model_dump(mode="json")
    except RegistryError as e:
        fail(e.message)
    finally:
        registry.close()
    if json_out:
        emit_json(out)
    else:
        typer.echo(
            json.dumps(out["outputs"], indent=2)
            if state == "completed"
            else out["error"] or f"workflow {workflow_id} {state}"
        )
    if state != "completed":
        raise typer.Exit(1)

"""`farm serve`: the REST API over the registry of a data folder, with workflows run on the Ray cluster."""

from __future__ import annotations

import os
from typing import Annotated
from urllib.parse import quote

import typer

from ..paths import data_dir as default_data_dir
from .output import err_console
from .workflow_run import data_folder_db


def dashboard_link(registry, host: str, port: int) -> str:
    """The dashboard's sign-in link: with $FARM_API_TOKEN when it is a working token (opening it signs in), else the
    login page and how to get a token."""
    from ..api.auth import authenticate_request
    from ..registry.errors import PermissionDenied

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{f'[{shown_host}]' if ':' in shown_host else shown_host}:{port}/ui/login"
    token = os.environ.get("FARM_API_TOKEN")
    if token:
        try:
            authenticate_request(registry, token)
            return f"{url}?token={quote(token, safe='')}"
        except PermissionDenied:
            pass
    return f"{url} (sign in with an API token: `farm admin create-user EMAIL --admin` or `farm token create`)"


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir",
            help="Folder of registry.db and artifacts/ (default: $FARM_DATA_DIR or the user data directory).",
        ),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded Ray).")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Tuning database URI (default: $FARM_DB, else tuning-db/ in the data folder)."),
    ] = None,
    max_running: Annotated[int, typer.Option("--max-running", help="Workflows run at once; more wait, pending.")] = 2,
    max_workflows_per_user: Annotated[
        int,
        typer.Option(
            "--max-workflows-per-user",
            min=1,
            help="Pending and running workflows a user who is not an admin may have at once.",
        ),
    ] = 20,
    max_parse_memory_mb: Annotated[
        int,
        typer.Option(
            "--max-parse-memory-mb",
            min=64,
            help="Address space of the process that reads and checks an uploaded model.",
        ),
    ] = 4096,
    max_concurrent_uploads: Annotated[
        int, typer.Option("--max-concurrent-uploads", min=1, help="Uploads received at once; one more gets a 503.")
    ] = 4,
    upload_deadline_s: Annotated[
        float, typer.Option("--upload-deadline-s", min=1.0, help="Seconds an upload may take to arrive whole.")
    ] = 600.0,
    offers_every_min: Annotated[
        float,
        typer.Option(
            "--offers-every-min",
            min=0.0,
            help="Minutes between checks for re-optimization offers (0: only `farm offers check`).",
        ),
    ] = 10.0,
    allow_private_webhooks: Annotated[
        bool,
        typer.Option(
            "--allow-private-webhooks",
            help="Let webhooks reach loopback, private and link-local addresses (receivers of your own).",
        ),
    ] = False,
) -> None:
    """Serve the farm's API (OpenAPI at /docs) and its web dashboard (/ui; the sign-in link is printed) until interrupted."""
    import uvicorn

    from ..api import create_app
    from ..registry import Registry
    from ..workflows.notify import WebhookPolicy
    from ..workflows.service import WorkflowService

    webhooks = WebhookPolicy(allow_private=allow_private_webhooks)
    folder = os.path.abspath(data_dir or default_data_dir())
    registry = Registry.for_data_dir(folder)
    service = WorkflowService(
        registry,
        address=address,
        db_uri=data_folder_db(db, folder),
        work_root=os.path.join(folder, "work"),
        max_running=max_running,
        webhooks=webhooks,
        offer_every_s=offers_every_min * 60 or None,
    )
    err_console.print(
        f"registry {registry.engine.url}, artifacts {registry.artifacts.uri}", highlight=False, markup=False
    )
    err_console.print(f"dashboard {dashboard_link(registry, host, port)}", highlight=False, markup=False)
    try:
        uvicorn.run(
            create_app(
                registry,
                workflows=service,
                webhooks=webhooks,
                max_workflows_per_user=max_workflows_per_user,
                max_parse_memory_bytes=max_parse_memory_mb << 20,
                max_concurrent_uploads=max_concurrent_uploads,
                upload_deadline_s=upload_deadline_s,
            ),
            host=host,
            port=port,
        )
    finally:
        service.close()
        registry.close()

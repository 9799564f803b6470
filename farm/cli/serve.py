"""`farm serve`: the REST API over the registry of a data folder, with workflows run on the Ray cluster."""

from __future__ import annotations

import os
from typing import Annotated
from urllib.parse import quote

import typer
from pydantic import ValidationError

from ..api.settings import Settings
from ..workflow_options import problems
from .output import err_console, fail


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


def _option(name: str, flag: str | None = None, **kwargs):
    """A `farm serve` option for the `Settings` field `name`: its help and default shown from the field itself."""
    field = Settings.model_fields[name]
    return typer.Option(
        flag or f"--{name.replace('_', '-')}", help=f"{field.description} [default: {field.default}]", **kwargs
    )


def serve(
    host: Annotated[str | None, _option("host")] = None,
    port: Annotated[int | None, _option("port")] = None,
    data_dir: Annotated[str | None, _option("data_dir")] = None,
    address: Annotated[str | None, _option("address")] = None,
    db: Annotated[str | None, _option("db")] = None,
    max_running: Annotated[int | None, _option("max_running", min=1)] = None,
    max_workflows_per_user: Annotated[int | None, _option("max_workflows_per_user", min=1)] = None,
    max_parse_memory_mb: Annotated[
        int | None,
        typer.Option(
            "--max-parse-memory-mb",
            min=64,
            help=f"{Settings.model_fields['max_parse_memory_bytes'].description} In MiB [default: 4096]",
        ),
    ] = None,
    max_concurrent_uploads: Annotated[int | None, _option("max_concurrent_uploads", min=1)] = None,
    upload_deadline_s: Annotated[float | None, _option("upload_deadline_s", min=1.0)] = None,
    offers_every_min: Annotated[float | None, _option("offers_every_min", min=0.0)] = None,
    allow_private_webhooks: Annotated[
        bool | None, _option("allow_private_webhooks", "--allow-private-webhooks/--no-allow-private-webhooks")
    ] = None,
) -> None:
    """Serve the farm's API (OpenAPI at /docs) and its web dashboard (/ui; the sign-in link is printed) until interrupted.

    Every option is also read from the environment as FARM_<OPTION> (e.g. FARM_MAX_RUNNING); the command line wins."""
    import uvicorn

    from ..api import create_app
    from ..registry import Registry

    given = {k: v for k, v in locals().items() if k in Settings.model_fields and v is not None}
    if max_parse_memory_mb is not None:
        given["max_parse_memory_bytes"] = max_parse_memory_mb << 20
    try:
        settings = Settings(**given)
    except ValidationError as e:
        fail(problems(e))
    registry = Registry.for_data_dir(settings.folder)
    service = settings.workflow_service(registry)
    err_console.print(
        f"registry {registry.engine.url}, artifacts {registry.artifacts.uri}", highlight=False, markup=False
    )
    err_console.print(
        f"dashboard {dashboard_link(registry, settings.host, settings.port)}", highlight=False, markup=False
    )
    try:
        uvicorn.run(create_app(registry, settings, workflows=service), host=settings.host, port=settings.port)
    finally:
        service.close()
        registry.close()

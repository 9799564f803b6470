"""`farm metrics grafana-dashboard`: a Grafana dashboard for the farm's Prometheus metrics, printed or provisioned."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .output import err_console

app = typer.Typer(help="The farm's Prometheus metrics, as Grafana sees them.", no_args_is_help=True)


@app.command("grafana-dashboard")
def grafana_dashboard(
    ray_session: Annotated[
        str | None,
        typer.Option(
            "--ray-session",
            help="A Ray head's session folder (e.g. /tmp/ray/session_latest): write the dashboard where that head "
            "provisions Grafana dashboards instead of printing it.",
        ),
    ] = None,
) -> None:
    """Print a Grafana dashboard (JSON) of the ray_farm_* metrics: queue depth, build/measure/fail/retry rates, best
    latency per task."""
    from ..grafana import dashboard, install

    if ray_session is None:
        typer.echo(json.dumps(dashboard(), indent=2))
        return
    try:
        path = install(ray_session)
    except FileNotFoundError as e:
        err_console.print(f"error: {e}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    err_console.print(
        f"wrote {path}: Grafana shows it once it is pointed at this Ray head", highlight=False, markup=False
    )

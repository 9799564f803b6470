"""Entry point of the `farm` command: one typer app, one sub-app per area."""

from __future__ import annotations

import typer

from .cluster import app as cluster_app
from .db import app as db_app
from .example import example
from .output import route_warnings
from .tune import tune

app = typer.Typer(help="A distributed autotuning farm for ONNX models (Apache TVM on Ray).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(cluster_app, name="cluster")
app.command()(tune)
app.command()(example)


@app.callback()
def _main() -> None:
    route_warnings()

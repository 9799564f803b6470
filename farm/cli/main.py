"""Entry point of the `farm` command: one typer app, one sub-app per area."""

from __future__ import annotations

import typer

from .admin import app as admin_app
from .cluster import app as cluster_app
from .db import app as db_app
from .example import example
from .metrics import app as metrics_app
from .model import app as model_app
from .offers import app as offers_app
from .output import route_warnings
from .package import package
from .packages import app as packages_app
from .price import app as price_app
from .project import app as project_app
from .serve import serve
from .token import app as token_app
from .tune import tune
from .workflow import app as workflow_app
from .workflow_run import run as workflow_run

app = typer.Typer(help="A distributed autotuning farm for ONNX models (Apache TVM on Ray).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(cluster_app, name="cluster")
app.add_typer(admin_app, name="admin")
app.add_typer(token_app, name="token")
app.add_typer(project_app, name="project")
app.add_typer(model_app, name="model")
app.add_typer(packages_app, name="packages")
app.add_typer(price_app, name="price")
app.add_typer(metrics_app, name="metrics")
app.add_typer(offers_app, name="offers")
workflow_app.command("run")(workflow_run)
app.add_typer(workflow_app, name="workflow")
app.command()(tune)
app.command()(example)
app.command()(serve)
app.command()(package)


@app.callback()
def _main() -> None:
    route_warnings()

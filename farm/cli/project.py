"""`farm project …`: create, list and show projects on the farm server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .output import console, emit_json
from .remote import JsonOption, TokenOption, UrlOption, connect, plain

app = typer.Typer(help="Projects: named groups of models.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="A unique project name.")],
    description: Annotated[str, typer.Option("--description", help="What the project is for.")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    with connect(url, token) as client:
        project = client.create_project(name, description)
    if as_json:
        emit_json(project.as_json())
    else:
        console.print(f"created project {project.name} ({project.id})", highlight=False, markup=False)


@app.command("list")
def list_projects(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List every project."""
    with connect(url, token) as client:
        projects = client.projects()
    if as_json:
        emit_json([p.as_json() for p in projects])
        return
    table = Table("id", "name", "description", "created")
    for p in projects:
        table.add_row(*plain(p.id, p.name, p.description, f"{p.created_at:%Y-%m-%d %H:%M}"))
    console.print(table)


@app.command()
def show(
    project: Annotated[str, typer.Argument(help="Project id or name.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a project and its models."""
    with connect(url, token) as client:
        found = client.project(project)
        models = client.models(project=found)
    if as_json:
        emit_json({**found.as_json(), "models": [m.as_json() for m in models]})
        return
    console.print(
        f"project {found.name} ({found.id}), created {found.created_at:%Y-%m-%d %H:%M}", highlight=False, markup=False
    )
    if found.description:
        console.print(found.description, highlight=False, markup=False)
    table = Table("model id", "name", "labels")
    for m in models:
        table.add_row(*plain(m.id, m.name, ", ".join(m.labels)))
    console.print(table)

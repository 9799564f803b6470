"""`farm project …`: create, list and show projects on the farm server, and share them (members and their roles)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .output import console, emit_json
from .remote import JsonOption, TokenOption, UrlOption, connect, plain

app = typer.Typer(help="Projects: named groups of models.", no_args_is_help=True)
ProjectArg = Annotated[str, typer.Argument(help="Project id or name.")]


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
    """List the projects you are a member of (admins: every project)."""
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
    project: ProjectArg,
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


@app.command()
def members(
    project: ProjectArg,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a project's members and their roles."""
    with connect(url, token) as client:
        found = client.project(project).members()
    if as_json:
        emit_json(found)
        return
    table = Table("user id", "email", "role")
    for m in found:
        table.add_row(*plain(m["user_id"], m["email"], m["role"]))
    console.print(table)


@app.command()
def share(
    project: ProjectArg,
    user: Annotated[str, typer.Argument(help="The user's id or email.")],
    role: Annotated[
        str, typer.Option("--role", help="viewer (sees, downloads), member (also uploads, optimizes) or owner.")
    ] = "member",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a user a role in a project (owners only)."""
    with connect(url, token) as client:
        member = client.project(project).set_member(user, role)
    if as_json:
        emit_json(member)
    else:
        console.print(f"{member['email']} is now {member['role']} of {project}", highlight=False, markup=False)


@app.command()
def unshare(
    project: ProjectArg,
    user: Annotated[str, typer.Argument(help="The user's id or email.")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Take a user out of a project (owners; or yourself, to leave)."""
    with connect(url, token) as client:
        client.project(project).remove_member(user)
    console.print(f"{user} is no longer a member of {project}", highlight=False, markup=False)

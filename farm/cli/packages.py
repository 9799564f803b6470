"""`farm packages list|download`: the packages workflows built, through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .output import console, emit_json
from .remote import JsonOption, TokenOption, UrlOption, connect

app = typer.Typer(
    help="Packages built by workflows: wheels, shared-object tarballs, ranked-candidates zips, Docker contexts.",
    no_args_is_help=True,
)


@app.command("list")
def list_packages(
    model_id: Annotated[str | None, typer.Option("--model", help="Only packages of this model.")] = None,
    workflow_id: Annotated[str | None, typer.Option("--workflow", help="Only packages this workflow built.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Only this format: wheel, tarball, zip or dockerfile.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List packages, oldest first."""
    with connect(url, token) as client:
        packages = client.packages(model_id=model_id, workflow_id=workflow_id, format=fmt)
    if as_json:
        emit_json([p.as_json() for p in packages])
        return
    table = Table("id", "format", "file", "bytes", "variant", "workflow")
    for p in packages:
        table.add_row(p.id, p.format, p.artifact_name, str(p.size_bytes), p.variant_id, p.workflow_id or "")
    console.print(table)


@app.command()
def download(
    package_id: Annotated[str, typer.Argument(help="Package id.")],
    out: Annotated[str, typer.Option("--out", help="A folder (the package keeps its file name) or a file path.")] = ".",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a package."""
    with connect(url, token) as client:
        path = client.package(package_id).download(out)
    if as_json:
        emit_json({"package_id": package_id, "path": path})
    else:
        console.print(path, highlight=False, markup=False)

"""`farm token …`: API tokens of the user the current token belongs to."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console, emit_json, err_console
from .remote import JsonOption, TokenOption, UrlOption, connect

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for, to tell tokens apart.")] = "default",
    expires_in: Annotated[
        int | None,
        typer.Option("--expires-in", min=1, max=3650, help="Days the token is valid (default: until revoked)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create another token for yourself (shown once)."""
    with connect(url, token) as client:
        created = client.create_token(name, expires_in)
    if as_json:
        emit_json(created)
        return
    console.print(created["token"], highlight=False, markup=False)
    err_console.print(
        f"token {created['id']} ({created['name']!r}) is shown only this once", highlight=False, markup=False
    )

"""`farm admin …`: administer the registry of a data folder directly, without a server (e.g. the first admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..paths import data_dir as default_data_dir
from .output import console, emit_json, err_console, fail

app = typer.Typer(help="Administer the farm's registry directly (no server needed).", no_args_is_help=True)
DataDirOption = Annotated[
    str | None,
    typer.Option("--data-dir", help="Folder of registry.db (default: $FARM_DATA_DIR or the user data directory)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    admin: Annotated[bool, typer.Option("--admin", help="May manage users (and do everything else).")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="May only list, show and download.")] = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user and a first API token for them (shown once)."""
    from ..registry import Registry, RegistryError
    from ..registry.accounts import create_token
    from ..registry.accounts import create_user as create

    registry = Registry.for_data_dir(data_dir or default_data_dir())
    try:
        with registry.session() as s:
            user = create(s, email, admin=admin, read_only=read_only)
            _, token = create_token(s, user.id)
    except RegistryError as e:
        fail(e.message)
    finally:
        registry.close()
    role = "admin" if user.is_admin else "optimizer" if user.can_optimize else "read-only"
    if as_json:
        emit_json({"user_id": user.id, "email": user.email, "role": role, "token": token})
        return
    console.print(f"user_id {user.id} ({user.email}, {role})", highlight=False, markup=False)
    console.print(f"token {token}", highlight=False, markup=False)
    err_console.print("the token is shown only this once: export it as FARM_API_TOKEN", highlight=False, markup=False)


@app.command()
def gc(
    delete: Annotated[bool, typer.Option("--delete", help="Delete them (default: only report, a dry run).")] = False,
    min_age_hours: Annotated[
        float, typer.Option("--min-age-hours", min=0.0, help="Keep files younger than this: an upload in flight.")
    ] = 1.0,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find the stored artifacts no model, variant or package refers to any more; delete them with --delete."""
    from datetime import timedelta

    from ..registry import Registry
    from ..registry.gc import collect

    registry = Registry.for_data_dir(data_dir or default_data_dir())
    try:
        report = collect(registry, delete=delete, min_age=timedelta(hours=min_age_hours))
    finally:
        registry.close()
    if as_json:
        emit_json(report)
        return
    verb = "deleted" if delete else "would delete (a dry run: --delete to delete)"
    console.print(
        f"{report['artifacts']} artifacts stored, {report['referenced']} referenced; {verb} "
        f"{len(report['garbage'])} files, {report['garbage_bytes']} bytes; "
        f"{report['kept_younger_than_min_age']} unreferenced files kept as younger than {min_age_hours:g} h",
        highlight=False,
        markup=False,
    )

"""What the commands that talk to a farm server share: `--url`, `--token`, `--json`, one clear line per error, plain table cells."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import httpx
import typer
from rich.text import Text

from ..client import Client, DownloadError, FarmAPIError
from .output import fail

UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="FARM_URL", help="The farm server (default: http://127.0.0.1:8000).")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="FARM_API_TOKEN", help="API token.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[Client]:
    """A client of the server; its refusals and an unreachable server end the command with the reason and exit code 2."""
    client = Client(url, token)
    try:
        with client:
            yield client
    except FarmAPIError as e:
        fail(f"{e.detail} (HTTP {e.status})")
    except DownloadError as e:
        fail(str(e))
    except httpx.TransportError as e:
        fail(f"cannot reach the farm at {client.url}: {e} (start one with `farm serve`, or set --url / FARM_URL)")


def plain(*cells: str) -> list[Text]:
    """Table cells shown as they are (names may contain `[…]`, which Rich would read as markup)."""
    return [Text(cell) for cell in cells]

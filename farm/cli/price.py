"""`farm price list|set|delete`: what an hour of each device kind costs (admins set it; benchmarks report cost per million inferences)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console, emit_json
from .remote import JsonOption, TokenOption, UrlOption, connect

app = typer.Typer(help="Device prices per hour, for the benchmarks' cost per million inferences.", no_args_is_help=True)


@app.command("list")
def list_prices(url: UrlOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Every device kind's price per hour."""
    with connect(url, token) as client:
        prices = client.prices()
    if as_json:
        emit_json(prices)
        return
    for kind, usd in prices.items():
        console.print(f"{kind}: ${usd:g}/h", highlight=False, markup=False)


@app.command("set")
def set_price(
    kind: Annotated[str, typer.Argument(help="Device kind, e.g. x86-64-v3.")],
    usd_per_hour: Annotated[float, typer.Argument(min=0.0, help="US dollars per hour of one device of this kind.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the price of a device kind (admins only)."""
    with connect(url, token) as client:
        price = client.set_price(kind, usd_per_hour)
    if as_json:
        emit_json(price)
    else:
        console.print(f"{price['kind']}: ${price['usd_per_hour']:g}/h", highlight=False, markup=False)


@app.command("delete")
def delete_price(
    kind: Annotated[str, typer.Argument(help="Device kind.")], url: UrlOption = None, token: TokenOption = None
) -> None:
    """Forget the price of a device kind (admins only)."""
    with connect(url, token) as client:
        client.delete_price(kind)

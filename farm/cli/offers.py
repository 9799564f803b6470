"""`farm offers list|show|accept|dismiss|check`: faster variants the shared tuning database promises, without re-tuning."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..client import Offer
from .output import console, emit_json
from .remote import JsonOption, TokenOption, UrlOption, connect, plain

app = typer.Typer(
    help="Re-optimization offers: faster variants that newer tuning records promise for your models.",
    no_args_is_help=True,
)


def _show(offers: list[Offer], as_json: bool) -> None:
    if as_json:
        emit_json([o.as_json() for o in offers])
        return
    table = Table("id", "model", "kind", "state", "latency now", "estimated", "workloads improved")
    for o in offers:
        table.add_row(
            *plain(
                o.id,
                o.model_id,
                o.kind,
                o.state,
                f"{o.old_latency_ms:.3f} ms",
                f"{o.estimated_latency_ms:.3f} ms",
                str(len(o.improved)),
            )
        )
    console.print(table)


@app.command("list")
def list_offers(
    model: Annotated[str | None, typer.Option("--model", help="Only this model's offers.")] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", help="Only offers in this state (open, accepted, dismissed, confirmed, not_confirmed)."
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List offers, newest first."""
    with connect(url, token) as client:
        _show(client.offers(model_id=model, state=state), as_json)


@app.command()
def show(
    offer_id: Annotated[str, typer.Argument(help="Offer id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One offer, with the workloads that improved and the model whose tuning found each."""
    with connect(url, token) as client:
        offer = client.offer(offer_id)
    if as_json:
        emit_json(offer.as_json())
        return
    _show([offer], False)
    for w in offer.improved:
        console.print(
            f"  {w['task']}: {w['old_us']:.1f} → {w['new_us']:.1f} µs (from {w['from_model'] or 'unknown'})",
            highlight=False,
            markup=False,
        )
    if offer.result:
        console.print(f"  result: {offer.result}", highlight=False, markup=False)


@app.command()
def accept(
    offer_id: Annotated[str, typer.Argument(help="Offer id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compile the offered variant from the records (nothing measured anew), benchmark it, keep it if it is faster."""
    with connect(url, token) as client:
        workflow = client.offer(offer_id).accept()
    if as_json:
        emit_json(workflow.as_json())
    else:
        console.print(
            f"workflow {workflow.id} started: `farm workflow wait {workflow.id}`", highlight=False, markup=False
        )


@app.command()
def dismiss(
    offer_id: Annotated[str, typer.Argument(help="Offer id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decline an offer."""
    with connect(url, token) as client:
        offer = client.offer(offer_id).dismiss()
    if as_json:
        emit_json(offer.as_json())
    else:
        console.print(f"offer {offer.id} dismissed", highlight=False, markup=False)


@app.command()
def check(
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=0.99, help="How much faster the estimate must be (0.1: 10%).")
    ] = 0.1,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check every model's best variants against today's tuning records now (admins); the offers made."""
    with connect(url, token) as client:
        _show(client.check_offers(threshold), as_json)

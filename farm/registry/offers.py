"""Re-optimization offers and their states: open → accepted → confirmed | not_confirmed, or open → dismissed.

This module only records; estimating what the tuning database promises is `farm.offers`,
and the workflow an accepted offer starts is an ordinary workflow with 0 trials whose
options name the offer (`offer_id`). Rules:
- a variant has at most one offer that is open or accepted;
- after a dismissal, or a check on the device that did not confirm the gain, a variant is
  offered again only for an estimate at least a threshold better than that one (so a user
  is not asked twice for the same gain);
- accepting, dismissing and closing are compare-and-set on the state, so of two racing
  changes one wins; only an open offer may be accepted or dismissed, only an accepted one
  closed.
- the tuning database names the model whose tuning found a record by its name, whoever owns
  it: an offer's reader sees that name only where they may see a model so named
  (`improved_as_seen_by`); stored offers keep it for admins.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from farm.registry.access import visible_models
from farm.registry.errors import Conflict, InvalidInput, NotFound
from farm.registry.schema import OFFER_STATES, Model, Offer, User, Variant, utcnow

PENDING_STATES = ("open", "accepted")
SETTLED_AGAINST = ("dismissed", "not_confirmed")  # a new offer must promise clearly more than these did


def suppressed(s: Session, variant_id: str, estimated_ms: float, threshold: float) -> bool:
    """Whether a new offer of `estimated_ms` for the variant would repeat one it has (pending, or dismissed or not
    confirmed for about as much)."""
    for state, estimate in s.execute(
        select(Offer.state, Offer.estimated_latency_ms).where(Offer.variant_id == variant_id)
    ):
        if state in PENDING_STATES or state in SETTLED_AGAINST and estimated_ms > estimate * (1 - threshold):
            return True
    return False


def create_offer(
    s: Session, variant: Variant, *, old_latency_ms: float, estimated_latency_ms: float, improved: list[dict]
) -> Offer:
    """Record an open offer for `variant` (the caller checked `suppressed`)."""
    offer = Offer(
        model_id=variant.model_id,
        variant_id=variant.id,
        kind=variant.kind,
        old_latency_ms=old_latency_ms,
        estimated_latency_ms=estimated_latency_ms,
        improved=improved,
    )
    s.add(offer)
    s.flush()
    return offer


def get_offer(s: Session, offer_id: str) -> Offer:
    """The offer with this id, or `NotFound`."""
    offer = s.get(Offer, offer_id) if isinstance(offer_id, str) else None
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer


def list_offers(
    s: Session, *, model_id: str | None = None, state: str | None = None, scope: ColumnElement[bool] | None = None
) -> list[Offer]:
    """Offers, newest first, filtered by model and state (`scope`: a condition on their `Model`)."""
    stmt = select(Offer).order_by(Offer.created_at.desc(), Offer.id.desc())
    if scope is not None:
        stmt = stmt.join(Model, Model.id == Offer.model_id).where(scope)
    if model_id is not None:
        stmt = stmt.where(Offer.model_id == model_id)
    if state is not None:
        if state not in OFFER_STATES:
            raise InvalidInput(f"unknown offer state {state!r}: one of {', '.join(OFFER_STATES)}")
        stmt = stmt.where(Offer.state == state)
    return list(s.scalars(stmt))


def _transition(s: Session, offer_id: str, allowed: tuple[str, ...], **values) -> Offer:
    offer = get_offer(s, offer_id)
    changed = s.execute(update(Offer).where(Offer.id == offer.id, Offer.state.in_(allowed)).values(**values)).rowcount
    s.refresh(offer)
    if not changed:
        raise Conflict(f"offer {offer.id} is {offer.state}: only an offer that is {' or '.join(allowed)} can change so")
    return offer


def accept_offer(s: Session, offer_id: str, workflow_id: str) -> Offer:
    """An open offer, accepted: `workflow_id` compiles and checks it."""
    return _transition(s, offer_id, ("open",), state="accepted", workflow_id=workflow_id)


def dismiss_offer(s: Session, offer_id: str) -> Offer:
    """An open offer, dismissed by its model's owner."""
    return _transition(s, offer_id, ("open",), state="dismissed", closed_at=utcnow())


def close_offer(s: Session, offer_id: str, *, confirmed: bool, result: dict) -> Offer:
    """An accepted offer, closed by its workflow: confirmed on the device or not, with the figures measured."""
    state = "confirmed" if confirmed else "not_confirmed"
    return _transition(s, offer_id, ("accepted",), state=state, result=result, closed_at=utcnow())


def mark_notified(s: Session, offer_id: str) -> None:
    """The offer was sent to its model's owner (it is sent once)."""
    s.execute(update(Offer).where(Offer.id == offer_id).values(notified_at=utcnow()))


def improved_as_seen_by(s: Session, user: User, offer: Offer) -> list[dict]:
    """The offer's improved workloads as `user` may read them: `from_model` kept only when the user may see a model of
    that name (admins see every name), else None, so an offer never names another tenant's model."""
    named = {w.get("from_model") for w in offer.improved} - {None}
    if user.is_admin or not named:
        return list(offer.improved)
    seen = set(s.scalars(select(Model.name).where(visible_models(user), Model.name.in_(named))))
    return [{**w, "from_model": w.get("from_model") if w.get("from_model") in seen else None} for w in offer.improved]

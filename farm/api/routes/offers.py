"""Re-optimization offers: list and show them, accept one (a workflow compiles it from the tuning database's records
and keeps it only if it is faster on the device) or dismiss it; admins check for new ones on demand.

A user sees the offers of the models they may see, naming only models they may see (`offer_as_seen_by`);
members of a model's project accept and dismiss them. The server's dispatcher also checks periodically (`farm serve`).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status

from farm.api.auth import Admin, CurrentUser, Optimizer
from farm.api.deps import RegistryDep, SessionDep, SettingsDep, WorkflowsDep, WorkflowService
from farm.offers import THRESHOLD, offer_as_seen_by
from farm.registry import access, offers, workflow_records
from farm.registry.database import Registry
from farm.registry.schema import Offer, User
from farm.schemas import OfferOut

router = APIRouter(tags=["offers"])
State = Literal["open", "accepted", "dismissed", "confirmed", "not_confirmed"]


@router.get("/offers", response_model=list[OfferOut])
def list_offers(
    user: CurrentUser, s: SessionDep, model_id: str | None = None, state: State | None = None
) -> list[OfferOut]:
    """Offers for the models the user may see, newest first, filtered by model and state."""
    if model_id is not None:
        access.model(s, user, model_id)
    found = offers.list_offers(s, model_id=model_id, state=state, scope=access.visible_models(user))
    return [offer_as_seen_by(s, user, o) for o in found]


@router.get("/offers/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: str, user: CurrentUser, s: SessionDep) -> OfferOut:
    """One offer, with the workloads that improved and, once settled, the figures measured."""
    return offer_as_seen_by(s, user, access.offer(s, user, offer_id))


@router.post("/offers/check", response_model=list[OfferOut])
def check_offers(
    user: Admin,
    registry: RegistryDep,
    service: WorkflowsDep,
    threshold: float = Query(THRESHOLD, ge=0.0, lt=1.0, description="How much faster the estimate must be (0.1: 10%)."),
) -> list[Offer]:
    """Check every model's best variants against today's tuning records now; the offers made. Admins only."""
    if service is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "this server has no workflow service: it cannot read the tuning database"
        )
    made = service.check_offers(threshold)
    with registry.session(read_only=True) as s:
        return [offers.get_offer(s, offer_id) for offer_id in made]


@router.post("/offers/{offer_id}/accept", response_model=OfferOut)
def accept_offer(
    offer_id: str, user: Optimizer, registry: RegistryDep, service: WorkflowsDep, settings: SettingsDep
) -> OfferOut:
    """Start the workflow that compiles the offered variant from the tuning database's records (0 new measurements),
    benchmarks it on the device and keeps it only if it is faster. Members of the model's project."""
    offer = accept_as(registry, service, user, offer_id, settings.max_workflows_per_user)
    with registry.session(read_only=True) as s:
        return offer_as_seen_by(s, user, offer)


def accept_as(
    registry: Registry, service: WorkflowService | None, user: User, offer_id: str, max_workflows_per_user: int
) -> Offer:
    """Accept the offer on `user`'s behalf if they may (the offer as it stands then); its workflow is submitted."""
    with registry.session() as s:
        offer = access.offer(s, user, offer_id, access.MEMBER)
        workflow = workflow_records.create_workflow(
            s,
            offer.model_id,
            targets=[offer.kind],
            options={"trials": 0, "offer_id": offer.id},
            created_by=user.id,
            max_active=None if user.is_admin else max_workflows_per_user,
        )
        offer = offers.accept_offer(s, offer.id, workflow.id)
    if service is not None:
        service.submit(workflow.id)
    return offer


@router.post("/offers/{offer_id}/dismiss", response_model=OfferOut)
def dismiss_offer(offer_id: str, user: Optimizer, registry: RegistryDep) -> OfferOut:
    """Decline an open offer; the variant is offered again only for a clearly better estimate. Members of the project."""
    with registry.session() as s:
        access.offer(s, user, offer_id, access.MEMBER)
        return offer_as_seen_by(s, user, offers.dismiss_offer(s, offer_id))

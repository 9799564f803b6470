"""Device prices: every user reads them, admins set and remove them (benchmarks report cost per million inferences from them)."""

from __future__ import annotations

from fastapi import APIRouter, status

from farm.api.auth import Admin, CurrentUser
from farm.api.deps import RegistryDep, SessionDep
from farm.api.schemas import PriceIn, PriceOut
from farm.registry import prices
from farm.registry.schema import DevicePrice

router = APIRouter(prefix="/prices", tags=["prices"])


@router.get("", response_model=list[PriceOut])
def list_prices(_: CurrentUser, s: SessionDep) -> list[DevicePrice]:
    """What an hour of each priced device kind costs: the basis of cost per million inferences."""
    return prices.list_prices(s)


@router.put("/{kind}", response_model=PriceOut)
def set_price(kind: str, body: PriceIn, admin: Admin, registry: RegistryDep) -> DevicePrice:
    """Set the hourly price of a device kind. Admins only."""
    with registry.session() as s:
        return prices.set_price(s, kind, body.usd_per_hour, updated_by=admin.id)


@router.delete("/{kind}", status_code=status.HTTP_204_NO_CONTENT)
def delete_price(kind: str, _: Admin, registry: RegistryDep) -> None:
    """Remove a device kind's price. Admins only."""
    with registry.session() as s:
        prices.delete_price(s, kind)

"""Device prices: the hourly price of each device kind, which admins set and benchmarks read."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from farm.registry.errors import InvalidInput, NotFound
from farm.registry.schema import DevicePrice, utcnow
from farm.registry.validation import check_name


def set_price(s: Session, kind: str, usd_per_hour: float, *, updated_by: str | None = None) -> DevicePrice:
    """Set (or change) what an hour of `kind` costs, in US dollars."""
    if (
        isinstance(usd_per_hour, bool)
        or not isinstance(usd_per_hour, (int, float))
        or not math.isfinite(usd_per_hour)
        or usd_per_hour < 0
    ):
        raise InvalidInput(f"a price per hour must be a finite number >= 0, not {usd_per_hour!r}")
    kind = check_name(kind, "device kind")
    price = s.get(DevicePrice, kind) or DevicePrice(kind=kind)
    price.usd_per_hour, price.updated_by, price.updated_at = float(usd_per_hour), updated_by, utcnow()
    s.add(price)
    s.flush()
    return price


def delete_price(s: Session, kind: str) -> None:
    """Forget the price of `kind` (its benchmarks then report no cost)."""
    price = s.get(DevicePrice, kind)
    if price is None:
        raise NotFound(f"no price is set for device kind {kind!r}")
    s.delete(price)


def list_prices(s: Session) -> list[DevicePrice]:
    """Every price set, by kind."""
    return list(s.scalars(select(DevicePrice).order_by(DevicePrice.kind)))


def price_of(s: Session, kind: str) -> float | None:
    """The hourly price of `kind`, or None when no admin set one."""
    price = s.get(DevicePrice, kind)
    return price.usd_per_hour if price else None

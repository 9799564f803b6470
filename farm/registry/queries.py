"""Query helpers shared by the registry's modules: fetch a record by id or say it is missing, and paginate."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from farm.registry.errors import InvalidInput, NotFound
from farm.registry.schema import Base

T = TypeVar("T", bound=Base)

MAX_LIMIT = 1000
"""The largest page an interface (the REST API) serves; the registry's own callers may ask for more."""


def fetch(s: Session, cls: type[T], record_id: str) -> T:
    """The record of `cls` with this id, or `NotFound` naming what was missing."""
    record = s.get(cls, record_id) if isinstance(record_id, str) else None
    if record is None:
        raise NotFound(f"{cls.label} {record_id} not found")
    return record


def check_page(offset: int, limit: int) -> None:
    """Refuse a negative offset or a limit below 1."""
    if offset < 0:
        raise InvalidInput(f"offset must be 0 or more, not {offset}")
    if limit < 1:
        raise InvalidInput(f"limit must be 1 or more, not {limit}")


def page(s: Session, stmt: Select, offset: int, limit: int) -> tuple[list, int]:
    """One page of an ordered query's rows and the total number of rows it matches."""
    check_page(offset, limit)
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(s.scalars(stmt.offset(offset).limit(limit))), int(total or 0)

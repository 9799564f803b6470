"""The registry's tables as a SQLAlchemy 2 declarative ORM.

Ids are `uuid4().hex` strings; times are timezone-aware UTC datetimes (stored as UTC,
read back with `tzinfo=UTC` even on SQLite, which keeps no zone). JSON columns hold
plain lists and dicts: assign a new value to change one, never mutate it in place.

`variants.workflow_id` and `workflows.input_variant_id` point at each other; the
variants side is created with `use_alter`, so databases that support ALTER add it
after both tables exist. The migration in `migrations/versions/0001_initial.py`
creates exactly these tables.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    """A fresh record id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A datetime stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: registry times must be timezone-aware")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every registry table; `label` names a record in messages."""

    label: ClassVar[str]


def _id() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class User(Base):
    __tablename__ = "users"
    label = "user"

    id: Mapped[str] = _id()
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    can_optimize: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(
        String(64), default=lambda: secrets.token_hex(32)
    )  # signs their webhooks
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    label = "API token"

    id: Mapped[str] = _id()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # to the minute (`accounts.LAST_USED_EVERY`)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Project(Base):
    __tablename__ = "projects"
    label = "project"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = _created()


PROJECT_ROLES = ("viewer", "member", "owner")
"""A project member's roles, each allowing what the ones before it do (`farm.registry.access`)."""


class ProjectMember(Base):
    """A user's role in a project: `viewer` sees and downloads, `member` also uploads, edits and optimizes, `owner` also manages."""

    __tablename__ = "project_members"
    label = "project member"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = _created()


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_models_project_name"),)
    label = "model"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    labels: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    inputs: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    outputs: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    sample_inputs_key: Mapped[str | None] = mapped_column(String(64))  # the `.npz` its workflows measure agreement on
    sample_inputs_count: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created()


class Variant(Base):
    __tablename__ = "variants"
    label = "variant"

    id: Mapped[str] = _id()
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(128), nullable=False)
    target: Mapped[dict | None] = mapped_column(JSON)
    target_key: Mapped[str | None] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("variants.id"))
    workflow_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflows.id", use_alter=True, name="fk_variants_workflow_id"), index=True
    )
    artifact_key: Mapped[str] = mapped_column(String(64), nullable=False)
    artifact_name: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    metrics: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()


WORKFLOW_STATES = ("pending", "running", "completed", "failed", "cancelled")
ACTIVE_STATES = ("pending", "running")


class Workflow(Base):
    __tablename__ = "workflows"
    label = "workflow"

    id: Mapped[str] = _id()
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), nullable=False, index=True)
    input_variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), nullable=False)
    targets: Mapped[list] = mapped_column(JSON, nullable=False)
    options: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    progress: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    driver: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outputs: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)


class ProgressPoint(Base):
    """One step of a workflow's progress for a device kind: trials measured and the estimated latency then.

    The driver appends one whenever either moves (`workflow_records.update_progress`), so
    the dashboard can draw the best latency over trials; points go with their workflow.
    """

    __tablename__ = "progress_points"
    label = "progress point"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[datetime] = _created()
    trials: Mapped[int] = mapped_column(Integer, nullable=False)
    best_latency_ms: Mapped[float | None] = mapped_column(Float)


class BenchmarkResult(Base):
    __tablename__ = "benchmark_results"
    label = "benchmark result"

    id: Mapped[str] = _id()
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), nullable=False, index=True)
    workflow_id: Mapped[str | None] = mapped_column(ForeignKey("workflows.id"), index=True)
    kind: Mapped[str] = mapped_column(String(128), nullable=False)
    results: Mapped[dict] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = _created()


class Package(Base):
    __tablename__ = "packages"
    label = "package"

    id: Mapped[str] = _id()
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), nullable=False, index=True)
    workflow_id: Mapped[str | None] = mapped_column(ForeignKey("workflows.id"), index=True)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    artifact_key: Mapped[str] = mapped_column(String(64), nullable=False)
    artifact_name: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = _created()


OFFER_STATES = ("open", "accepted", "dismissed", "confirmed", "not_confirmed")


class Offer(Base):
    """A faster variant the tuning database's newer records promise for a model's best variant of a kind.

    `estimated_latency_ms` is the variant's TVM latency scaled by how much the best records of
    its workloads improved since it was compiled (nothing measured); `improved` lists those
    workloads: task, key, old and new microseconds, the model whose tuning found the better one.
    Accepting it starts a workflow that compiles from the records (`workflow_id`); that workflow
    confirms it or closes it as not confirmed on the device, with both figures in `result`.
    """

    __tablename__ = "offers"
    label = "offer"

    id: Mapped[str] = _id()
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), nullable=False, index=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("variants.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(128), nullable=False)
    old_latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    estimated_latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    improved: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="open", index=True)
    workflow_id: Mapped[str | None] = mapped_column(ForeignKey("workflows.id"))
    result: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DevicePrice(Base):
    """What an hour of a device kind costs, set by an admin; benchmarks turn it into a cost per million inferences."""

    __tablename__ = "device_prices"
    label = "device price"

    kind: Mapped[str] = mapped_column(String(128), primary_key=True)
    usd_per_hour: Mapped[float] = mapped_column(Float, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = _created()

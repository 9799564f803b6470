"""Request and response bodies of the REST API; responses are read straight from the registry's records."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    computed_field,
    field_validator,
    model_validator,
)

from farm.registry.views import Record

T = TypeVar("T")

# Upper bounds of what a request may ask for (a 422 names the field and its bound): one place for them all.
MAX_TRIALS = 100_000  # per kind
MAX_KINDS = 64
MAX_NAME = 128  # characters of a kind or a metric name
MAX_WARMUP = 10_000
MAX_REPEAT = 100_000
MAX_BATCH_SIZES, MAX_BATCH = 16, 4096
MAX_SLA_MS = 3_600_000.0
MAX_PRIORITIES = 32
MAX_INPUT_ELEMENTS = 1 << 28  # per input (1 GiB of float32): the product of its dimensions


class Page(BaseModel, Generic[T]):
    """One page of a listing and how many records match in all."""

    items: list[T]
    total: int
    offset: int
    limit: int


class UserOut(Record):
    id: str
    email: str
    is_admin: bool
    can_optimize: bool
    is_active: bool
    webhook_url: str | None
    created_at: datetime

    @computed_field
    @property
    def read_only(self) -> bool:
        """Neither admin nor optimizer: may list, show and download only."""
        return not (self.is_admin or self.can_optimize)


class MeOut(UserOut):
    """The calling user, with the secret that signs the webhooks the farm sends them (`X-Farm-Signature`)."""

    webhook_secret: str | None


class UserCreate(BaseModel):
    email: str
    admin: bool = False
    can_optimize: bool = True
    read_only: bool = False


class UserUpdate(BaseModel):
    """Fields to change; `read_only: true` takes both roles away, `read_only: false` grants can-optimize."""

    admin: bool | None = None
    can_optimize: bool | None = None
    read_only: bool | None = None
    is_active: bool | None = None
    webhook_url: str | None = Field(
        None, description="An http(s) URL notified when the user's workflows end; an empty string removes it."
    )

    @model_validator(mode="after")
    def _roles_agree(self) -> UserUpdate:
        if self.read_only and (self.admin or self.can_optimize):
            raise ValueError("read_only cannot be combined with admin or can_optimize set to true")
        return self

    def roles(self) -> dict[str, bool | None]:
        """The `is_admin` and `can_optimize` values this update sets (None: unchanged)."""
        if self.read_only:
            return {"is_admin": False, "can_optimize": False}
        can_optimize = True if self.read_only is False and self.can_optimize is None else self.can_optimize
        return {"is_admin": self.admin, "can_optimize": can_optimize}


class TokenCreate(BaseModel):
    name: str = Field("default", max_length=128)
    expires_in_days: PositiveInt | None = Field(
        None, le=3650, description="Days the token is valid (default: until revoked)."
    )

    @property
    def expires_in(self) -> timedelta | None:
        return timedelta(days=self.expires_in_days) if self.expires_in_days is not None else None


class TokenOut(Record):
    id: str
    user_id: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="When the token was last used, to the minute.")
    expires_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once, only its hash is stored.")


class ProjectCreate(BaseModel):
    name: str
    description: str = ""


class ProjectUpdate(BaseModel):
    name: str | None = None
    description: str | None = None


class ProjectOut(Record):
    id: str
    name: str
    description: str
    created_at: datetime


class TensorOut(BaseModel):
    name: str
    dtype: str
    shape: list[int | str] = Field(description="Dimensions; a string names a dynamic one.")


class ModelOut(Record):
    id: str
    name: str
    description: str
    labels: list[str]
    project_id: str | None = Field(description="None for a detached model.")
    inputs: list[TensorOut]
    outputs: list[TensorOut]
    created_by: str | None
    created_at: datetime


class ModelUpdate(BaseModel):
    name: str | None = None
    description: str | None = None
    labels: list[str] | None = Field(None, description="Replaces every label.")


class ModelMove(BaseModel):
    project_id: str | None = Field(description="The project to move into; null detaches the model.")


class VariantOut(Record):
    id: str
    model_id: str
    kind: str = Field(description="'original' or the device kind it was tuned for.")
    target: dict[str, Any] | None
    target_key: str | None
    parent_id: str | None
    workflow_id: str | None
    artifact_key: str
    artifact_name: str
    size_bytes: int
    metrics: dict[str, Any]
    created_at: datetime


class Stages(BaseModel):
    """Which stages a workflow runs (`farm.stages`)."""

    autotune: bool = Field(
        True,
        description="Tune a variant per device kind with TVM. Cannot be false: the other stages work on its variants.",
    )
    benchmark: bool = Field(True, description="Time every variant against ONNX Runtime on a node of its kind.")
    package: bool = Field(
        False,
        description="Rank the variants and package them: a wheel and a shared-object tarball per kind, a ranked-candidates zip and a Docker build context.",
    )


class BenchmarkSpec(BaseModel):
    warmup: NonNegativeInt = Field(5, le=MAX_WARMUP)
    repeat: PositiveInt = Field(50, le=MAX_REPEAT)
    batch_sizes: list[Annotated[PositiveInt, Field(le=MAX_BATCH)]] = Field(
        default_factory=list,
        max_length=MAX_BATCH_SIZES,
        description="Batch sizes to re-compile and benchmark (the model's first input dimension must be dynamic).",
    )
    sla_ms: PositiveFloat | None = Field(
        None,
        le=MAX_SLA_MS,
        description="A p90 latency SLA: the benchmark reports the largest batch size that meets it.",
    )


Name = Annotated[str, Field(max_length=MAX_NAME)]


class WorkflowCreate(BaseModel):
    model_id: str = Field(max_length=64)
    targets: list[Name] = Field(
        min_length=1, max_length=MAX_KINDS, description="Device kinds to tune for, e.g. ['x86-64-v3', 'znver4']."
    )
    trials: PositiveInt = Field(200, le=MAX_TRIALS, description="Trials to measure per kind, over all tasks.")
    trials_per_task: PositiveInt | None = Field(None, le=MAX_TRIALS)
    input_shapes: dict[Name, list[PositiveInt]] | None = Field(
        None,
        max_length=MAX_KINDS,
        description=(
            f"Static shapes for inputs with dynamic dimensions (at most {MAX_INPUT_ELEMENTS:,} elements per input)."
        ),
    )
    stages: Stages = Stages()
    benchmark: BenchmarkSpec = BenchmarkSpec()
    priorities: list[Name] | None = Field(
        None,
        max_length=MAX_PRIORITIES,
        description="Metrics ranking the variants, most important first; '-' before a name means lower is better (default: agrees, then -best_latency_ms: the latency of the engine each variant runs).",
    )
    webhook_url: str | None = Field(
        None, max_length=2048, description="Notified when the workflow ends (default: the user's webhook URL)."
    )

    @field_validator("input_shapes")
    @classmethod
    def _bounded_inputs(cls, shapes: dict[str, list[int]] | None) -> dict[str, list[int]] | None:
        for name, dims in (shapes or {}).items():
            if len(dims) > 16 or math.prod(dims) > MAX_INPUT_ELEMENTS:
                raise ValueError(
                    f"input {name!r} of shape {dims} is over the bound of 16 dimensions and {MAX_INPUT_ELEMENTS:,} elements"
                )
        return shapes

    def options(self) -> dict[str, Any]:
        """The workflow's options as the registry stores them."""
        return self.model_dump(
            include={"trials", "trials_per_task", "input_shapes", "stages", "benchmark", "priorities"}
        )


class BenchmarkOut(Record):
    id: str
    variant_id: str
    workflow_id: str | None
    kind: str
    results: dict[str, Any]
    created_at: datetime


class PackageOut(Record):
    id: str
    variant_id: str
    workflow_id: str | None
    format: str = Field(description="wheel, tarball, zip (ranked candidates) or dockerfile (a Docker build context).")
    artifact_name: str
    size_bytes: int
    created_at: datetime


class PriceIn(BaseModel):
    usd_per_hour: float = Field(
        ge=0, allow_inf_nan=False, description="What an hour of the device kind costs, in US dollars."
    )


class PriceOut(Record):
    kind: str
    usd_per_hour: float
    updated_by: str | None
    updated_at: datetime


class TargetOut(BaseModel):
    """A device kind the cluster serves."""

    model_config = ConfigDict(extra="allow")

    name: str
    platform: str
    target: dict[str, Any]
    nodes: int


class Health(BaseModel):
    status: str
    version: str

"""A workflow's options: one schema, with its defaults and bounds, for the API, the registry, the engine, the CLI and the SDK.

`WorkflowOptions` is what a user chooses (how many trials, which stages, how to benchmark,
how to rank); the API takes it in a request, the CLI and the SDK build it from their
arguments (their defaults are its defaults), the registry validates and stores it
(`StoredWorkflowOptions`, which adds what the farm itself sets: the offer a workflow checks)
and the workflow engine reads it back typed. Options stored before this schema existed
hold the same fields and validate unchanged; a field it does not know is ignored. It
imports only pydantic, so the SDK and CLI stay quick to start.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from .precision import DEFAULT_TOLERANCE, Tolerance
from .schema_base import Schema
from .stages import REQUIRED_STAGES, SPECS, STAGES

# Upper bounds of what a workflow may ask for (a 422 names the field and its bound): one place for them all.
MAX_TRIALS = 100_000  # per kind
MAX_KINDS = 64
MAX_NAME = 128  # characters of a kind, an input or a metric name
MAX_WARMUP = 10_000
MAX_REPEAT = 100_000
MAX_BATCH_SIZES, MAX_BATCH = 16, 4096
MAX_SLA_MS = 3_600_000.0
MAX_PRIORITIES = 32
MAX_INPUT_ELEMENTS = 1 << 28  # per input (1 GiB of float32): the product of its dimensions
MAX_INPUT_DIMS = 16
WARMUP, REPEAT = 5, 50  # the benchmark's untimed and timed inferences per configuration, unless the workflow says

Name = Annotated[str, Field(max_length=MAX_NAME)]


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")  # noqa: TRY004 - pydantic reports only ValueError
    return value


Count = Annotated[int, BeforeValidator(_not_a_bool)]  # an integer that a JSON true/false does not pass for


class _StageSwitches(Schema):
    """Which stages a workflow runs (`farm.stages`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    @model_validator(mode="after")
    def _required(self) -> _StageSwitches:
        for name in REQUIRED_STAGES:
            if not getattr(self, name):
                raise ValueError(f"the {name} stage cannot be turned off: the other stages work on its variants")
        return self

    def chosen(self) -> list[str]:
        """The stages on, in their order."""
        return [stage for stage in STAGES if getattr(self, stage)]


# one switch per stage a user may see, generated from the stage table (a new stage brings its switch)
Stages = create_model(
    "Stages",
    __base__=_StageSwitches,
    **{name: (bool, Field(SPECS[name].default, description=SPECS[name].description)) for name in STAGES},
)


class BenchmarkOptions(Schema):
    """How the benchmark stage times the variants."""

    warmup: Count = Field(WARMUP, ge=0, le=MAX_WARMUP)
    """Runs before timing starts."""
    repeat: Count = Field(REPEAT, gt=0, le=MAX_REPEAT)
    """Timed runs per engine and batch size."""
    batch_sizes: list[Annotated[Count, Field(gt=0, le=MAX_BATCH)]] = Field(
        default_factory=list,
        max_length=MAX_BATCH_SIZES,
        description="Batch sizes to prepare and time again (the model's first input dimension must be dynamic).",
    )
    sla_ms: PositiveFloat | None = Field(
        None,
        le=MAX_SLA_MS,
        description="A p90 latency SLA: the benchmark reports the largest batch size that meets it.",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _sorted(cls, sizes: list[int]) -> list[int]:
        return sorted(set(sizes))


class WorkflowOptions(Schema):
    """What a workflow does for each kind: its tuning budget, the shapes to tune at, its stages, benchmark and ranking."""

    trials: Count = Field(
        200,
        ge=0,
        le=MAX_TRIALS,
        description="Trials to measure per kind, over all tasks; 0 compiles from the tuning database's records.",
    )
    trials_per_task: Count | None = Field(None, gt=0, le=MAX_TRIALS)
    """At most this many trials per tuning task (default: no cap)."""
    input_shapes: dict[Name, list[Annotated[Count, Field(gt=0)]]] | None = Field(
        None,
        max_length=MAX_KINDS,
        description=(
            f"Static shapes for inputs with dynamic dimensions (at most {MAX_INPUT_DIMS} dimensions and "
            f"{MAX_INPUT_ELEMENTS:,} elements per input)."
        ),
    )
    stages: Stages = Stages()
    """Which stages run."""
    benchmark: BenchmarkOptions = BenchmarkOptions()
    """Warm-up, repeats, batch sizes and SLA of the benchmark stage."""
    precision: Literal["exact", "bf16"] = Field(
        "exact",
        description="exact: only configurations that agree with the fp32 original; bf16: also bfloat16 ones within "
        "`tolerance`, on nodes whose CPU computes bf16 natively (farm.precision).",
    )
    tolerance: str | None = Field(
        None,
        max_length=64,
        description=f"How far a bf16 configuration may stray: rel=R and/or top1=F (default {DEFAULT_TOLERANCE}).",
    )
    priorities: list[Name] | None = Field(
        None,
        max_length=MAX_PRIORITIES,
        description="Metrics ranking the variants, most important first; '-' before a name means lower is better "
        "(default: agrees, then -best_latency_ms: the latency of the engine each variant runs).",
    )

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, text: str | None) -> str | None:
        return None if text is None else Tolerance.parse(text).as_text()

    @field_validator("input_shapes")
    @classmethod
    def _bounded_inputs(cls, shapes: dict[str, list[int]] | None) -> dict[str, list[int]] | None:
        for name, dims in (shapes or {}).items():
            if not dims or len(dims) > MAX_INPUT_DIMS or math.prod(dims) > MAX_INPUT_ELEMENTS:
                raise ValueError(
                    f"input {name!r} of shape {dims} is not within 1 to {MAX_INPUT_DIMS} dimensions and "
                    f"{MAX_INPUT_ELEMENTS:,} elements"
                )
        return shapes

    def __getitem__(self, name: str) -> object:
        """A field read as from the dict the options were before this schema (`options["trials"]`): SDK code written
        then keeps working; nested fields read as dicts."""
        if name not in type(self).model_fields:
            raise KeyError(name)
        return self.model_dump()[name]

    def get(self, name: str, default: object = None) -> object:
        return self[name] if name in type(self).model_fields else default

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The input shapes as the model importer takes them."""
        return {name: tuple(dims) for name, dims in (self.input_shapes or {}).items()}


DEFAULTS = WorkflowOptions()  # the defaults the CLI's options show


def build_options(**fields: object) -> WorkflowOptions:
    """`WorkflowOptions` of `fields` (None: the default); `ValueError` naming each field that is wrong."""
    try:
        return WorkflowOptions.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as e:
        raise ValueError(problems(e)) from None


def problems(error: ValidationError) -> str:
    """A validation error in one line: each wrong field's path and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()
    )


class StoredWorkflowOptions(WorkflowOptions):
    """A workflow's options as the registry stores them: the user's, and what the farm sets itself."""

    offer_id: str | None = Field(None, max_length=64)
    """The offer the workflow checks (set when an offer is accepted), else None."""

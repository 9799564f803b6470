"""Registry records as JSON documents: what the REST API answers and what a workflow's webhook carries, in one place.

The engine (`farm.workflows`) sends a finished workflow to its webhook as the API shows
it, so both read the same model from here rather than the engine depending on the HTTP
layer (`farm.api.schemas` builds its other responses on `Record`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    """A JSON document of the API; the docstring under each field is its description in the OpenAPI schema (`/docs`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class Record(Schema):
    """A response built from an ORM record's attributes."""

    model_config = ConfigDict(from_attributes=True, use_attribute_docstrings=True)


class WorkflowOut(Record):
    id: str
    """The workflow's id."""
    model_id: str
    """The model it optimizes."""
    input_variant_id: str
    """The variant it starts from (the original model)."""
    targets: list[str]
    """The device kinds it tunes for."""
    options: dict[str, Any]
    """Trials, input shapes, stages, benchmark settings and priorities, as given (with defaults filled in)."""
    state: str = Field(description="pending, running, completed, failed or cancelled.")
    progress: dict[str, Any] = Field(description="Per kind: stage, trials, total, best_latency_ms.")
    error: str | None
    """Why it failed; null otherwise."""
    created_by: str
    """The id of the user who started it."""
    webhook_url: str | None
    """Notified when it ends."""
    created_at: datetime
    """When it was created."""
    started_at: datetime | None
    """When a driver started it."""
    finished_at: datetime | None
    """When it ended."""
    outputs: dict[str, Any]
    """The variants, benchmarks and packages it made, by kind."""

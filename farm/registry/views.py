"""Registry records as JSON documents: what the REST API answers and what a workflow's webhook carries, in one place.

The engine (`farm.workflows`) sends a finished workflow to its webhook as the API shows
it, so both read the same model from here rather than the engine depending on the HTTP
layer (`farm.api.schemas` builds its other responses on `Record`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """A response built from an ORM record's attributes."""

    model_config = ConfigDict(from_attributes=True)


class WorkflowOut(Record):
    id: str
    model_id: str
    input_variant_id: str
    targets: list[str]
    options: dict[str, Any]
    state: str = Field(description="pending, running, completed, failed or cancelled.")
    progress: dict[str, Any] = Field(description="Per kind: stage, trials, total, best_latency_ms.")
    error: str | None
    created_by: str
    webhook_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    outputs: dict[str, Any]

"""The farm's records as JSON documents: what the REST API answers, what a workflow's webhook carries and what the SDK reads.

One model per record, for three readers: the API (`farm.api.schemas` builds its other
bodies on `Schema` and `Record`), the engine (`farm.workflows` sends a finished workflow
to its webhook as the API shows it, without depending on the HTTP layer) and the SDK
(`farm.client`'s records are these models with a client attached). It imports only
pydantic, so the SDK and CLI stay quick to start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .schema_base import Record, Schema
from .workflow_options import StoredWorkflowOptions


class ProjectOut(Record):
    id: str
    """The project's id."""
    name: str
    """The project's name."""
    description: str
    """Free text."""
    created_at: datetime
    """When the project was created."""


class TensorOut(Schema):
    name: str
    """The tensor's name in the ONNX graph."""
    dtype: str
    """Its element type, e.g. float32."""
    shape: list[int | str] = Field(description="Dimensions; a string names a dynamic one.")


class ModelOut(Record):
    id: str
    """The model's id."""
    name: str
    """Its name, unique within its project."""
    description: str
    """Free text."""
    labels: list[str]
    """Labels to filter models by."""
    project_id: str | None = Field(description="None for a detached model.")
    inputs: list[TensorOut]
    """The ONNX graph's inputs."""
    outputs: list[TensorOut]
    """The ONNX graph's outputs."""
    created_by: str | None
    """The uploader's id."""
    created_at: datetime
    """When it was uploaded."""


class VariantOut(Record):
    id: str
    """The variant's id."""
    model_id: str
    """The model it is a variant of."""
    kind: str = Field(description="'original' or the device kind it was tuned for.")
    target: dict[str, Any] | None
    """The TVM target it was compiled for; null for the original."""
    target_key: str | None
    """The tuning database's key of that target."""
    parent_id: str | None
    """The variant it was made from (the original model)."""
    workflow_id: str | None
    """The workflow that made it."""
    artifact_key: str
    """SHA-256 of its stored artifact."""
    artifact_name: str
    """The file name it downloads as."""
    size_bytes: int
    """Its artifact's size."""
    metrics: dict[str, Any]
    """What the farm measured of it: engine, latencies (ms) against ONNX Runtime, agreement, trials, cost per million inferences where priced."""
    created_at: datetime
    """When it was recorded."""


class BenchmarkOut(Record):
    id: str
    """The benchmark's id."""
    variant_id: str
    """The variant timed."""
    workflow_id: str | None
    """The workflow that ran it."""
    kind: str
    """The device kind it ran on."""
    results: dict[str, Any]
    """Latency statistics per engine and batch size, agreement with ONNX Runtime, the SLA's batch size."""
    created_at: datetime
    """When it was recorded."""


class PackageOut(Record):
    id: str
    """The package's id."""
    variant_id: str
    """The variant packaged."""
    workflow_id: str | None
    """The workflow that packaged it."""
    format: str = Field(description="wheel, tarball, zip (ranked candidates) or dockerfile (a Docker build context).")
    artifact_name: str
    """The file name it downloads as."""
    size_bytes: int
    """Its size."""
    created_at: datetime
    """When it was built."""


class WorkflowOut(Record):
    id: str
    """The workflow's id."""
    model_id: str
    """The model it optimizes."""
    input_variant_id: str
    """The variant it starts from (the original model)."""
    targets: list[str]
    """The device kinds it tunes for."""
    options: StoredWorkflowOptions
    """Trials, input shapes, stages, benchmark settings and priorities, as given (with defaults filled in)."""
    state: str = Field(description="pending, running, completed, failed or cancelled.")
    progress: dict[str, Any] = Field(
        description=(
            "Per kind: stage, trials, total, best_latency_ms, and while tuning `tasks` (the task table: task, flops,"
            " weight, trials, best_us, gflops, done); once tuned, `profile` (seconds by phase) and `reuse`."
        )
    )
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


class OfferOut(Record):
    id: str
    """The offer's id."""
    model_id: str
    """The model it concerns."""
    variant_id: str
    """The model's best variant of the kind when the offer was made."""
    kind: str
    """The device kind."""
    old_latency_ms: float
    """That variant's measured latency (of the engine it runs)."""
    estimated_latency_ms: float
    """Its TVM latency with the tuning database's best records today, estimated without measuring."""
    improved: list[dict[str, Any]]
    """The workloads whose best record improved: task, workload_key, old_us, new_us, from_model."""
    state: str = Field(description="open, accepted, dismissed, confirmed or not_confirmed.")
    workflow_id: str | None
    """The workflow that compiles and checks it, once accepted."""
    result: dict[str, Any]
    """Once closed: old and new latency, each against ONNX Runtime, the new variant's id or why it was not kept."""
    created_at: datetime
    """When it was made."""
    closed_at: datetime | None
    """When it was dismissed or settled."""

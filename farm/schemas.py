"""The farm's records as JSON documents: what the REST API answers, what a workflow's webhook carries and what the SDK reads.

One model per record, for three readers: the API (`farm.api.schemas` builds its other
bodies on `Schema` and `Record`), the engine (`farm.workflows` sends a finished workflow
to its webhook as the API shows it, without depending on the HTTP layer) and the SDK
(`farm.client`'s records are these models with a client attached). It imports only
pydantic, so the SDK and CLI stay quick to start.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from .schema_base import Record, Schema
from .workflow_options import StoredWorkflowOptions


def repr_digest(sha256: bytes) -> str:
    """A download's `Repr-Digest` header (RFC 9530) for the SHA-256 `sha256` of its bytes: `sha-256=:<base64>:`."""
    return f"sha-256=:{base64.b64encode(sha256).decode()}:"


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
    sample_inputs_count: int | None = None
    """How many of its sample inputs (`PUT /models/{id}/sample-inputs`) its workflows measure agreement on; None:
    it has none, and agreement is measured on generated inputs."""
    created_by: str | None
    """The uploader's id."""
    created_at: datetime
    """When it was uploaded."""


class OtherPrecision(Schema):
    """What the precision the user did not allow would have given on the same node (measured beside the chosen engine)."""

    precision: str
    """The precision (for example bf16)."""
    engine: str
    """The engine of its fastest configuration that agrees within the tolerance."""
    config: str
    """That configuration's label."""
    latency_ms: float
    """Its median latency."""
    speedup: float
    """The chosen engine's latency over it."""
    max_abs_diff: float
    """Its largest absolute difference from the fp32 original's outputs."""
    max_rel_diff: float
    """Its largest relative difference."""
    samples: int
    """How many inputs agreement was measured on (the model's sample inputs, else generated ones)."""
    top1: float | None = None
    """The share of samples whose top class matches, where the outputs are class scores."""


class VariantMetrics(Schema):
    """What the farm measured of a variant (a field it did not measure is absent); further keys may follow."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    engine: str | None = None
    """The engine the variant runs (tvm, onnxruntime, hybrid, ...)."""
    best_latency_ms: float | None = None
    """Median latency of that engine at its best settings, batch 1."""
    ort_latency_ms: float | None = None
    """Median latency of ONNX Runtime's default session on the same node."""
    tvm_latency_ms: float | None = None
    """Median latency of the tuned TVM library at its best thread count."""
    speedup_vs_ort: float | None = None
    """ONNX Runtime's default latency over TVM's."""
    max_abs_diff: float | None = None
    """Largest absolute difference of TVM's outputs from ONNX Runtime's."""
    max_rel_diff: float | None = None
    """Largest relative difference of TVM's outputs from ONNX Runtime's."""
    agrees: bool | None = None
    """Whether the engine the variant runs computes what the ONNX model computes."""
    precision: str | None = None
    """The precision the variant was chosen at (exact: it agrees with the fp32 original)."""
    other_precision: OtherPrecision | None = None
    """What the precision not allowed would give, where one was measured."""
    best_p90_ms: float | None = None
    """p90 latency of the engine the variant runs (once benchmarked)."""
    tvm_p90_ms: float | None = None
    """p90 latency of the TVM library (once benchmarked)."""
    throughput_per_s: float | None = None
    """Inferences per second of the engine the variant runs, batch 1 (once benchmarked)."""
    cost_per_million_usd: float | None = None
    """US dollars per million inferences at the kind's price (where an admin set one)."""
    ort_cost_per_million_usd: float | None = None
    """The same for ONNX Runtime's default session."""
    tasks: int | None = None
    """Tuning tasks of the model for the kind."""
    tasks_tuned: int | None = None
    """Tasks searched in this tune (the others the database already knew well enough)."""
    trials_measured: int | None = None
    """Candidates measured on the device for this kind."""
    trials_reused: int | None = None
    """Records of earlier tunes the variant was compiled with."""
    tuning_seconds: float | None = None
    """Wall time of the search."""
    compile_seconds: float | None = None
    """Wall time of the final compilation."""
    hybrid: dict[str, Any] | None = None
    """The per-kernel hybrid's plan: built or not, kernels per engine, each kernel's timings."""
    workloads: dict[str, Any] | None = None
    """Per workload key: task, weight and the best record's µs the variant was compiled with."""


class KindProgress(Schema):
    """Where a workflow is for one device kind; further keys may follow."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    stage: str | None = None
    """pending, a tuning stage, benchmarking, packaging, done."""
    trials: int | None = None
    """Trials measured so far."""
    total: int | None = None
    """Trials planned."""
    best_latency_ms: float | None = None
    """The model's latency estimated from the best records so far."""
    best_so_far: dict[str, Any] | None = None
    """The variant written so far (engine, latency_ms): the fastest library engine, timed before tuning."""
    tasks: list[dict[str, Any]] | None = None
    """While tuning, the task table: task, flops, weight, trials, best_us, gflops, done."""
    profile: dict[str, Any] | None = None
    """Once tuned: seconds by phase of the search."""
    reuse: dict[str, Any] | None = None
    """Once tuned: trials measured and reused, samples the cost model was pre-trained on."""


def documented(model: type[BaseModel]) -> WithJsonSchema:
    """A JSON field stored and served as the farm wrote it, documented in OpenAPI by `model`'s schema."""
    return WithJsonSchema(model.model_json_schema())


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
    metrics: Annotated[dict[str, Any], documented(VariantMetrics)]
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
    artifact_key: str
    """SHA-256 of its file (the download's `Repr-Digest` says the same)."""
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
    progress: dict[str, Annotated[dict[str, Any], documented(KindProgress)]] = Field(
        description="Per kind: its stage, trials measured of planned, the best latency so far, the task table."
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

"""The workflow stage interface: one small lifecycle (`run` on the workflow's state), one class per stage module.

A workflow's driver (`farm.workflows.execute`) loads its records into a `WorkflowRun`, then
runs the stages the user chose, in the table's order (`farm.stages.stages_to_run`), each
reading what earlier stages left there and adding its own: the autotune stage the kinds'
results, the benchmark stage their reports, the record stage the registered variants and
the candidates, the package stage the packages. A stage fails the workflow by raising
`WorkflowError` with the message its record gets; a workflow stopped from outside stops its
stage at the next progress update (`farm.workflows.stopping`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..registry import workflow_records
from ..registry.database import Registry
from ..workflow_options import StoredWorkflowOptions
from .stopping import still_running

if TYPE_CHECKING:
    from ..packaging import Candidate, MetricPriority
    from ..tuning.job import KindResult


class WorkflowError(RuntimeError):
    """A workflow that cannot complete, with the message its record gets."""


@dataclass
class WorkflowRun:
    """One running workflow: what its records say, where it works, and what its stages have made so far."""

    registry: Registry
    workflow_id: str
    db_uri: str
    work_dir: str
    options: StoredWorkflowOptions
    targets: list[str]
    model_id: str
    model_name: str
    source_id: str
    onnx_path: str  # the input variant's ONNX file, fetched into the work folder
    priorities: list[MetricPriority] | None  # the ranking's, parsed before any stage runs
    samples_path: str | None = None  # the model's sample inputs (`.npz`) fetched into the work folder, if it has any
    results: dict[str, KindResult] = field(default_factory=dict)  # per kind, the autotune stage's
    reports: dict[str, dict] = field(default_factory=dict)  # per kind, the benchmark stage's
    metrics: dict[str, dict] = field(default_factory=dict)  # per kind, what the variant's record keeps
    candidates: list[Candidate] = field(default_factory=list)  # the registered variants, for the ranking
    outputs: dict = field(default_factory=lambda: {"variants": {}})  # the workflow's outputs as recorded

    def show(self, kind: str, stage: str) -> None:
        """Show `kind` at `stage` in the workflow's progress (a stopped workflow stops its driver here)."""
        with self.registry.session() as s:
            progress = dict(workflow_records.get_workflow(s, self.workflow_id).progress or {})
            progress[kind] = {**progress.get(kind, {}), "stage": stage}
            still_running(workflow_records.update_progress(s, self.workflow_id, progress))


class Stage(ABC):
    """One stage of a workflow."""

    @abstractmethod
    def run(self, run: WorkflowRun) -> None:
        """Do the stage's work on `run`, leaving its results there; `WorkflowError` to fail the workflow."""

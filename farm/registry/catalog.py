"""The catalog: projects, models (detached or in a project, with labels), their variants, benchmark results and packages.

Every function takes a SQLAlchemy `Session` first and flushes, so a clash or a missing
record is raised inside the caller's transaction (`Registry.session()` then rolls back).

Model names are unique within a project, and among detached models too, so a name
always picks one model wherever it lives. An upload is checked completely (name, labels,
project, then the file with the ONNX importer) before any byte is stored; the model and
its `original` variant are then created in the caller's transaction. Artifact names
(the file name a download gets) are fixed when a variant is stored. Deleting a model
removes its variants, workflows, benchmark results and package records, but not the
artifacts: they are content-addressed and may be shared.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from farm.models.onnx_check import MEMORY_BYTES as PARSE_MEMORY_BYTES
from farm.models.onnx_check import check_onnx_file
from farm.models.onnx_import import ModelImportError, TensorInfo
from farm.models.samples import SampleInputsError, load_samples
from farm.registry.artifacts import ArtifactStore, check_key
from farm.registry.errors import Conflict, InvalidInput
from farm.registry.queries import check_page, fetch, page
from farm.registry.schema import (
    ACTIVE_STATES,
    BenchmarkResult,
    Model,
    Offer,
    Package,
    ProgressPoint,
    Project,
    ProjectMember,
    User,
    Variant,
    Workflow,
)
from farm.registry.validation import check_labels, check_name, check_text

ORIGINAL = "original"


def create_project(s: Session, name: str, description: str = "", owner_id: str | None = None) -> Project:
    """A new project, owned by `owner_id` if given; a taken name is a `Conflict`."""
    name = check_name(name, "project")
    if s.scalar(select(Project.id).where(Project.name == name)):
        raise Conflict(f"a project named {name!r} already exists")
    project = Project(name=name, description=check_text(description, "description"))
    s.add(project)
    s.flush()
    if owner_id is not None:
        s.add(ProjectMember(project_id=project.id, user_id=fetch(s, User, owner_id).id, role="owner"))
        s.flush()
    return project


def list_projects(
    s: Session, offset: int = 0, limit: int = 50, scope: ColumnElement[bool] | None = None
) -> tuple[list[Project], int]:
    """A page of projects by name (`scope`: a condition they meet), and how many there are."""
    stmt = select(Project).order_by(Project.name, Project.id)
    return page(s, stmt if scope is None else stmt.where(scope), offset, limit)


def get_project(s: Session, project_id: str) -> Project:
    """The project with this id, or `NotFound`."""
    return fetch(s, Project, project_id)


def update_project(s: Session, project_id: str, name: str | None = None, description: str | None = None) -> Project:
    """Rename a project or change its description (None leaves a field as it is)."""
    project = fetch(s, Project, project_id)
    if name is not None and name != project.name:
        name = check_name(name, "project")
        if s.scalar(select(Project.id).where(Project.name == name)):
            raise Conflict(f"a project named {name!r} already exists")
        project.name = name
    if description is not None:
        project.description = check_text(description, "description")
    s.flush()
    return project


def delete_project(s: Session, project_id: str) -> None:
    """Delete an empty project; one that still holds models is a `Conflict`."""
    project = fetch(s, Project, project_id)
    held = s.scalars(select(Model.name).where(Model.project_id == project.id).order_by(Model.name).limit(6)).all()
    if held:
        more = ", …" if len(held) > 5 else ""
        raise Conflict(
            f"project {project.name!r} still holds models ({', '.join(held[:5])}{more}): move or delete them first"
        )
    s.execute(delete(ProjectMember).where(ProjectMember.project_id == project.id))
    s.delete(project)
    s.flush()


def check_name_free(s: Session, project_id: str | None, name: str, model_id: str | None = None) -> None:
    """`Conflict` if a model of `project_id` (None: the detached models) other than `model_id` is named `name`."""
    where = Model.project_id.is_(None) if project_id is None else Model.project_id == project_id
    clash = s.scalar(select(Model.id).where(where, Model.name == name, Model.id != model_id))
    if clash:
        place = "among detached models" if project_id is None else f"in project {fetch(s, Project, project_id).name!r}"
        raise Conflict(f"a model named {name!r} already exists {place}")


@dataclass(frozen=True)
class ModelFile:
    """An ONNX file checked and stored in the artifact store, ready to become a model (`add_model`)."""

    key: str
    size_bytes: int
    inputs: list[dict]
    outputs: list[dict]


def store_model_file(
    artifacts: ArtifactStore, path: str, filename: str | None = None, memory_bytes: int = PARSE_MEMORY_BYTES
) -> ModelFile:
    """Validate an ONNX file and store its bytes; no registry transaction is open meanwhile.

    Parsing, checking and hashing a large model takes seconds: done here, outside any
    transaction, they hold no database lock (SQLite's single writer would otherwise keep
    every other request waiting), and the parse runs in a limited process of its own
    (`farm.models.onnx_check`) with at most `memory_bytes` of address space. `filename` is how
    error messages name the file (e.g. the name it was uploaded under rather than a temporary path).
    """
    try:
        inputs, outputs = check_onnx_file(path, memory_bytes)
    except ModelImportError as e:
        raise InvalidInput(str(e).replace(path, filename) if filename else str(e)) from None
    return ModelFile(artifacts.put_file(path), os.path.getsize(path), inputs, outputs)


def check_new_model(
    s: Session, name: str, labels: Iterable[str], description: str, project_id: str | None
) -> tuple[str, list[str], str]:
    """The checks of a new model that need no file: its fields (`InvalidInput`), its project, its name free there; the fields normalized."""
    name, labels, description = check_name(name, "model"), check_labels(labels), check_text(description, "description")
    if project_id is not None:
        fetch(s, Project, project_id)
    check_name_free(s, project_id, name)
    return name, labels, description


def add_model(
    s: Session,
    stored: ModelFile,
    *,
    name: str,
    description: str = "",
    labels: Iterable[str] = (),
    project_id: str | None = None,
    created_by: str | None = None,
) -> Model:
    """A new model with its `original` variant, from a file `store_model_file` checked and stored: one short transaction."""
    name, labels, description = check_new_model(s, name, labels, description, project_id)
    if created_by is not None:
        fetch(s, User, created_by)
    model = Model(
        name=name,
        description=description,
        labels=labels,
        project_id=project_id,
        inputs=stored.inputs,
        outputs=stored.outputs,
        created_by=created_by,
    )
    s.add(model)
    s.flush()
    artifact_name = name if name.lower().endswith(".onnx") else f"{name}.onnx"
    s.add(
        Variant(
            model_id=model.id,
            kind=ORIGINAL,
            artifact_key=stored.key,
            artifact_name=artifact_name,
            size_bytes=stored.size_bytes,
            metrics={},
        )
    )
    s.flush()
    return model


def upload_model(
    s: Session,
    artifacts: ArtifactStore,
    path: str,
    *,
    name: str,
    description: str = "",
    labels: Iterable[str] = (),
    project_id: str | None = None,
    created_by: str | None = None,
    filename: str | None = None,
) -> Model:
    """Validate and store an ONNX file as a new model with its `original` variant, in `s` (`store_model_file`, then `add_model`).

    Nothing is recorded unless every check passes. The fields are checked before the file
    is read; a server that must not hold a transaction while the file is parsed calls the
    two steps itself.
    """
    check_new_model(s, name, labels, description, project_id)
    stored = store_model_file(artifacts, path, filename)
    return add_model(
        s, stored, name=name, description=description, labels=labels, project_id=project_id, created_by=created_by
    )


def list_models(
    s: Session,
    *,
    project_id: str | None = None,
    detached: bool | None = None,
    labels: Iterable[str] = (),
    scope: ColumnElement[bool] | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Model], int]:
    """A page of models, oldest first, and how many match: in a project, detached (or not), carrying every label given,
    meeting `scope` (a condition on `Model`)."""
    stmt = select(Model).order_by(Model.created_at, Model.id)
    if scope is not None:
        stmt = stmt.where(scope)
    if project_id is not None:
        stmt = stmt.where(Model.project_id == project_id)
    if detached is not None:
        stmt = stmt.where(Model.project_id.is_(None) if detached else Model.project_id.is_not(None))
    wanted = set(check_labels(labels))
    if not wanted:
        return page(s, stmt, offset, limit)
    # Labels are a JSON list; containment is tested here rather than in dialect-specific SQL.
    check_page(offset, limit)
    matching = [m for m in s.scalars(stmt) if wanted <= set(m.labels)]
    return matching[offset : offset + limit], len(matching)


def get_model(s: Session, model_id: str) -> Model:
    """The model with this id, or `NotFound`."""
    return fetch(s, Model, model_id)


def update_model(
    s: Session,
    model_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    labels: Iterable[str] | None = None,
) -> Model:
    """Rename a model (unique where it lives), change its description or replace its labels; None leaves a field."""
    model = fetch(s, Model, model_id)
    if name is not None and name != model.name:
        name = check_name(name, "model")
        check_name_free(s, model.project_id, name, model.id)
        model.name = name
    if description is not None:
        model.description = check_text(description, "description")
    if labels is not None:
        model.labels = check_labels(labels)
    s.flush()
    return model


def store_sample_inputs(artifacts: ArtifactStore, path: str, inputs: list[dict], filename: str) -> tuple[str, int]:
    """Check the `.npz` at `path` as sample inputs of a model whose inputs are `inputs` (`farm.models.samples`: plain
    arrays only, bounded) and store it, no transaction open; its key and the number of samples its workflows will use."""
    try:
        samples = load_samples(path, [TensorInfo(**i) for i in inputs])
    except SampleInputsError as e:
        raise InvalidInput(str(e).replace(path, filename)) from None
    return artifacts.put_file(path), len(samples)


def set_sample_inputs(s: Session, model_id: str, key: str | None, count: int | None) -> Model:
    """Give a model the sample inputs stored under `key` (`store_sample_inputs`), or none with None: its next workflows
    measure agreement on them (else on generated inputs)."""
    model = fetch(s, Model, model_id)
    model.sample_inputs_key = None if key is None else check_key(key)
    model.sample_inputs_count = None if key is None else count
    s.flush()
    return model


def move_model(s: Session, model_id: str, project_id: str | None) -> Model:
    """Move a model into a project, or detach it with None; a model of the same name there is a `Conflict`."""
    model = fetch(s, Model, model_id)
    if project_id is not None:
        fetch(s, Project, project_id)
    if project_id != model.project_id:
        check_name_free(s, project_id, model.name, model.id)
        model.project_id = project_id
        s.flush()
    return model


def delete_model(s: Session, model_id: str) -> None:
    """Delete a model and every record that hangs from it; a pending or running workflow on it is a `Conflict`."""
    model = fetch(s, Model, model_id)
    active = s.scalar(select(Workflow.id).where(Workflow.model_id == model.id, Workflow.state.in_(ACTIVE_STATES)))
    if active:
        raise Conflict(f"model {model.name!r} has workflow {active} pending or running: cancel it first")
    variant_ids = select(Variant.id).where(Variant.model_id == model.id)
    s.execute(delete(BenchmarkResult).where(BenchmarkResult.variant_id.in_(variant_ids)))
    s.execute(delete(Package).where(Package.variant_id.in_(variant_ids)))
    s.execute(update(Variant).where(Variant.model_id == model.id).values(workflow_id=None, parent_id=None))
    workflow_ids = select(Workflow.id).where(Workflow.model_id == model.id)
    s.execute(delete(Offer).where(Offer.model_id == model.id))
    s.execute(delete(ProgressPoint).where(ProgressPoint.workflow_id.in_(workflow_ids)))
    s.execute(delete(Workflow).where(Workflow.model_id == model.id))
    s.execute(delete(Variant).where(Variant.model_id == model.id))
    s.delete(model)
    s.flush()


def best_variants(variants: Iterable[Variant]) -> dict[str, Variant]:
    """Of `variants`, the fastest per kind among tuned ones that agree with the original (by `best_latency_ms`)."""
    best: dict[str, Variant] = {}
    for variant in variants:
        metrics = variant.metrics or {}
        latency = metrics.get("best_latency_ms")
        if variant.kind == ORIGINAL or not isinstance(latency, (int, float)) or not metrics.get("agrees", True):
            continue
        current = best.get(variant.kind)
        if current is None or latency < current.metrics["best_latency_ms"]:
            best[variant.kind] = variant
    return best


def list_variants(s: Session, model_id: str) -> list[Variant]:
    """The model's variants, the original first, then oldest first."""
    fetch(s, Model, model_id)
    stmt = (
        select(Variant)
        .where(Variant.model_id == model_id)
        .order_by(Variant.kind != ORIGINAL, Variant.created_at, Variant.id)
    )
    return list(s.scalars(stmt))


def get_variant(s: Session, variant_id: str) -> Variant:
    """The variant with this id, or `NotFound`."""
    return fetch(s, Variant, variant_id)


def _check_workflow(s: Session, workflow_id: str | None, model_id: str) -> None:
    if workflow_id is not None and fetch(s, Workflow, workflow_id).model_id != model_id:
        raise InvalidInput(f"workflow {workflow_id} is not a workflow of model {model_id}")


def _check_size(size_bytes: int) -> int:
    if not isinstance(size_bytes, int) or size_bytes < 0:
        raise InvalidInput(f"size_bytes must be a non-negative integer, not {size_bytes!r}")
    return size_bytes


def add_variant(
    s: Session,
    model_id: str,
    *,
    kind: str,
    artifact_key: str,
    artifact_name: str,
    size_bytes: int,
    target: dict | None = None,
    target_key: str | None = None,
    parent_id: str | None = None,
    workflow_id: str | None = None,
    metrics: dict | None = None,
) -> Variant:
    """Record a variant of a model (e.g. tuned for a device kind) whose bytes are already in the artifact store."""
    fetch(s, Model, model_id)
    if not isinstance(kind, str) or not kind.strip():
        raise InvalidInput("a variant needs a kind: 'original' or a device kind name")
    if parent_id is not None and fetch(s, Variant, parent_id).model_id != model_id:
        raise InvalidInput(f"variant {parent_id} is not a variant of model {model_id}")
    _check_workflow(s, workflow_id, model_id)
    variant = Variant(
        model_id=model_id,
        kind=kind,
        target=target,
        target_key=target_key,
        parent_id=parent_id,
        workflow_id=workflow_id,
        artifact_key=check_key(artifact_key),
        artifact_name=check_name(artifact_name, "artifact file"),
        size_bytes=_check_size(size_bytes),
        metrics=dict(metrics or {}),
    )
    s.add(variant)
    s.flush()
    return variant


def add_benchmark(
    s: Session, variant_id: str, *, kind: str, results: dict, workflow_id: str | None = None
) -> BenchmarkResult:
    """Record a benchmark of a variant on a device kind."""
    variant = fetch(s, Variant, variant_id)
    _check_workflow(s, workflow_id, variant.model_id)
    if not isinstance(results, dict):
        raise InvalidInput("benchmark results must be a JSON object")
    result = BenchmarkResult(variant_id=variant_id, workflow_id=workflow_id, kind=kind, results=results)
    s.add(result)
    s.flush()
    return result


def _filtered(
    cls: type[BenchmarkResult | Package],
    model_id: str | None,
    variant_id: str | None,
    workflow_id: str | None,
    scope: ColumnElement[bool] | None,
):
    stmt = select(cls).order_by(cls.created_at, cls.id)
    if model_id is not None or scope is not None:
        stmt = stmt.join(Variant, Variant.id == cls.variant_id)
    if model_id is not None:
        stmt = stmt.where(Variant.model_id == model_id)
    if scope is not None:
        stmt = stmt.join(Model, Model.id == Variant.model_id).where(scope)
    if variant_id is not None:
        stmt = stmt.where(cls.variant_id == variant_id)
    if workflow_id is not None:
        stmt = stmt.where(cls.workflow_id == workflow_id)
    return stmt


def list_benchmarks(
    s: Session,
    *,
    model_id: str | None = None,
    variant_id: str | None = None,
    workflow_id: str | None = None,
    scope: ColumnElement[bool] | None = None,
) -> list[BenchmarkResult]:
    """Benchmark results matching every filter given (`scope`: a condition on their `Model`), oldest first."""
    return list(s.scalars(_filtered(BenchmarkResult, model_id, variant_id, workflow_id, scope)))


def add_package(
    s: Session,
    variant_id: str,
    *,
    format: str,
    artifact_key: str,
    artifact_name: str,
    size_bytes: int,
    workflow_id: str | None = None,
) -> Package:
    """Record a package built from a variant (wheel, shared-object tarball, ranked zip, Dockerfile…) stored as an artifact."""
    variant = fetch(s, Variant, variant_id)
    _check_workflow(s, workflow_id, variant.model_id)
    if not isinstance(format, str) or not 1 <= len(format) <= 32:
        raise InvalidInput("a package format must be 1 to 32 characters")
    package = Package(
        variant_id=variant_id,
        workflow_id=workflow_id,
        format=format,
        artifact_key=check_key(artifact_key),
        artifact_name=check_name(artifact_name, "artifact file"),
        size_bytes=_check_size(size_bytes),
    )
    s.add(package)
    s.flush()
    return package


def get_package(s: Session, package_id: str) -> Package:
    """The package with this id, or `NotFound`."""
    return fetch(s, Package, package_id)


def list_packages(
    s: Session,
    *,
    model_id: str | None = None,
    variant_id: str | None = None,
    workflow_id: str | None = None,
    scope: ColumnElement[bool] | None = None,
) -> list[Package]:
    """Package records matching every filter given (`scope`: a condition on their `Model`), oldest first."""
    return list(s.scalars(_filtered(Package, model_id, variant_id, workflow_id, scope)))

"""Models: multipart upload of an ONNX file, listing by project and labels, show, edit, move, delete, variants, and
the sample inputs a model's workflows measure agreement on.

An upload is received into one temporary file as it streams in (`farm.api.upload_stream`:
413 past `max_upload_bytes`, 408 past the deadline, 503 when too many arrive at once), then
handed to the registry, which validates it as ONNX before storing anything. A file
the registry refuses (not ONNX, truncated, a bad name) is a 400 naming the uploaded file.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import Limit, Offset, RegistryDep, SessionDep, SettingsDep
from farm.api.schemas import ModelMove, ModelUpdate, Page
from farm.api.upload_stream import ReceivedUpload, receive_upload
from farm.models.samples import MAX_BYTES as MAX_SAMPLE_BYTES
from farm.registry import access, catalog
from farm.registry.database import Registry
from farm.registry.errors import InvalidInput
from farm.registry.schema import Model, User, Variant
from farm.schemas import ModelOut, VariantOut

router = APIRouter(prefix="/models", tags=["models"])


def _split(labels: str) -> list[str]:
    return [label.strip() for label in labels.split(",") if label.strip()]


def multipart_body(properties: dict) -> dict:
    """The OpenAPI request body of a multipart upload with these form fields, the file (`file`) required."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": properties}}
            },
        }
    }


UPLOAD_BODY = multipart_body(
    {
        "name": {"type": "string", "description": "Default: the file's name without its extension."},
        "description": {"type": "string", "description": "Free text."},
        "labels": {"type": "string", "description": "Comma-separated labels."},
        "project_id": {"type": "string", "description": "The project to put it in; none leaves it detached."},
        "file": {"type": "string", "format": "binary", "description": "The ONNX model (sent last)."},
    }
)


def _fields(upload: ReceivedUpload) -> dict:
    """A new model's fields from an upload's form (its name defaults to the file's)."""
    filename = os.path.basename(upload.filename or "model.onnx")
    form = upload.fields
    return {
        "name": form["name"] if "name" in form else os.path.splitext(filename)[0],
        "description": form.get("description", ""),
        "labels": _split(form.get("labels", "")),
        "project_id": form.get("project_id") or None,
    }


def _check_fields(registry: Registry, user: User, fields: dict) -> None:
    """Bad fields, a project the user may not add to, or a name clash: said before the file is read."""
    with registry.session() as s:
        if fields["project_id"] is not None:
            access.project(s, user, fields["project_id"], access.MEMBER)
        try:
            catalog.check_new_model(s, **fields)
        except InvalidInput as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, e.message) from None


def _store(registry: Registry, user: User, upload: ReceivedUpload, memory_bytes: int) -> Model:
    """Check the received file as ONNX and store it (seconds for a large model, no transaction open), then record it."""
    fields = _fields(upload)
    try:
        stored = catalog.store_model_file(
            registry.artifacts, upload.path, os.path.basename(upload.filename or "model.onnx"), memory_bytes
        )
    except InvalidInput as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, e.message) from None
    with registry.session() as s:
        return catalog.add_model(s, stored, created_by=user.id, **fields)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelOut, openapi_extra=UPLOAD_BODY)
async def upload_model(request: Request, user: Optimizer, registry: RegistryDep, settings: SettingsDep) -> Model:
    """Upload an ONNX model (multipart, the file last): received into one temporary file, checked in a memory- and
    time-limited process, stored, and recorded with its original variant. Optimizers only."""

    async def on_file(upload: ReceivedUpload) -> None:
        await run_in_threadpool(_check_fields, registry, user, _fields(upload))

    with request.app.state.upload_slots.take(), tempfile.TemporaryDirectory(prefix="farm-upload-") as tmp:
        upload = await receive_upload(
            request,
            tmp,
            max_file_bytes=settings.max_upload_bytes,
            deadline_s=settings.upload_deadline_s,
            on_file=on_file,
        )
        if upload.path is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "the upload has no file: send the ONNX model in the field 'file'"
            )
        return await run_in_threadpool(_store, registry, user, upload, settings.max_parse_memory_bytes)


@router.get("", response_model=Page[ModelOut])
def list_models(
    user: CurrentUser,
    s: SessionDep,
    project_id: str | None = None,
    detached: Annotated[bool | None, Query(description="Only models in no project (true) or in one (false).")] = None,
    labels: Annotated[str, Query(description="Comma-separated; a model must carry every one.")] = "",
    offset: Offset = 0,
    limit: Limit = 50,
) -> dict:
    """The models the user may see (in their projects, or detached and theirs), oldest first, filtered by project (or
    detached) and labels; paged."""
    if project_id is not None:
        access.project(s, user, project_id)
    items, total = catalog.list_models(
        s,
        project_id=project_id,
        detached=detached,
        labels=_split(labels),
        scope=access.visible_models(user),
        offset=offset,
        limit=limit,
    )
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/{model_id}", response_model=ModelOut)
def get_model(model_id: str, user: CurrentUser, s: SessionDep) -> Model:
    """One model, with its inputs and outputs."""
    return access.model(s, user, model_id)


@router.patch("/{model_id}", response_model=ModelOut)
def update_model(model_id: str, body: ModelUpdate, user: Optimizer, s: SessionDep) -> Model:
    """Rename a model, or change its description or labels. Optimizers who are members of its project (or its uploader)."""
    access.model(s, user, model_id, access.MEMBER)
    return catalog.update_model(s, model_id, name=body.name, description=body.description, labels=body.labels)


@router.delete("/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(model_id: str, user: Optimizer, s: SessionDep) -> None:
    """Delete a model and its records once none of its workflows runs; stored artifacts are kept. Optimizers who are
    members of its project (or its uploader)."""
    access.model(s, user, model_id, access.MEMBER)
    catalog.delete_model(s, model_id)


@router.post("/{model_id}/move", response_model=ModelOut)
def move_model(model_id: str, body: ModelMove, user: Optimizer, s: SessionDep) -> Model:
    """Move a model into a project, or detach it (project_id null: it then belongs to its uploader). Optimizers who are
    members of both projects."""
    access.model(s, user, model_id, access.MEMBER)
    if body.project_id is not None:
        access.project(s, user, body.project_id, access.MEMBER)
    return catalog.move_model(s, model_id, body.project_id)


SAMPLES_BODY = multipart_body(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "An .npz of arrays named by the model's inputs, the first axis indexing the samples "
            "(plain arrays only; at most 64 samples are used).",
        }
    }
)


def _inputs_of(registry: Registry, user: User, model_id: str) -> list[dict]:
    with registry.session() as s:
        return list(access.model(s, user, model_id, access.MEMBER).inputs)


def _store_samples(registry: Registry, model_id: str, upload: ReceivedUpload, inputs: list[dict]) -> Model:
    """Check the received `.npz` against the model's inputs and store it (no transaction open), then record it."""
    try:
        key, count = catalog.store_sample_inputs(
            registry.artifacts, upload.path, inputs, os.path.basename(upload.filename or "samples.npz")
        )
    except InvalidInput as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, e.message) from None
    with registry.session() as s:
        return catalog.set_sample_inputs(s, model_id, key, count)


@router.put("/{model_id}/sample-inputs", response_model=ModelOut, openapi_extra=SAMPLES_BODY)
async def set_sample_inputs(
    model_id: str, request: Request, user: Optimizer, registry: RegistryDep, settings: SettingsDep
) -> Model:
    """Give a model sample inputs (multipart, an `.npz` in the field `file`): its workflows measure each engine
    configuration's agreement with the original on them rather than on generated inputs, which decides whether a
    reduced precision is admitted. Replaces any it had. Optimizers who are members of its project (or its uploader),
    checked before the body is read."""
    inputs = await run_in_threadpool(_inputs_of, registry, user, model_id)
    with request.app.state.upload_slots.take(), tempfile.TemporaryDirectory(prefix="farm-samples-") as tmp:
        upload = await receive_upload(
            request,
            tmp,
            max_file_bytes=min(settings.max_upload_bytes, MAX_SAMPLE_BYTES),
            deadline_s=settings.upload_deadline_s,
        )
        if upload.path is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "the upload has no file: send the .npz in the field 'file'"
            )
        return await run_in_threadpool(_store_samples, registry, model_id, upload, inputs)


@router.delete("/{model_id}/sample-inputs", response_model=ModelOut)
def remove_sample_inputs(model_id: str, user: Optimizer, s: SessionDep) -> Model:
    """Forget a model's sample inputs: its next workflows measure agreement on generated inputs. Optimizers who are
    members of its project (or its uploader)."""
    access.model(s, user, model_id, access.MEMBER)
    return catalog.set_sample_inputs(s, model_id, None, None)


@router.get("/{model_id}/variants", response_model=list[VariantOut])
def list_variants(model_id: str, user: CurrentUser, s: SessionDep) -> list[Variant]:
    """A model's variants: the original and one per device kind tuned, with their metrics."""
    access.model(s, user, model_id)
    return catalog.list_variants(s, model_id)

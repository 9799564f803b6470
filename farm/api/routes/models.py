"""Models: multipart upload of an ONNX file, listing by project and labels, show, edit, move, delete, variants.

An upload is received into a temporary file under the app's body limit (a request over
it is refused with 413 while it is read), checked against the exact `max_upload_bytes`,
then handed to the registry, which validates it as ONNX before storing anything. A file
the registry refuses (not ONNX, truncated, a bad name) is a 400 naming the uploaded file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status

from farm.api.auth import CurrentUser, Optimizer
from farm.api.deps import Limit, Offset, RegistryDep, SessionDep
from farm.api.schemas import ModelMove, ModelUpdate, Page
from farm.registry import access, catalog
from farm.registry.errors import InvalidInput
from farm.registry.schema import Model, Variant
from farm.schemas import ModelOut, VariantOut

router = APIRouter(prefix="/models", tags=["models"])


def _split(labels: str) -> list[str]:
    return [label.strip() for label in labels.split(",") if label.strip()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelOut)
def upload_model(
    request: Request,
    user: Optimizer,
    registry: RegistryDep,
    file: Annotated[UploadFile, File(description="The ONNX model.")],
    name: Annotated[str | None, Form(description="Default: the file's name without its extension.")] = None,
    description: Annotated[str, Form(description="Free text.")] = "",
    labels: Annotated[str, Form(description="Comma-separated labels.")] = "",
    project_id: Annotated[str | None, Form(description="The project to put it in; none leaves it detached.")] = None,
) -> Model:
    """Upload an ONNX model (multipart): it is checked in a memory- and time-limited process, stored, and recorded with its original variant. Optimizers only."""
    if file.size is not None and file.size > request.app.state.max_upload_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE)
    filename = os.path.basename(file.filename or "model.onnx")
    fields = {
        "name": name if name is not None else os.path.splitext(filename)[0],
        "description": description,
        "labels": _split(labels),
        "project_id": project_id or None,
    }
    with registry.session() as s:  # bad fields, a missing project or a name clash are said before the file is read
        if fields["project_id"] is not None:
            access.project(s, user, fields["project_id"], access.MEMBER)
        try:
            catalog.check_new_model(s, **fields)
        except InvalidInput as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, e.message) from None
    with tempfile.TemporaryDirectory(prefix="farm-upload-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out)
        try:
            stored = catalog.store_model_file(  # seconds for a large model: no transaction is open
                registry.artifacts, path, filename, request.app.state.max_parse_memory_bytes
            )
        except InvalidInput as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, e.message) from None
    with registry.session() as s:
        return catalog.add_model(s, stored, created_by=user.id, **fields)


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


@router.get("/{model_id}/variants", response_model=list[VariantOut])
def list_variants(model_id: str, user: CurrentUser, s: SessionDep) -> list[Variant]:
    """A model's variants: the original and one per device kind tuned, with their metrics."""
    access.model(s, user, model_id)
    return catalog.list_variants(s, model_id)

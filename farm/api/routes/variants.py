"""Variants: show one, and download its artifact under its artifact name (packages download the same way)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from farm.api.auth import CurrentUser
from farm.api.deps import RegistryDep, SessionDep
from farm.registry import access
from farm.registry.artifacts import ArtifactStore
from farm.registry.errors import NotFound
from farm.registry.schema import Variant
from farm.schemas import VariantOut, repr_digest

router = APIRouter(prefix="/variants", tags=["variants"])
CHUNK_BYTES = 1 << 20
DOWNLOAD_RESPONSES = {
    200: {
        "content": {"application/octet-stream": {}},
        "headers": {
            "Repr-Digest": {
                "description": "The file's SHA-256 (RFC 9530): `sha-256=:<base64>:`. A file damaged in the store is "
                "never sent whole: the response breaks off before its Content-Length.",
                "schema": {"type": "string"},
            }
        },
    }
}


@router.get("/{variant_id}", response_model=VariantOut)
def get_variant(variant_id: str, user: CurrentUser, s: SessionDep) -> Variant:
    """One variant, with its metrics."""
    return access.variant(s, user, variant_id)


def _chunks(store: ArtifactStore, key: str) -> Iterator[bytes]:
    with store.open(key) as f:
        yield from f.chunks(CHUNK_BYTES)  # a damaged blob raises before its last chunk: the response breaks off short


def _attachment(filename: str) -> str:
    """A Content-Disposition header for `filename`, RFC 5987-encoded when it is not plain ASCII (as Starlette's FileResponse does)."""
    quoted = quote(filename)
    return f'attachment; filename="{filename}"' if quoted == filename else f"attachment; filename*=utf-8''{quoted}"


def artifact_response(store: ArtifactStore, key: str, filename: str, what: str) -> StreamingResponse:
    """The artifact `key` streamed as an attachment named `filename` with its SHA-256; 404 naming `what` when the store
    lost it. The store checks the bytes as they are read and holds the last chunk back until they match."""
    if not store.exists(key):
        raise NotFound(f"the artifact of {what} ({filename}) is missing from the artifact store")
    headers = {
        "Content-Disposition": _attachment(filename),
        "Content-Length": str(store.size(key)),
        "Repr-Digest": repr_digest(bytes.fromhex(key)),  # an artifact's key is its SHA-256
    }
    return StreamingResponse(_chunks(store, key), media_type="application/octet-stream", headers=headers)


@router.get(
    "/{variant_id}/download",
    response_class=StreamingResponse,
    responses=DOWNLOAD_RESPONSES,
)
def download_variant(variant_id: str, user: CurrentUser, registry: RegistryDep, s: SessionDep) -> StreamingResponse:
    """The variant's file (the original ONNX model, or a tuned variant's folder as .tar.gz), streamed as an attachment."""
    variant = access.variant(s, user, variant_id)
    return artifact_response(registry.artifacts, variant.artifact_key, variant.artifact_name, f"variant {variant_id}")

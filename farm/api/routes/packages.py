"""Packages the workflows built (wheel, shared-object tarball, ranked-candidates zip, Docker build context): list and download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from farm.api.auth import CurrentUser
from farm.api.deps import RegistryDep, SessionDep
from farm.api.routes.variants import DOWNLOAD_RESPONSES, artifact_response
from farm.registry import access, catalog
from farm.registry.schema import Package
from farm.schemas import PackageOut

router = APIRouter(prefix="/packages", tags=["packages"])


@router.get("", response_model=list[PackageOut])
def list_packages(
    user: CurrentUser,
    s: SessionDep,
    model_id: str | None = None,
    variant_id: str | None = None,
    workflow_id: str | None = None,
    fmt: Annotated[str | None, Query(alias="format", description="Only packages of this format.")] = None,
) -> list[Package]:
    """Packages of the models the user may see, filtered by model, variant, workflow and format."""
    filters = access.filters(s, user, model_id=model_id, variant_id=variant_id, workflow_id=workflow_id)
    packages = catalog.list_packages(s, **filters, scope=access.visible_models(user))
    return [p for p in packages if fmt is None or p.format == fmt]


@router.get("/{package_id}", response_model=PackageOut)
def get_package(package_id: str, user: CurrentUser, s: SessionDep) -> Package:
    """One package."""
    return access.package(s, user, package_id)


@router.get(
    "/{package_id}/download",
    response_class=StreamingResponse,
    responses=DOWNLOAD_RESPONSES,
)
def download_package(package_id: str, user: CurrentUser, registry: RegistryDep, s: SessionDep) -> StreamingResponse:
    """The package's file, streamed as an attachment."""
    package = access.package(s, user, package_id)
    return artifact_response(registry.artifacts, package.artifact_key, package.artifact_name, f"package {package_id}")

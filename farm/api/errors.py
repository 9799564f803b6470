"""The registry's errors as HTTP responses, each `{"detail": "<message>"}`: 404, 409, 422, 403; and a clear 413."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from farm.registry.errors import Conflict, CorruptArtifact, InvalidInput, NotFound, PermissionDenied, RegistryError

STATUS: dict[type[RegistryError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    PermissionDenied: 403,
    CorruptArtifact: 500,
    RegistryError: 400,
}


def status_of(exc: RegistryError) -> int:
    """The HTTP status of a registry error."""
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


async def registry_error(request: Request, exc: RegistryError) -> JSONResponse:
    """A registry error as `{"detail": message}` with its status."""
    return JSONResponse({"detail": exc.message}, status_code=status_of(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Map registry errors to their status codes (a 413 says its route's cap itself: `farm.api.limits`)."""
    app.add_exception_handler(RegistryError, registry_error)

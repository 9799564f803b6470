"""Authentication before the body: a request that carries a body is refused (401) unless its token is valid, before any of the body is read.

FastAPI reads and parses a request's body (spooling a multipart upload to a temporary
file) before it resolves the route's dependencies, so the token check of
`farm.api.auth.current_user` alone would let a client with no token, or a wrong one,
make the server write up to the upload limit to disk. This ASGI middleware checks the
`Authorization` header of every API request that declares a body (a `Content-Length`
above 0, or chunked) against the registry first, and answers 401 without reading it;
the route's own dependency then checks roles as before. Requests without a body go
straight on: the dependency refuses them before anything is read.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from farm.registry.database import Registry
from farm.registry.errors import PermissionDenied

from .auth import CHALLENGE, MISSING_TOKEN, authenticate_request


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length", "")
    return (length.isdigit() and int(length) > 0) or "chunked" in headers.get("transfer-encoding", "").lower()


class TokenGate:
    """ASGI middleware: 401 for a request under `prefix` that has a body and no valid bearer token, before the body is read."""

    def __init__(self, app: ASGIApp, registry: Registry, prefix: str) -> None:
        self.app = app
        self.registry = registry
        self.prefix = prefix

    def _refusal(self, token: str | None) -> str | None:
        if not token:
            return MISSING_TOKEN
        try:
            authenticate_request(self.registry, token)
        except PermissionDenied as e:
            return e.message
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            headers = Headers(scope=scope)
            if _has_body(headers):
                scheme, _, token = headers.get("authorization", "").partition(" ")
                refusal = await to_thread.run_sync(self._refusal, token.strip() if scheme.lower() == "bearer" else None)
                if refusal is not None:
                    response = JSONResponse(
                        {"detail": refusal},
                        status_code=status.HTTP_401_UNAUTHORIZED,
                        headers={**CHALLENGE, "Connection": "close"},
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

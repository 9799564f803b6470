"""Request body caps by route: a body over its route's cap is refused with 413 and a JSON message, before it is read.

Three caps: the upload routes (those whose OpenAPI body is a multipart file) take up to
the upload limit; the dashboard's forms (`/ui`) a small one; every other route (JSON) a
medium one. The cap is chosen from the method and path alone, before the dashboard's
session, a route's role check or parsing (the API's token gate, `farm.api.token_gate`,
runs first), so neither a stranger's form nor a read-only token's JSON makes the server
hold more than its route's cap. A body that declares a larger Content-Length is
refused before any of it is read; one sent without (chunked) is cut off as soon as the
bytes read pass the cap. (Starlette's own body limit answers a declared oversize in plain
text, whatever the app's handlers say.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_detail(max_upload_bytes: int) -> str:
    return f"the upload is too large: this server accepts models of up to {max_upload_bytes:,} bytes"


def body_too_large_detail(cap: int) -> str:
    return f"the request body is too large: this route accepts up to {cap:,} bytes"


def upload_routes(openapi: dict) -> tuple[tuple[re.Pattern, frozenset[str]], ...]:
    """The path patterns and methods of the operations whose documented body is a multipart upload (`farm.api.routes.
    models.multipart_body`), from the app's OpenAPI document."""
    found = []
    for path, operations in openapi.get("paths", {}).items():
        methods = frozenset(
            method.upper()
            for method, operation in operations.items()
            if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
        )
        if methods:
            found.append((re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), methods))
    return tuple(found)


@dataclass(frozen=True)
class BodyCaps:
    """The largest body each route accepts, and what its 413 says."""

    upload_bytes: int
    """Upload routes: the model (or sample inputs) plus its form's other fields."""
    upload_detail: str
    json_bytes: int
    """Every other API route."""
    form_bytes: int
    """The dashboard's forms."""
    is_form: Callable[[str], bool]
    """Whether a path is the dashboard's (`farm.api.ui.is_page_path`)."""
    uploads: tuple[tuple[re.Pattern, frozenset[str]], ...] = ()
    """The upload routes' path patterns and methods (`upload_routes`)."""

    def of(self, method: str, path: str) -> tuple[int, str]:
        """The cap of a request, and the detail of its 413."""
        if self.is_form(path):
            return self.form_bytes, body_too_large_detail(self.form_bytes)
        if any(method in methods and pattern.match(path) for pattern, methods in self.uploads):
            return self.upload_bytes, self.upload_detail
        return self.json_bytes, body_too_large_detail(self.json_bytes)


class BodyLimit:
    """ASGI middleware refusing a request body over its route's cap (`BodyCaps`)."""

    def __init__(self, app: ASGIApp, caps: BodyCaps) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, detail = self.caps.of(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            response = JSONResponse({"detail": detail}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > cap:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail)
            return message

        await self.app(scope, limited_receive, send)

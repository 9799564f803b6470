"""The request body limit: a body over it is refused with 413 and a JSON message, before it is stored anywhere.

A body that declares a larger Content-Length is refused before any of it is read; one
sent without (chunked) is cut off as soon as the bytes read pass the limit. (Starlette's
own body limit answers a declared oversize in plain text, whatever the app's handlers say.)
"""

from __future__ import annotations

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_detail(max_upload_bytes: int) -> str:
    return f"the upload is too large: this server accepts models of up to {max_upload_bytes:,} bytes"


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_body_bytes`, saying the upload limit `max_upload_bytes`."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            response = JSONResponse(
                {"detail": too_large_detail(self.max_upload_bytes)}, status_code=status.HTTP_413_CONTENT_TOO_LARGE
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)

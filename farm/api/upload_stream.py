"""A model upload received straight into one temporary file, under a deadline and a cap on uploads at once.

FastAPI's own `UploadFile` spools the multipart body to a temporary file, which the route
then copied to a second one before the artifact store made its own copy: three full
copies of a model on the server's disks for one upload. Here the body is parsed as it
streams in (python-multipart's push parser, the one Starlette uses) and the file part is
written to one temporary file, which the store then takes; text fields are kept in memory
up to `MAX_FIELD_BYTES` each. The whole body must arrive within `deadline_s` (a client
dripping a byte at a time is cut off with 408, however long each single read takes), and
at most `UploadSlots` uploads are received at once (one more is a 503 with Retry-After),
so a few slow clients cannot hold every worker and fill the temporary folder. Fields sent
before the file (as the SDK, the CLI, httpx and browsers send them) are checked by
`on_file` before the file's bytes are read, so a bad name costs no upload.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import HTTPException, Request, status
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from farm.api.limits import too_large_detail

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16


@dataclass
class ReceivedUpload:
    """The text fields of a multipart upload and its one file, written to `path` (None if the body had no file part)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: str | None = None
    size: int = 0


class UploadSlots:
    """At most `limit` uploads received at once in this server (one event loop: a plain counter)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.busy = limit, 0

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold a slot while an upload is received; 503 with Retry-After when every slot is busy."""
        if self.busy >= self.limit:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the server is receiving {self.limit} uploads already, its most at once: try again shortly",
                headers={"Retry-After": "5"},
            )
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1


class _Parts:
    """python-multipart's callbacks: collect text fields, write the file part to `path`."""

    def __init__(self, path: str, max_file_bytes: int) -> None:
        self.upload = ReceivedUpload()
        self.path, self.max_file_bytes = path, max_file_bytes
        self.header_field, self.header_value = b"", b""
        self.name: str | None = None
        self.is_file = False
        self.file_started = False
        self.value = bytearray()
        self.out = None

    def on_part_begin(self) -> None:
        self.name, self.is_file, self.value = None, False, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_field.lower() == b"content-disposition":
            _, options = parse_options_header(self.header_value)
            self.name = options.get(b"name", b"").decode("utf-8", "replace")
            if self.name == FILE_FIELD:
                self.is_file = True
                self.upload.filename = options.get(b"filename", b"model.onnx").decode("utf-8", "replace")
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        if self.is_file:
            if self.upload.path is not None:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "an upload takes one file")
            self.out = open(self.path, "wb")  # noqa: SIM115 - a part spans many writes: closed at its end or by `close`
            self.upload.path = self.path
            self.file_started = True
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"an upload takes at most {MAX_FIELDS} fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.is_file:
            self.upload.size += end - start
            if self.upload.size > self.max_file_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large_detail(self.max_file_bytes))
            self.out.write(data[start:end])
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, f"the field {self.name!r} is over {MAX_FIELD_BYTES} bytes"
                )

    def on_part_end(self) -> None:
        if self.is_file:
            self.close()
        elif self.name is not None:
            self.upload.fields[self.name] = self.value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive_upload(
    request: Request,
    folder: str,
    *,
    max_file_bytes: int,
    deadline_s: float,
    on_file: Callable[[ReceivedUpload], Awaitable[None]] | None = None,
) -> ReceivedUpload:
    """Parse the multipart body of `request` as it arrives, its file part written to one file in `folder`.

    `on_file(upload)` runs once the file part starts, with the fields sent before it and the
    file's name (or at the end, if there was no file part). 413 for
    a file over `max_file_bytes`, 408 when the body has not arrived whole within `deadline_s`.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the upload as multipart/form-data, the file in the field 'file'",
        )
    parts = _Parts(os.path.join(folder, "model.onnx"), max_file_bytes)
    callbacks = {name: getattr(parts, name) for name in dir(_Parts) if name.startswith("on_")}
    parser = MultipartParser(options[b"boundary"], callbacks)
    deadline = time.monotonic() + deadline_s
    chunks = request.stream().__aiter__()
    checked = on_file is None
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), max(0.0, deadline - time.monotonic()))
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise HTTPException(
                    status.HTTP_408_REQUEST_TIMEOUT, f"the upload did not arrive whole within {deadline_s:g} s"
                ) from None
            try:
                parser.write(chunk)
            except MultipartParseError as e:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the upload is not a well-formed multipart body: {e}")
            if not checked and parts.file_started:
                checked = True
                await on_file(parts.upload)
        parser.finalize()
    finally:
        parts.close()
    if not checked:
        await on_file(parts.upload)
    return parts.upload

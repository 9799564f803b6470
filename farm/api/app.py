"""The FastAPI application: every router under `/api/v1`, registry errors as HTTP statuses, the upload limit.

`create_app` takes an open `Registry` (the caller owns and closes it) and, optionally, the
workflow service that runs workflows on the cluster: it is told of new and cancelled
workflows and asked for the cluster's device kinds, and its `recover` runs at start-up.
Without one, workflows are only recorded (pending) and `/targets` is empty.

A request with a body and no valid token is refused with 401 before its body is read
(`farm.api.token_gate`); no request body may exceed `max_upload_bytes` plus room for the
form's other fields, the excess refused with 413 while it is read, before anything is stored.
The web dashboard is served at `/ui` (`farm.api.ui`).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

from fastapi import FastAPI

from farm.api.deps import WorkflowService
from farm.api.docs import install_docs
from farm.api.errors import install_error_handlers
from farm.api.limits import BodyCaps, BodyLimit, too_large_detail, upload_routes
from farm.api.routes import models, offers, packages, prices, projects, system, users, variants
from farm.api.routes import workflows as workflow_routes
from farm.api.schemas import ERROR_RESPONSES
from farm.api.settings import Settings
from farm.api.token_gate import TokenGate
from farm.api.ui import install_ui, is_page_path
from farm.api.upload_stream import UploadSlots
from farm.registry.database import Registry

API_PREFIX = "/api/v1"
FORM_ROOM_BYTES = 2 << 20


def create_app(
    registry: Registry, settings: Settings | None = None, *, workflows: WorkflowService | None = None
) -> FastAPI:
    """The farm's REST API over `registry` under `settings` (default: `Settings()`, from the environment), with
    `workflows` (if given) running what users submit.

    Webhook URLs are checked under the settings' webhook policy; a user who is not an admin
    may have at most `max_workflows_per_user` workflows pending or running at once; an
    uploaded model is read and checked in a process whose address space is capped at
    `max_parse_memory_bytes`; at most `max_concurrent_uploads` are received at once, each
    whole within `upload_deadline_s`.
    """
    settings = settings or Settings()
    max_upload_bytes = settings.max_upload_bytes

    def lifespan(app: FastAPI) -> Iterator[None]:
        if workflows is not None:
            workflows.recover()
        yield

    app = FastAPI(
        title="tuning farm",
        summary="Upload ONNX models, autotune them for every device kind of a Ray cluster, download the variants.",
        version=version("tuning-farm"),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.registry = registry
    app.state.workflows = workflows
    app.state.settings = settings
    app.state.upload_slots = UploadSlots(settings.max_concurrent_uploads)
    for module in (system, users, projects, models, variants, workflow_routes, packages, prices, offers):
        app.include_router(module.router, prefix=API_PREFIX)
    install_error_handlers(app)
    install_ui(app)
    caps = BodyCaps(
        upload_bytes=max_upload_bytes + FORM_ROOM_BYTES,
        upload_detail=too_large_detail(max_upload_bytes),
        json_bytes=settings.max_json_body_bytes,
        form_bytes=settings.max_form_body_bytes,
        is_form=is_page_path,
        uploads=upload_routes(app.openapi()),
    )
    app.add_middleware(BodyLimit, caps=caps)
    app.add_middleware(TokenGate, registry=registry, prefix=API_PREFIX)  # added last, so it runs first
    return app

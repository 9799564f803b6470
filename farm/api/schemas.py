"""Request and response bodies of the REST API; responses are read straight from the registry's records."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    PositiveInt,
    computed_field,
    model_validator,
)

from farm.registry.validation import MAX_LABEL, MAX_LABELS, MAX_TEXT
from farm.registry.validation import MAX_NAME as MAX_RECORD_NAME
from farm.schemas import Record, Schema
from farm.workflow_options import MAX_KINDS, Name, WorkflowOptions

T = TypeVar("T")


class Problem(Schema):
    """Why a request was refused."""

    detail: str | list[dict[str, Any]] = Field(
        description="What went wrong, in words; for a request whose fields fail validation, one entry per field "
        "(`loc`, `msg`, `type`)."
    )


ERRORS = {
    400: "The request cannot be taken as sent (e.g. an upload that is not an ONNX model).",
    401: "No valid API token: missing, unknown, revoked, expired, or its user deactivated.",
    403: "The token's user may not do this: their role says why.",
    404: "No such record, or one the user may not see.",
    408: "The upload did not arrive whole within the server's deadline.",
    409: "The change clashes with what is stored: a taken name, a state that does not allow it.",
    413: "The upload is larger than the server accepts.",
    422: "A value that can never be accepted, or fields that fail validation.",
    503: "The server is busy receiving other uploads: retry after the Retry-After header's seconds.",
}
"""Every error answer the API gives, as documented on every route (each is a `Problem`)."""
ERROR_RESPONSES = {code: {"model": Problem, "description": text} for code, text in ERRORS.items()}


class Page(Schema, Generic[T]):
    """One page of a listing and how many records match in all."""

    items: list[T]
    """The records of this page."""
    total: int
    """Records matching the query, over all pages."""
    offset: int
    """Records skipped before this page."""
    limit: int
    """Most records a page holds."""


class UserOut(Record):
    id: str
    """The user's id."""
    email: str
    """The user's e-mail address, unique."""
    is_admin: bool
    """Manages users, prices and every record."""
    can_optimize: bool
    """May upload models and start workflows."""
    is_active: bool
    """False once deactivated: the user's tokens no longer work."""
    webhook_url: str | None
    """Notified when the user's workflows end, unless a workflow names its own."""
    created_at: datetime
    """When the user was created."""

    @computed_field
    @property
    def read_only(self) -> bool:
        """Neither admin nor optimizer: may list, show and download only."""
        return not (self.is_admin or self.can_optimize)


class MeOut(UserOut):
    """The calling user, with the secret that signs the webhooks the farm sends them (`X-Farm-Signature`)."""

    webhook_secret: str | None
    """Signs the webhooks sent to the user (HMAC-SHA256 of the body, header X-Farm-Signature)."""


class UserCreate(Schema):
    email: str
    """The new user's e-mail address, unique."""
    admin: bool = False
    """Make the user an admin."""
    can_optimize: bool = True
    """Let the user upload models and start workflows."""
    read_only: bool = False
    """Neither admin nor optimizer: may list, show and download only."""


class UserUpdate(Schema):
    """Fields to change; `read_only: true` takes both roles away, `read_only: false` grants can-optimize."""

    admin: bool | None = None
    """Grant or take away the admin role."""
    can_optimize: bool | None = None
    """Grant or take away the right to upload models and start workflows."""
    read_only: bool | None = None
    """true takes both roles away; false grants can-optimize."""
    is_active: bool | None = None
    """false deactivates the user (their tokens stop working); true reactivates."""
    webhook_url: str | None = Field(
        None, description="An http(s) URL notified when the user's workflows end; an empty string removes it."
    )

    @model_validator(mode="after")
    def _roles_agree(self) -> UserUpdate:
        if self.read_only and (self.admin or self.can_optimize):
            raise ValueError("read_only cannot be combined with admin or can_optimize set to true")
        return self

    def roles(self) -> dict[str, bool | None]:
        """The `is_admin` and `can_optimize` values this update sets (None: unchanged)."""
        if self.read_only:
            return {"is_admin": False, "can_optimize": False}
        can_optimize = True if self.read_only is False and self.can_optimize is None else self.can_optimize
        return {"is_admin": self.admin, "can_optimize": can_optimize}


class TokenCreate(Schema):
    name: str = Field("default", max_length=128)
    """A name to tell the user's tokens apart."""
    expires_in_days: PositiveInt | None = Field(
        None, le=3650, description="Days the token is valid (default: until revoked)."
    )

    @property
    def expires_in(self) -> timedelta | None:
        return timedelta(days=self.expires_in_days) if self.expires_in_days is not None else None


class TokenOut(Record):
    id: str
    """The token's id (not the token)."""
    user_id: str
    """Whose token it is."""
    name: str
    """The name given at creation."""
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    """When the token was created."""
    revoked_at: datetime | None
    """When it was revoked; null while valid."""
    last_used_at: datetime | None = Field(description="When the token was last used, to the minute.")
    expires_at: datetime | None
    """When it stops working; null: when revoked."""


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once, only its hash is stored.")


Text = Annotated[str, Field(max_length=MAX_TEXT)]
ShortName = Annotated[str, Field(max_length=MAX_RECORD_NAME)]


class ProjectCreate(Schema):
    name: ShortName
    """The project's name, unique."""
    description: Text = ""
    """Free text."""


class ProjectUpdate(Schema):
    name: ShortName | None = None
    """A new name, unique."""
    description: Text | None = None
    """A new description."""


class MemberOut(Schema):
    user_id: str
    """The member's user id."""
    email: str
    """The member's email."""
    role: str = Field(
        description="viewer (sees and downloads), member (also uploads, edits, optimizes) or owner (also manages the project)."
    )
    created_at: datetime
    """When they joined the project."""


class MemberSet(Schema):
    role: Literal["viewer", "member", "owner"] = Field(
        description="viewer sees and downloads; member also uploads, edits and optimizes; owner also manages the project."
    )


class ModelUpdate(Schema):
    name: ShortName | None = None
    """A new name, unique within the project."""
    description: Text | None = None
    """A new description."""
    labels: list[Annotated[str, Field(max_length=MAX_LABEL)]] | None = Field(
        None, max_length=MAX_LABELS, description="Replaces every label."
    )


class ModelMove(Schema):
    project_id: str | None = Field(description="The project to move into; null detaches the model.")


class WorkflowCreate(WorkflowOptions):
    model_id: str = Field(max_length=64)
    """The model to optimize."""
    targets: list[Name] = Field(
        min_length=1, max_length=MAX_KINDS, description="Device kinds to tune for, e.g. ['x86-64-v3', 'znver4']."
    )
    webhook_url: str | None = Field(
        None, max_length=2048, description="Notified when the workflow ends (default: the user's webhook URL)."
    )

    def options(self) -> WorkflowOptions:
        """The workflow's options, without what says which model, where and whom to notify."""
        return WorkflowOptions.model_validate(self.model_dump(include=set(WorkflowOptions.model_fields)))


class PriceIn(Schema):
    usd_per_hour: float = Field(
        ge=0, allow_inf_nan=False, description="What an hour of the device kind costs, in US dollars."
    )


class PriceOut(Record):
    kind: str
    """The device kind."""
    usd_per_hour: float
    """What an hour of it costs, in US dollars."""
    updated_by: str | None
    """The admin who set it."""
    updated_at: datetime
    """When it was set."""


class TargetOut(Schema):
    """A device kind the cluster serves."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    name: str
    """The device kind's name, e.g. x86-64-v3."""
    platform: str
    """cpu or gpu."""
    target: dict[str, Any]
    """Its canonical TVM target."""
    nodes: int
    """Live nodes that serve it."""


class Health(Schema):
    status: str
    """ok when the API answers."""
    version: str
    """The farm's version."""

"""The server's settings: one object, its defaults in one place, read from `FARM_*` environment variables.

FastAPI's settings pattern: a `pydantic_settings.BaseSettings` whose fields are the
server's options, each settable as `FARM_<FIELD>` (`FARM_MAX_RUNNING=4`); `farm serve`
builds it from the options given on its command line (which win over the environment),
`create_app` keeps it as `app.state.settings`, and routes read it through
`farm.api.deps.get_settings`. The workflow service is built from it too (`workflow_service`).
"""

from __future__ import annotations

import os

from pydantic import Field, NonNegativeFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from farm.models.onnx_check import MEMORY_BYTES as PARSE_MEMORY_BYTES
from farm.paths import data_dir, data_folder_db
from farm.workflows.notify import WebhookPolicy

KiB = 1 << 10
MiB = 1 << 20


class Settings(BaseSettings):
    """How `farm serve` serves: where, over which data, and the limits it holds every user to."""

    model_config = SettingsConfigDict(env_prefix="FARM_", use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = Field(8000, ge=0, le=65535)
    """Port to listen on."""
    data_dir: str | None = None
    """Folder of registry.db and artifacts/ (default: the user data directory)."""
    address: str | None = None
    """Ray cluster address (default: $RAY_ADDRESS, else an embedded Ray)."""
    db: str | None = None
    """Tuning database URI (default: tuning-db/ in the data folder)."""
    max_running: PositiveInt = 2
    """Workflows run at once; more wait, pending."""
    max_workflows_per_user: PositiveInt = 20
    """Pending and running workflows a user who is not an admin may have at once."""
    max_upload_bytes: PositiveInt = 512 * MiB
    """The largest model file an upload may carry."""
    max_parse_memory_bytes: int = Field(PARSE_MEMORY_BYTES, ge=64 * MiB)
    """Address space of the process that reads and checks an uploaded model."""
    max_json_body_bytes: int = Field(1 * MiB, ge=64 * KiB)
    """The largest body of a JSON route (every API route but the uploads), refused with 413 before it is read."""
    max_form_body_bytes: int = Field(64 * KiB, ge=4 * KiB)
    """The largest body of a dashboard form (`/ui`), refused with 413 before it is read."""
    max_concurrent_uploads: PositiveInt = 4
    """Uploads received at once; one more gets a 503."""
    upload_deadline_s: float = Field(600.0, ge=1.0)
    """Seconds an upload may take to arrive whole."""
    offers_every_min: NonNegativeFloat = 10.0
    """Minutes between checks for re-optimization offers (0: only `farm offers check`)."""
    allow_private_webhooks: bool = False
    """Let webhooks reach loopback, private and link-local addresses (receivers of your own)."""

    @property
    def folder(self) -> str:
        """The data folder, absolute."""
        return os.path.abspath(self.data_dir or data_dir())

    @property
    def webhooks(self) -> WebhookPolicy:
        """Where webhooks may go."""
        return WebhookPolicy(allow_private=self.allow_private_webhooks)

    def workflow_service(self, registry):
        """The service that runs the registry's workflows on the Ray cluster under these settings."""
        from farm.workflows.service import WorkflowService

        return WorkflowService(
            registry,
            address=self.address,
            db_uri=data_folder_db(self.db, self.folder),
            work_root=os.path.join(self.folder, "work"),
            max_running=self.max_running,
            webhooks=self.webhooks,
            offer_every_s=self.offers_every_min * 60 or None,
        )

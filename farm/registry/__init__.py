"""The farm's registry: users and tokens, projects, models and their variants, workflows, benchmark results and packages.

`Registry` opens the database (SQLite by default, any SQLAlchemy URL) and its
content-addressed `ArtifactStore`; the functions in `accounts`, `catalog` and
`workflow_records` take a session from `Registry.session()` and raise the errors of
`errors` with messages meant for users.
"""

from farm.registry.artifacts import ArtifactStore
from farm.registry.database import Registry, default_registry_url, registry_url
from farm.registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RegistryError

__all__ = [
    "ArtifactStore",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "Registry",
    "RegistryError",
    "default_registry_url",
    "registry_url",
]

"""Opening the registry: the SQLAlchemy engine, schema migrations, transactional sessions and the artifact store.

The registry is SQLite at `<data dir>/registry.db` by default, or any SQLAlchemy URL
(`FARM_REGISTRY_URL`, e.g. PostgreSQL for a farm shared by a team). Opening it runs the
Alembic migrations up to head, with the `Config` built in code (no alembic.ini).

SQLite is set up for a server with many threads and for several processes on one file:
WAL journal (readers never wait for the writer), foreign keys enforced, a 30 s busy
timeout, and every transaction that may write opened with `BEGIN IMMEDIATE`, so one that
reads then writes never fails to upgrade its lock and two writers simply take turns; a
read-only session (`session(read_only=True)`, what the API's GET requests use) opens a
deferred transaction, which reads a snapshot and never waits for a writer.
The migration runs inside such a transaction too, so two processes opening a fresh file
at once apply it once: the second waits, then finds the schema at head.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from farm.registry.artifacts import ArtifactStore

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30
READ_ONLY = "farm_read_only"  # an execution option of the read-only sessions' engine


def default_registry_url(data_dir: str) -> str:
    """The SQLite registry inside a data folder: `sqlite:///<data_dir>/registry.db`."""
    return f"sqlite:///{os.path.join(os.path.abspath(os.path.expanduser(data_dir)), 'registry.db')}"


def registry_url(data_dir: str) -> str:
    """`$FARM_REGISTRY_URL` when set, else the SQLite registry inside `data_dir`."""
    return os.environ.get("FARM_REGISTRY_URL") or default_registry_url(data_dir)


PRIVATE_DIR, PRIVATE_FILE = (
    0o700,
    0o600,
)  # a new data folder and registry file: the registry holds token hashes and webhook secrets


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    fresh = bool(path) and path != ":memory:" and not os.path.exists(path)
    if fresh:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=PRIVATE_DIR, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        if (
            fresh
        ):  # a registry this process created: private to its owner. (chmod, never open+close: closing any descriptor
            for name in (
                path,
                f"{path}-wal",
                f"{path}-shm",
            ):  # of the file would drop this process's SQLite locks on it)
                if os.path.exists(name):
                    os.chmod(name, PRIVATE_FILE)

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Registry:
    """The registry database at `url` with its artifact store at `artifacts_uri`, migrated to head on open."""

    def __init__(self, url: str, artifacts_uri: str) -> None:
        self.url = url
        self.engine = (
            _sqlite_engine(url)
            if make_url(url).get_backend_name() == "sqlite"
            else create_engine(url, pool_pre_ping=True)
        )
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self.artifacts = ArtifactStore(artifacts_uri)

    @classmethod
    def for_data_dir(cls, data_dir: str) -> Registry:
        """The registry of a data folder: `registry_url(data_dir)`, artifacts in `$FARM_ARTIFACTS_URI` or `<data_dir>/artifacts`."""
        folder = os.path.abspath(os.path.expanduser(data_dir))
        os.makedirs(folder, mode=PRIVATE_DIR, exist_ok=True)
        artifacts = os.environ.get("FARM_ARTIFACTS_URI") or os.path.join(folder, "artifacts")
        return cls(registry_url(data_dir), artifacts)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises.

        Records stay readable after the block (attributes are not expired on commit). A
        `read_only` session must not write: on SQLite it reads a snapshot without waiting
        for writers (a deferred transaction).
        """
        with (self._read_sessions if read_only else self._sessions).begin() as s:
            yield s

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

"""A real PostgreSQL server on loopback for the registry's tests: its own cluster in a temporary folder, a fresh
database per test.

Debian's `postgresql` package provides the server (`.ci/run` installs it). PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` system user and
its commands run through `runuser`. Without the server the tests that need it are skipped,
unless `FARM_REQUIRE_POSTGRES=1` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid

from typing_extensions import Self

REQUIRE_VAR = "FARM_REQUIRE_POSTGRES"


def server_binaries() -> str | None:
    """The folder of PostgreSQL's server programs (`initdb`, `pg_ctl`), the newest installed, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """`initdb` + `pg_ctl start` on 127.0.0.1 at a free port, trusting local connections; stopped and removed on exit."""

    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.root = tempfile.mkdtemp(prefix="farm-pg-")
        self.data = os.path.join(self.root, "data")
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr or proc.stdout}")

    def __enter__(self) -> Self:
        if self.as_root:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-w", "-t", "60", "-l", f"{self.root}/log", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"farm_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

"""Shared fixtures: the loopback S3 server and database URIs on local disk and on S3; the tiers; the test process's exit.

Tiers: `slow` marks full tunes (a test module's, or the shared `tuned_variants`),
wheel-in-a-fresh-venv and Ray-job workflows; `cluster` marks what starts a Ray cluster.
`pytest -m "not slow"` is the quick check; `.ci/run` runs everything.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from tests.postgres_server import REQUIRE_VAR, PostgresServer, server_binaries
from tests.ray_cluster import FarmCluster
from tests.s3_server import S3Server

if TYPE_CHECKING:
    import onnxruntime


@pytest.fixture(scope="session")
def s3_server():
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of its own on loopback for the session (skipped where none is installed, unless CI)."""
    bin_dir = server_binaries()
    if bin_dir is None:
        if os.environ.get(REQUIRE_VAR) == "1":
            pytest.fail("PostgreSQL's server is not installed (Debian: apt-get install postgresql)")
        pytest.skip("PostgreSQL's server is not installed (Debian: apt-get install postgresql; .ci/run does)")
    with PostgresServer(bin_dir) as server:
        yield server


@pytest.fixture
def s3_uri(s3_server) -> str:
    return f"s3://{s3_server.new_bucket()}/tuning-db"


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def db_uri(request, tmp_path) -> str:
    """A fresh database URI: a local folder, then a prefix in a fresh bucket of the loopback S3 server."""
    if request.param == "local":
        return str(tmp_path / "tuning-db")
    return request.getfixturevalue("s3_uri")


@pytest.fixture(scope="module")
def farm_cluster():
    """A head with the machine's CPUs and device nodes x86-64 (two) and x86-64-v3, for one test module."""
    farm = FarmCluster()
    yield farm
    farm.shutdown()


SLOW_FIXTURES = {"tuned_variants"}  # a real tune, shared by the packaging and runtime tests
CLUSTER_FIXTURES = {"farm_cluster", "tuned_variants"}


def pytest_collection_modifyitems(config, items) -> None:
    """Mark by what a test uses: `slow` for the shared real tune, `cluster` for a Ray cluster."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if used & CLUSTER_FIXTURES:
            item.add_marker(pytest.mark.cluster)


_exit_status: list[int] = []


def ort_session(model: str | bytes) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session of `model` (a path or bytes) as the farm makes them: on the process's shared thread pool
    once a hybrid model in this process has made one (ONNX Runtime then refuses sessions with pools of their own)."""
    import onnxruntime

    from farm.runtime.ort_model import session_options

    return onnxruntime.InferenceSession(model, session_options({}), providers=["CPUExecutionProvider"])


def pytest_sessionfinish(session, exitstatus) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave with pytest's status once it has reported everything, without the interpreter's finalization.

    The suite's process holds ONNX Runtime sessions, TVM thread pools and Ray's core worker
    side by side; destroying them in the interpreter's teardown crashed CI once after every
    test had passed (SIGSEGV, exit 139, no traceback), a native teardown-order fault of
    the libraries that no test is about. Every fixture has already been torn down here.
    """
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])

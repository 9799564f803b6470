"""Shared fixtures: the loopback S3 server and database URIs on local disk and on S3."""

from __future__ import annotations

import pytest

from tests.ray_cluster import FarmCluster
from tests.s3_server import S3Server


@pytest.fixture(scope="session")
def s3_server():
    with S3Server() as server:
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

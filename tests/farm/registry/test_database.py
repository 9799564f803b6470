"""Opening the registry: migrations from empty and on re-open, concurrent openers, SQLite settings, sessions, URLs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from farm.registry import Registry, default_registry_url, registry_url
from farm.registry.access import members
from farm.registry.accounts import get_user
from farm.registry.catalog import create_project, get_project, list_projects
from farm.registry.database import MIGRATIONS
from farm.registry.schema import Base, Variant

TABLES = {
    "users",
    "api_tokens",
    "projects",
    "models",
    "variants",
    "workflows",
    "benchmark_results",
    "packages",
    "device_prices",
    "project_members",
    "progress_points",
    "offers",
    "alembic_version",
}


HEAD = "0007"  # the newest migration


def versions(reg: Registry) -> list[str]:
    with reg.engine.connect() as c:
        return [row[0] for row in c.execute(text("SELECT version_num FROM alembic_version"))]


def test_an_empty_database_is_migrated_to_exactly_the_orm_schema(registry):
    assert set(inspect(registry.engine).get_table_names()) == TABLES
    assert versions(registry) == [HEAD]
    with registry.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
        if registry.engine.dialect.name == "sqlite":
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_keeps_the_data_and_leaves_the_schema_at_head(tmp_path):
    url, artifacts = default_registry_url(str(tmp_path)), str(tmp_path / "artifacts")
    first = Registry(url, artifacts)
    with first.session() as s:
        project_id = create_project(s, "vision", "image models").id
    first.close()
    again = Registry(url, artifacts)
    with again.session() as s:
        assert get_project(s, project_id).description == "image models"
    assert versions(again) == [HEAD]
    again.close()


def test_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path):
    url = default_registry_url(str(tmp_path / "shared"))
    code = f"from farm.registry import Registry; Registry({url!r}, {str(tmp_path / 'artifacts')!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    reg = Registry(url, str(tmp_path / "artifacts"))
    assert versions(reg) == [HEAD]
    reg.close()


def test_downgrade_to_empty_and_upgrade_again(registry):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with registry.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(registry.engine).get_table_names()) == {"alembic_version"}
    with registry.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert set(inspect(registry.engine).get_table_names()) == TABLES


def test_a_session_commits_on_success_and_rolls_back_on_error(registry):
    with registry.session() as s:
        create_project(s, "kept")
    with pytest.raises(RuntimeError), registry.session() as s:
        create_project(s, "dropped")
        raise RuntimeError("boom")
    with registry.session() as s:
        assert [p.name for p in list_projects(s)[0]] == ["kept"]


def test_foreign_keys_are_enforced(registry):
    with pytest.raises(IntegrityError), registry.session() as s:
        s.add(
            Variant(
                model_id="0" * 32,
                kind="original",
                artifact_key="a" * 64,
                artifact_name="x.onnx",
                size_bytes=1,
                metrics={},
            )
        )
        s.flush()


def test_times_are_read_back_timezone_aware_utc(registry):
    with registry.session() as s:
        project_id = create_project(s, "p").id
    with registry.session() as s:
        created = get_project(s, project_id).created_at
    assert created.tzinfo is not None and created.utcoffset() == timezone.utc.utcoffset(None)


def test_a_new_data_folder_and_its_registry_are_private_to_their_owner(tmp_path, monkeypatch):
    """Issue 12 item 9: the registry holds token hashes and webhook secrets."""
    monkeypatch.delenv("FARM_REGISTRY_URL", raising=False)
    monkeypatch.delenv("FARM_ARTIFACTS_URI", raising=False)
    folder = tmp_path / "farm-data"
    reg = Registry.for_data_dir(str(folder))
    with reg.session() as s:
        create_project(s, "p")
    modes = {p.name: p.stat().st_mode & 0o777 for p in [folder, *folder.iterdir()]}
    reg.close()
    assert modes.pop("farm-data") == 0o700 and modes.pop("artifacts") == 0o700
    assert modes and all(mode == 0o600 for mode in modes.values()), modes  # registry.db and its -wal and -shm files


def test_urls_come_from_the_data_folder_unless_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv("FARM_REGISTRY_URL", raising=False)
    monkeypatch.delenv("FARM_ARTIFACTS_URI", raising=False)
    assert default_registry_url(str(tmp_path)) == f"sqlite:///{tmp_path}/registry.db"
    assert registry_url(str(tmp_path)) == default_registry_url(str(tmp_path))
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("FARM_REGISTRY_URL", default_registry_url(str(other)))
    monkeypatch.setenv("FARM_ARTIFACTS_URI", str(other / "blobs"))
    reg = Registry.for_data_dir(str(tmp_path / "data"))
    assert reg.url == f"sqlite:///{other}/registry.db" and reg.artifacts.uri == str(other / "blobs")
    assert os.path.isfile(other / "registry.db") and not os.path.exists(tmp_path / "data" / "registry.db")
    reg.close()


def test_a_registry_of_the_first_schema_is_upgraded_in_place_keeping_its_data(tmp_path):
    from sqlalchemy import create_engine

    url, artifacts = default_registry_url(str(tmp_path)), str(tmp_path / "artifacts")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO projects (id, name, description, created_at) VALUES ('p1', 'old', 'kept', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text("INSERT INTO projects (id, name, description, created_at) VALUES ('p2', 'empty', '', '2026-01-01')")
        )
        for user, admin in (("u1", 0), ("u2", 0), ("u3", 1)):
            connection.execute(
                text(
                    f"INSERT INTO users (id, email, is_admin, can_optimize, is_active, created_at) "
                    f"VALUES ('{user}', '{user}@old', {admin}, 1, 1, '2026-01-0{user[1]} 00:00:00')"
                )
            )
        for model, uploader, day in (("m1", "NULL", 1), ("m2", "'u2'", 2), ("m3", "'u1'", 3)):
            connection.execute(
                text(
                    "INSERT INTO models (id, name, description, labels, project_id, inputs, outputs, created_by, "
                    f"created_at) VALUES ('{model}', '{model}', '', '[]', 'p1', '[]', '[]', {uploader}, '2026-02-0{day}')"
                )
            )
    engine.dispose()
    reg = Registry(url, artifacts)
    assert versions(reg) == [HEAD] and "device_prices" in inspect(reg.engine).get_table_names()
    with reg.session() as s:
        assert get_project(s, "p1").description == "kept"
        secrets = [get_user(s, user).webhook_secret for user in ("u1", "u2")]
        assert all(len(secret) == 64 for secret in secrets) and secrets[0] != secrets[1], (
            "existing users get their own webhook secrets"
        )
        # existing projects are owned by the uploader of their oldest model that has one, else by the first admin
        owners = {p: [(m.user_id, m.role) for m, _ in members(s, p)] for p in ("p1", "p2")}
        assert owners == {"p1": [("u2", "owner")], "p2": [("u3", "owner")]}
    reg.close()

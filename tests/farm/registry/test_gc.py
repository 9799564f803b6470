"""`farm admin gc`: the artifacts no variant or package refers to (a deleted model's, a crash's leftovers) are found,
kept in a dry run, deleted with --delete; referenced and freshly stored ones are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta

import pytest

from farm.registry import Registry, default_registry_url
from farm.registry.catalog import add_package, delete_model, list_variants, upload_model
from farm.registry.gc import collect
from tests.farm.registry.conftest import tiny_onnx

HOUR = 3600


def _path(registry: Registry, key: str) -> str:
    return next(f.path for f in registry.artifacts.listing() if f.key == key)


def _age(registry: Registry, key: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(_path(registry, key), (then, then))


def _world(registry: Registry, tmp_path) -> dict:
    """A kept model with a package, a deleted model, an orphan blob and a crash's leftover; all but one stored long ago."""
    store = registry.artifacts
    with registry.session() as s:
        kept = upload_model(s, store, tiny_onnx(tmp_path / "kept.onnx", width=4), name="kept")
        doomed = upload_model(s, store, tiny_onnx(tmp_path / "doomed.onnx", width=5), name="doomed")
        (tmp_path / "pkg.bin").write_bytes(b"package" * 100)
        package_key = store.put_file(str(tmp_path / "pkg.bin"))
        add_package(
            s,
            list_variants(s, kept.id)[0].id,
            format="tarball",
            artifact_key=package_key,
            artifact_name="p.tar.gz",
            size_bytes=700,
        )
        doomed_key = list_variants(s, doomed.id)[0].artifact_key
        kept_key = list_variants(s, kept.id)[0].artifact_key
        delete_model(s, doomed.id)
    (tmp_path / "orphan.bin").write_bytes(b"orphan" * 10)
    (tmp_path / "young.bin").write_bytes(b"young" * 10)
    orphan_key, young_key = store.put_file(str(tmp_path / "orphan.bin")), store.put_file(str(tmp_path / "young.bin"))
    return {"kept": kept_key, "package": package_key, "doomed": doomed_key, "orphan": orphan_key, "young": young_key}


def test_a_dry_run_reports_and_delete_removes_only_what_nothing_refers_to(registry, tmp_path):
    keys = _world(registry, tmp_path)
    for name in ("kept", "package", "doomed", "orphan"):
        _age(registry, keys[name], 2 * HOUR)
    leftover = _path(registry, keys["orphan"]) + ".tmp-crashed"  # as a crash leaves it
    with open(leftover, "wb") as f:
        f.write(b"half")
    os.utime(leftover, (time.time() - 2 * HOUR,) * 2)

    dry = collect(registry)
    assert dry["deleted"] is False and dry["artifacts"] == 5 and dry["kept_younger_than_min_age"] == 1
    assert {g["key"] for g in dry["garbage"]} == {keys["doomed"], keys["orphan"], None}
    assert [g["path"] for g in dry["garbage"] if g["key"] is None] == [leftover]
    assert all(registry.artifacts.exists(k) for k in keys.values()) and os.path.exists(leftover)

    done = collect(registry, delete=True)
    assert done["garbage"] == dry["garbage"] and done["garbage_bytes"] == dry["garbage_bytes"] > 0
    assert {k for k in keys.values() if registry.artifacts.exists(k)} == {keys["kept"], keys["package"], keys["young"]}
    assert not os.path.exists(leftover)
    assert collect(registry, delete=True)["garbage"] == []


def test_storing_bytes_already_stored_makes_them_young_again(registry, tmp_path):
    """An upload whose bytes are an unreferenced old blob is in flight: its record does not exist yet, its blob stays."""
    (tmp_path / "again.bin").write_bytes(b"again" * 10)
    key = registry.artifacts.put_file(str(tmp_path / "again.bin"))
    _age(registry, key, 2 * HOUR)
    assert [g["key"] for g in collect(registry)["garbage"]] == [key]
    registry.artifacts.put_file(str(tmp_path / "again.bin"))
    assert collect(registry, delete=True)["garbage"] == [] and registry.artifacts.exists(key)


@pytest.mark.s3
def test_gc_on_an_s3_artifact_store(tmp_path, s3_uri):
    registry = Registry(default_registry_url(str(tmp_path)), s3_uri)
    try:
        keys = _world(registry, tmp_path)
        assert collect(registry)["garbage"] == []  # everything was stored just now
        done = collect(registry, delete=True, min_age=timedelta(0))
        assert {g["key"] for g in done["garbage"]} == {keys["doomed"], keys["orphan"], keys["young"]}
        assert {k for k in keys.values() if registry.artifacts.exists(k)} == {keys["kept"], keys["package"]}
    finally:
        registry.close()


@pytest.mark.parametrize("registry", ["sqlite"], indirect=True)  # the command's part is the same on every database
def test_the_cli_is_a_dry_run_unless_told_to_delete(registry, tmp_path):
    keys = _world(registry, tmp_path)
    _age(registry, keys["orphan"], 2 * HOUR)
    data_dir = str(tmp_path / "data")  # the registry fixture's

    def gc(*args: str) -> dict:
        proc = subprocess.run(
            ["farm", "admin", "gc", "--data-dir", data_dir, "--json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert [g["key"] for g in gc()["garbage"]] == [keys["orphan"]] and registry.artifacts.exists(keys["orphan"])
    assert gc("--delete")["deleted"] is True and not registry.artifacts.exists(keys["orphan"])
    everything = gc("--min-age-hours", "0")["garbage"]
    assert {g["key"] for g in everything} == {keys["doomed"], keys["young"]}

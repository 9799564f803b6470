"""Saved cost models: the newest matching one is loaded, nothing is overwritten, old ones are pruned, on a folder and on S3."""

from __future__ import annotations

import pytest

from tuning_db.cost_models import COST_MODEL_DIR, CostModelStore


@pytest.fixture
def store(db_uri):
    return CostModelStore(db_uri, keep=2)


def test_the_newest_matching_model_is_loaded_and_old_ones_are_pruned(store):
    assert store.latest("tk-a") is None
    store.save("tk-a", b"first", {"tvm_version": "1", "record_ids": ["r1"]})
    store.save("tk-a", b"second", {"tvm_version": "1", "record_ids": ["r1", "r2"]})
    store.save("tk-a", b"other tvm", {"tvm_version": "2", "record_ids": []})
    store.save("tk-b", b"another target", {"tvm_version": "1", "record_ids": []})
    newest = store.latest("tk-a", tvm_version="1")
    assert newest.blob == b"second" and newest.record_ids == {"r1", "r2"}
    assert store.latest("tk-a").blob == b"other tvm"
    kept = [o.path for o in store.storage.list(f"{COST_MODEL_DIR}/target_key=tk-a/")]
    assert len(kept) == 4, "two pairs of blob and description are kept"
    assert store.latest("tk-b", tvm_version="1").blob == b"another target"


def test_a_description_without_its_blob_is_passed_over(store):
    store.save("tk", b"good", {"tvm_version": "1"})
    broken = store.save("tk", b"lost", {"tvm_version": "1"})
    store.storage.delete(broken)
    assert store.latest("tk", tvm_version="1").blob == b"good"

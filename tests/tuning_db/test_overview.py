"""The database at a glance: records, workloads and growth per target, saved cost models, the largest workloads."""

from __future__ import annotations

import datetime as dt

from tests.tuning_db.workloads import SMALL_TARGET, commit_record, matmul
from tuning_db import TuningDatabase
from tuning_db.cost_models import CostModelStore
from tuning_db.metaschedule import ParquetDatabase
from tuning_db.overview import overview


def test_an_overview_counts_each_target_and_ranks_workloads_by_flops(db_uri):
    db = ParquetDatabase(db_uri, SMALL_TARGET, model="net")
    small, large = matmul(16), matmul(64)
    for factor in (2, 4, 8):
        commit_record(db, large, [2e-4], factor=factor)
    commit_record(db, small, [1e-5])
    commit_record(db, small, [1e-5])  # the same schedule again: one record
    db.close()
    tuning = TuningDatabase(db_uri)
    (target_key,) = tuning.stats()["targets"]
    CostModelStore(tuning).save(target_key, b"blob", {"tvm_version": "0.27", "samples": 4, "record_ids": ["a", "b"]})
    seen = overview(tuning)
    assert (seen["records"], seen["workloads"]) == (4, 2) and seen["version"] == tuning.snapshot().version
    target = seen["targets"][target_key]
    assert (target["records"], target["workloads"]) == (4, 2)
    assert target["per_day"] == {dt.datetime.now(dt.timezone.utc).date().isoformat(): 4}
    (saved,) = target["cost_models"]
    assert saved["samples"] == 4 and saved["records"] == 2 and "record_ids" not in saved
    assert [w["records"] for w in seen["largest"]] == [3, 1]
    assert seen["largest"][0]["flops"] > seen["largest"][1]["flops"] and seen["largest"][0]["first_model"] == "net"
    assert overview(tuning, top=1)["largest"] == seen["largest"][:1]

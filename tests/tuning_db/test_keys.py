"""Portable keys: the same target or record gives the same key however it is spelled."""

from __future__ import annotations

import json

import pytest
from tvm.s_tir.meta_schedule.utils import _json_de_tvm
from tvm.target import Target

from tests.tuning_db.workloads import matmul
from tuning_db.keys import N_BUCKETS, bucket_of, canonical_target, record_id, target_key
from tuning_db.workload import WorkloadIndex, workload_key, workload_row


def test_a_target_has_one_canonical_form():
    a = {"kind": "llvm", "tag": "", "keys": ("cpu",), "mcpu": "znver4", "num-cores": 2}
    b = json.dumps({"num-cores": 2, "mcpu": "znver4", "keys": ["cpu"], "kind": "llvm"})
    assert canonical_target(a) == canonical_target(b)
    assert target_key(a) == target_key(b)
    assert target_key(a).startswith("llvm-znver4-c2-")
    assert target_key(a) != target_key({**a, "num-cores": 4})


def test_tvm_exported_targets_match_stored_ones():
    exported = _json_de_tvm(Target({"kind": "llvm", "mcpu": "znver4", "num-cores": 2}).export())
    assert target_key(exported) == target_key({"kind": "llvm", "keys": ["cpu"], "mcpu": "znver4", "num-cores": 2})


def test_a_target_without_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        canonical_target({"mcpu": "znver4"})


def test_record_ids_are_content_derived():
    args = ("wk", "{}", "[[],[]]", [1e-5, 2e-5], "[]")
    assert record_id(*args) == record_id(*args)
    assert record_id(*args) != record_id("wk", "{}", "[[],[]]", [1e-5], "[]")
    assert record_id("wk", "{}", "[[],[]]", None, "[]") != record_id("wk", "{}", "[[],[]]", [], "[]")


def test_buckets_cover_the_range():
    assert {bucket_of(f"{i:064x}") for i in range(64)} == set(range(N_BUCKETS))


def test_workload_key_is_stable_and_shape_sensitive():
    assert workload_key(matmul(32)) == workload_key(matmul(32))
    assert workload_key(matmul(32)) != workload_key(matmul(64))


def test_structurally_equal_modules_with_other_names_find_the_stored_workload():
    import tvm
    from tvm import te

    a = te.placeholder((32, 32), name="X")
    b = te.placeholder((32, 32), name="Y")
    k = te.reduce_axis((0, 32), name="r")
    c = te.compute((32, 32), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    renamed = tvm.IRModule({"main": te.create_prim_func([a, b, c])})
    row = workload_row(matmul(32))
    index = WorkloadIndex({row.workload_key: row})
    assert workload_key(renamed) != row.workload_key
    assert index.find(renamed) == row.workload_key
    assert index.find(matmul(16)) is None
    # `key` is what sessions count records by and the cost model groups by: the stored key, not the renamed text's
    assert index.key(renamed) == row.workload_key
    assert index.key(matmul(16)) == workload_key(matmul(16))

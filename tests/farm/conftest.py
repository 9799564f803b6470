"""Fixtures of the platform's tests: real variant folders, compiled by `farm tune` with no search.

`tuned_variants` runs `farm tune --trials 0` once per test session on an embedded Ray
of its own (a subprocess): the model is compiled with TVM's default schedules for the
kinds `x86-64` and `x86-64-v3` and verified against ONNX Runtime, exactly the folders
`farm tune --out` writes (`metadata.json`, `model.so`, `benchmark.json`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import onnx
import pytest

from farm.models.examples import resnet_cnn

VARIANT_KINDS = ("x86-64", "x86-64-v3")


@pytest.fixture(scope="session")
def tuned_variants(tmp_path_factory) -> dict:
    """`{"model": path of the ONNX original, "out": the tune's --out folder, "kinds": {kind: variant folder}, "summary": --json}`."""
    root = tmp_path_factory.mktemp("variants")
    model = root / "tiny.onnx"
    onnx.save(resnet_cnn(size=8, width=4, blocks=0), str(model))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [
            "farm",
            "tune",
            str(model),
            "--target",
            ",".join(VARIANT_KINDS),
            "--trials",
            "0",
            "--db",
            str(root / "db"),
            "--out",
            str(root / "out"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    return {
        "model": model,
        "out": root / "out",
        "kinds": {k: Path(root / "out" / k) for k in VARIANT_KINDS},
        "summary": summary,
    }


def mixed_hybrid(model_path: str, target: dict, db_path: str) -> tuple[dict, bytes]:
    """A hybrid plan of the model at `model_path` whose kernels alternate engines in pairs (TVM, TVM, ONNX Runtime, ...),
    whatever they measure: the plan's assembly and execution under test, not its choice. TVM parts use TVM's default schedules."""
    import tvm

    from farm.engines.hybrid_plan import kernel_candidates, plan_segments
    from farm.engines.kernels import Segmenter
    from farm.models.onnx_import import from_proto, prepare
    from farm.tuning.session import compile_with_records, exported_library
    from tuning_db.metaschedule import ParquetDatabase

    model = prepare(model_path)
    segmenter = Segmenter(model.proto)
    tvm_target = tvm.target.Target(target)
    db = ParquetDatabase(db_path, tvm_target, auto_compact_files=None)
    try:

        def compile_tvm(proto):
            return exported_library(compile_with_records(db, from_proto(proto), tvm_target))

        candidates = kernel_candidates(segmenter, compile_tvm)
        tvm_us = [1.0 if i % 4 < 2 else 3.0 for i in range(len(candidates))]
        timings = [
            {"agrees": True, "tvm_us": t, "tvm_crossing_us": t, "onnxruntime_us": 2.0, "onnxruntime_crossing_us": 2.0}
            for t in tvm_us
        ]
        return plan_segments(segmenter, candidates, timings, compile_tvm, threads=1)
    finally:
        db.close()


@pytest.fixture(scope="session")
def hybrid_variant(tuned_variants, tmp_path_factory) -> Path:
    """A copy of the x86-64 variant whose engine is a mixed hybrid (`mixed_hybrid`), recorded as the farm records one."""
    import shutil
    from dataclasses import replace

    from farm.engines.comparison import Comparison, EngineResult
    from farm.engines.variant import record_engines

    folder = tmp_path_factory.mktemp("hybrid-variant") / "x86-64"
    shutil.copytree(tuned_variants["kinds"]["x86-64"], folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    plan, archive = mixed_hybrid(str(tuned_variants["model"]), metadata["target"], str(folder.parent / "db"))
    measured = Comparison.from_json(json.loads((folder / "benchmark.json").read_text()))
    hybrid = EngineResult.from_json(
        {
            "latency_ms": 0.001,
            "p90_ms": 0.001,
            "agrees": True,
            "threads": 1,
            "config": "hybrid-1t",
            "settings": {"num_threads": 1},
        }
    )
    engines = {name: replace(e, agrees=True) for name, e in measured.engines.items()}
    check = replace(measured, engines={**engines, "hybrid": hybrid}, engine="hybrid")
    record_engines(str(folder), check, {"onnxruntime": tuned_variants["model"].read_bytes(), "hybrid": archive}, plan)
    return folder

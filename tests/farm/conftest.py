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
    onnx.save(resnet_cnn(size=8, width=4, blocks=1), str(model))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        ["farm", "tune", str(model), "--target", ",".join(VARIANT_KINDS), "--trials", "0", "--db", str(root / "db"),
         "--out", str(root / "out"), "--json"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    return {"model": model, "out": root / "out", "kinds": {k: Path(root / "out" / k) for k in VARIANT_KINDS}, "summary": summary}

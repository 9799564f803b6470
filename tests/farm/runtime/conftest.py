"""Fixtures of the runtime's tests: the x86-64 variant of `tuned_variants`, copies of it to damage, ONNX Runtime's reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ort_session

ATOL = 1e-3


@pytest.fixture(scope="session")
def variant(tuned_variants, tmp_path_factory) -> Path:
    """The x86-64 variant folder with its engine set to TVM, which most runtime tests are about (do not modify: copy it
    with `variant_copy`). The farm chose the faster engine for the tiny model; `chosen_variant` is the folder as it is."""
    folder = tmp_path_factory.mktemp("tvm-variant") / "x86-64"
    shutil.copytree(tuned_variants["kinds"]["x86-64"], folder)
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps({**metadata, "engine": "tvm"}))
    return folder


@pytest.fixture(scope="session")
def chosen_variant(tuned_variants) -> Path:
    """The x86-64 variant folder as `farm tune` wrote it, its engine the one that measured fastest (do not modify)."""
    return tuned_variants["kinds"]["x86-64"]


@pytest.fixture
def variant_copy(variant, tmp_path):
    """A function: a fresh copy of the x86-64 variant, with its metadata edited by `edit(metadata)` when given."""

    def copy(edit=None) -> Path:
        folder = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(variant, folder)
        if edit is not None:
            path = folder / "metadata.json"
            metadata = json.loads(path.read_text())
            edit(metadata)
            path.write_text(json.dumps(metadata))
        return folder

    return copy


@pytest.fixture(scope="session")
def onnx_reference(tuned_variants):
    """A function: the ONNX original's outputs on `inputs` (dict by name), through ONNX Runtime on the CPU."""
    session = ort_session(str(tuned_variants["model"]))

    def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return session.run(None, inputs)

    return run


def random_inputs(model, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.standard_normal(t.shape).astype(t.dtype) for t in model.inputs}


def assert_matches(outputs: dict[str, np.ndarray], reference: list[np.ndarray]) -> None:
    assert len(outputs) == len(reference)
    for got, want in zip(outputs.values(), reference):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= ATOL

"""Fixtures of the packaging tests: the ONNX Runtime reference the packaged variants must match."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ort_session


@pytest.fixture(scope="session")
def reference(tuned_variants):
    """`{"inputs", "outputs", "output_names"}`: random inputs of the tiny model and the ONNX original's outputs on them (ONNX Runtime)."""
    session = ort_session(str(tuned_variants["model"]))
    rng = np.random.default_rng(7)
    inputs = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}
    return {
        "inputs": inputs,
        "outputs": session.run(None, inputs),
        "output_names": [o.name for o in session.get_outputs()],
    }

"""Checks shared by the packaging tests: safe archive member names, outputs against ONNX Runtime, a clean environment."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from pathlib import Path

import numpy as np


def assert_safe_names(names: list[str]) -> None:
    """Every member name relative, normalized, and without `..`."""
    assert names
    for name in names:
        assert not name.startswith("/") and "\\" not in name, name
        assert ".." not in name.split("/"), name
        assert posixpath.normpath(name) == name.rstrip("/"), name


def assert_matches(reference: dict, outputs: dict) -> None:
    """`outputs` (name → array or nested list) within 1e-3 of ONNX Runtime's on the reference inputs."""
    assert list(outputs) == reference["output_names"]
    for expected, name in zip(reference["outputs"], reference["output_names"], strict=True):
        got = np.asarray(outputs[name], dtype=np.float32)
        assert got.shape == expected.shape
        assert float(np.max(np.abs(got - expected))) <= 1e-3


def env_without_pythonpath() -> dict:
    """This process's environment without PYTHONPATH: a fresh venv must not see the farm's checkout."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def with_engine(variant: Path, engine: str, folder: Path) -> Path:
    """A copy of `variant` in `folder` whose chosen engine is `engine`, as the farm records a choice."""
    shutil.copytree(variant, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, "engine": engine}))
    return folder

"""A user's sample inputs: an .npz read without pickles, checked against the model's inputs, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from farm.models import samples as samples_module
from farm.models.onnx_import import TensorInfo
from farm.models.samples import SampleInputsError, load_samples

INPUTS = [TensorInfo("x", "float32", (3, 4)), TensorInfo("ids", "int64", (2,))]


def test_samples_are_read_one_dict_per_sample(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.ones((5, 3, 4), np.float32), ids=np.arange(10).reshape(5, 2))
    samples = load_samples(str(path), INPUTS)
    assert len(samples) == 5 and samples[2]["x"].shape == (3, 4) and samples[2]["ids"].tolist() == [4, 5]
    assert samples[0]["ids"].dtype == np.int64 and samples[0]["x"].flags.c_contiguous


def test_bad_sample_files_get_clear_errors(tmp_path, monkeypatch):
    cases = {
        "names": {"x": np.ones((2, 3, 4), np.float32)},
        "shape": {"x": np.ones((2, 4, 3), np.float32), "ids": np.zeros((2, 2), np.int64)},
        "counts": {"x": np.ones((2, 3, 4), np.float32), "ids": np.zeros((3, 2), np.int64)},
        "dtype": {"x": np.ones((2, 3, 4), np.float32), "ids": np.zeros((2, 2), np.float64)},
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(SampleInputsError, match=f"{name}.npz"):
            load_samples(str(tmp_path / f"{name}.npz"), INPUTS)
    np.savez(tmp_path / "pickled.npz", x=np.array([object()] * 2, dtype=object), ids=np.zeros((2, 2), np.int64))
    with pytest.raises(SampleInputsError, match="not an .npz of plain arrays"):
        load_samples(str(tmp_path / "pickled.npz"), INPUTS)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(SampleInputsError, match="not an .npz"):
        load_samples(str(tmp_path / "junk.npz"), INPUTS)
    with pytest.raises(SampleInputsError, match="no such file"):
        load_samples(str(tmp_path / "missing.npz"), INPUTS)
    monkeypatch.setattr(samples_module, "MAX_BYTES", 100)
    np.savez(tmp_path / "big.npz", x=np.ones((5, 3, 4), np.float32), ids=np.zeros((5, 2), np.int64))
    with pytest.raises(SampleInputsError, match="over the bound"):
        load_samples(str(tmp_path / "big.npz"), INPUTS)


def test_at_most_the_bound_of_samples_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(samples_module, "MAX_SAMPLES", 3)
    np.savez(tmp_path / "many.npz", x=np.ones((9, 3, 4), np.float32), ids=np.zeros((9, 2), np.int64))
    assert len(load_samples(str(tmp_path / "many.npz"), INPUTS)) == 3

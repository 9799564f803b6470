"""A user's sample inputs: an `.npz` of arrays named by the model's inputs, the first axis indexing the samples.

Agreement between an engine configuration and the fp32 original is measured on these
samples when the user gives them (a bf16 variant admitted on the user's own data, not on
random numbers). The file is read with `allow_pickle=False` (no object arrays, so nothing
in it runs as code) and bounded: at most `MAX_BYTES` on disk and `MAX_SAMPLES` samples
used. Each array must be named by an input and shaped `(samples, *input shape)` (a dynamic
dimension, named rather than sized, takes any size), in the input's dtype or one numpy
casts to it safely.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .onnx_import import ModelImportError

MAX_BYTES = 256 << 20
MAX_SAMPLES = 64


class SampleInputsError(ModelImportError):
    """Sample inputs that cannot be used: unreadable, too large, or not shaped as the model's inputs."""


def load_samples(path: str, inputs: list) -> list[dict[str, np.ndarray]]:
    """The samples of the `.npz` at `path` for a model whose inputs are `inputs` (name, dtype, shape each), one dict of
    arrays per sample."""
    size = os.path.getsize(path) if os.path.isfile(path) else None
    if size is None:
        raise SampleInputsError(f"{path}: no such file")
    if size > MAX_BYTES:
        raise SampleInputsError(f"{path}: {size} bytes, over the bound of {MAX_BYTES} for sample inputs")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SampleInputsError(f"{path}: not an .npz of plain arrays ({type(e).__name__}: {e})") from None
    names = [i.name for i in inputs]
    if set(arrays) != set(names):
        raise SampleInputsError(f"{path}: holds {sorted(arrays)}; the model's inputs are {names}")
    counts = set()
    for spec in inputs:
        array = arrays[spec.name]
        fits = len(array.shape) == len(spec.shape) + 1 and all(
            d == want for d, want in zip(array.shape[1:], spec.shape) if isinstance(want, int)
        )
        if not fits or not np.can_cast(array.dtype, spec.dtype, "same_kind"):
            raise SampleInputsError(
                f"{path}: {spec.name!r} is {array.dtype}{list(array.shape)}; expected (samples, *{list(spec.shape)}) "
                f"of {spec.dtype}"
            )
        counts.add(array.shape[0])
    if len(counts) != 1 or 0 in counts:
        raise SampleInputsError(f"{path}: every input needs the same number (at least 1) of samples, got {counts}")
    n = min(counts.pop(), MAX_SAMPLES)
    return [{s.name: np.ascontiguousarray(arrays[s.name][k], dtype=s.dtype) for s in inputs} for k in range(n)]

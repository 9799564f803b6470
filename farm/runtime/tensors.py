"""Tensor descriptions and the checks every array passed to a model goes through (no casting, no reshaping)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidArgumentError, ShapeError, TypeMismatchError


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, dtype (numpy name), static shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.count * np.dtype(self.dtype).itemsize

    def as_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def find_tensor(infos: Sequence[TensorInfo], name: str) -> TensorInfo:
    """The tensor called `name`; `InvalidArgumentError` listing the names there are."""
    for info in infos:
        if info.name == name:
            return info
    raise InvalidArgumentError(f"the model has no tensor {name!r} (its tensors: {', '.join(i.name for i in infos)})")


def check_array(role: str, info: TensorInfo, array: object, *, writable: bool = False) -> np.ndarray:
    """`array` if it is a numpy array of exactly `info`'s dtype and shape (and writable when asked)."""
    if not isinstance(array, np.ndarray):
        raise InvalidArgumentError(f"{role} {info.name!r}: expected a numpy array, got {type(array).__name__}")
    if array.dtype != np.dtype(info.dtype):
        raise TypeMismatchError(
            f"{role} {info.name!r}: expected dtype {info.dtype}, got {array.dtype} "
            f"(the runtime does not cast: pass array.astype({info.dtype!r}))"
        )
    if array.shape != info.shape:
        raise ShapeError(f"{role} {info.name!r}: expected shape {info.shape}, got {array.shape}")
    if writable and not array.flags.writeable:
        raise InvalidArgumentError(f"{role} {info.name!r}: the array is read-only")
    return array


def ordered_arrays(
    role: str, infos: Sequence[TensorInfo], values: object, *, writable: bool = False
) -> list[np.ndarray]:
    """`values`, a list in the model's order or a dict by name, as checked arrays in the model's order."""
    names = [i.name for i in infos]
    if isinstance(values, Mapping):
        unknown = [repr(k) for k in values if k not in names]
        if unknown:
            raise InvalidArgumentError(f"unknown {role} {', '.join(unknown)} (the model's {role}s: {', '.join(names)})")
        missing = [n for n in names if n not in values]
        if missing:
            raise InvalidArgumentError(
                f"missing {role} {', '.join(map(repr, missing))} (the model's {role}s: {', '.join(names)})"
            )
        arrays = [values[n] for n in names]
    elif isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise InvalidArgumentError(f"expected {len(names)} {role}(s) ({', '.join(names)}), got {len(values)}")
        arrays = list(values)
    else:
        raise InvalidArgumentError(
            f"{role}s must be a list of numpy arrays in the order {names} or a dict by name, got {type(values).__name__}"
        )
    return [check_array(role, info, array, writable=writable) for info, array in zip(infos, arrays)]

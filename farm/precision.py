"""Precision as the user's measured choice: which configurations a variant may run, and the rule that admits each.

`exact` (the default) admits a configuration only when its outputs agree with the fp32
original's (ONNX Runtime's default session): every output within `ABS_TOL` absolute or
`REL_TOL` relative. `bf16` also admits reduced-precision configurations (an engine
computing in bfloat16, OpenVINO's default on CPUs with AMX-BF16) within the user's
tolerance. Reduced-precision configurations are timed on every node whose CPU flags report
native bf16 (`BF16_FLAGS`; the node's flags decide, not LLVM's name for the CPU), whatever
the user chose, so the summary can say what the other precision would give.

A tolerance is written `rel=0.05`, `top1=0.99` or both (`rel=0.05,top1=0.99`):
- `rel=R`: the largest error relative to the output's own range (max |a - b| over
  max |b|, per output) is at most R;
- `top1=F`: for outputs that are class scores, the fraction of rows whose arg-max is the
  same is at least F (those outputs are then held to it instead of `rel`). An output is
  taken as class scores when it is 2-D (rows x classes) with at least `MIN_CLASSES`
  classes, or 4-D with both trailing dimensions 1 (a classifier ending in a 1x1
  convolution); other outputs are held to `rel` (default `DEFAULT_REL`).
`DEFAULT_TOLERANCE` applies when the user gives none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .runtime.container import EXACT

BF16 = "bf16"
PRECISIONS = (EXACT, BF16)
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
ABS_TOL = 1e-3
REL_TOL = 1e-2
DEFAULT_REL = 0.05
MIN_CLASSES = 2
DEFAULT_TOLERANCE = "rel=0.05,top1=0.99"


@dataclass(frozen=True)
class Tolerance:
    """How far a reduced-precision configuration may stray from the fp32 original and still be admitted."""

    rel: float = DEFAULT_REL
    top1: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> Tolerance:
        """`rel=R`, `top1=F` or both, comma-separated; `ValueError` naming what is wrong."""
        values: dict[str, float] = {}
        for item in (text or DEFAULT_TOLERANCE).split(","):
            name, _, value = item.strip().partition("=")
            if name not in ("rel", "top1") or name in values:
                raise ValueError(f"tolerance {text!r}: write rel=R and/or top1=F, e.g. {DEFAULT_TOLERANCE!r}")
            try:
                values[name] = float(value)
            except ValueError:
                raise ValueError(f"tolerance {text!r}: {name} takes a number, not {value!r}") from None
            if not 0 <= values[name] <= 1:
                raise ValueError(f"tolerance {text!r}: {name} must be between 0 and 1")
        return cls(values.get("rel", DEFAULT_REL), values.get("top1"))

    def as_text(self) -> str:
        return ",".join([f"rel={self.rel:g}", *([f"top1={self.top1:g}"] if self.top1 is not None else [])])


def class_scores(output: np.ndarray) -> np.ndarray | None:
    """`output` as rows x classes when it is class scores (see the module's rule), else None."""
    if output.ndim == 2 and output.shape[1] >= MIN_CLASSES:
        return output
    if output.ndim == 4 and output.shape[2:] == (1, 1) and output.shape[1] >= MIN_CLASSES:
        return output.reshape(output.shape[:2])
    return None


@dataclass(frozen=True)
class Agreement:
    """How one configuration's outputs compare with the fp32 original's: its errors, top-1 agreement, the verdict."""

    max_abs_diff: float
    max_rel_diff: float
    top1: float | None  # fraction of class-score rows with the same arg-max; None without class scores
    agrees: bool


def agreement(
    outputs: list[list[np.ndarray]], reference: list[list[np.ndarray]], precision: str, tolerance: Tolerance
) -> Agreement:
    """`outputs` against `reference`, both per sample (a list of each sample's outputs), under `precision`'s rule."""
    abs_diff = rel_diff = range_diff = 0.0
    same = rows = 0
    shapes_match = len(outputs) == len(reference)
    for got, want in zip(outputs, reference):
        shapes_match = shapes_match and len(got) == len(want)
        for a, b in zip(got, want):
            if a.shape != b.shape:
                shapes_match = False
                continue
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            abs_diff = max(abs_diff, float(diff.max(initial=0.0)))
            rel_diff = max(rel_diff, float((diff / np.maximum(np.abs(b), 1e-6)).max(initial=0.0)))
            scores = class_scores(b)
            if scores is not None:
                same += int((class_scores(a).argmax(axis=1) == scores.argmax(axis=1)).sum())
                rows += scores.shape[0]
            if scores is None or tolerance.top1 is None:
                span = float(np.abs(b).max(initial=0.0)) or 1.0
                range_diff = max(range_diff, float(diff.max(initial=0.0)) / span)
    top1 = same / rows if rows else None
    if precision == EXACT:
        agrees = abs_diff <= ABS_TOL or rel_diff <= REL_TOL
    else:
        agrees = range_diff <= tolerance.rel and (top1 is None or tolerance.top1 is None or top1 >= tolerance.top1)
    return Agreement(abs_diff, rel_diff, top1, bool(shapes_match and agrees))


def allowed_precisions(precision: str) -> tuple[str, ...]:
    """The precisions a variant of `precision` may compute in: exact only, or also the reduced one the user allowed."""
    return (EXACT,) if precision == EXACT else (EXACT, precision)


def node_precisions(cpu_flags: set[str] | None) -> tuple[str, ...]:
    """The precisions worth timing on a node with `cpu_flags` (/proc/cpuinfo): bf16 only where the CPU computes it
    natively."""
    return PRECISIONS if cpu_flags and BF16_FLAGS & cpu_flags else (EXACT,)

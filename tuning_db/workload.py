"""Workloads: TVM IRModules as rows of the database, and back.

The **workload key** is the SHA-256 of the module's TVMScript text. It is portable:
the same tuning task extracted on another machine, or by another build of the same
TVM version, prints the same text, whereas TVM's structural hash is only promised to
be stable within one build. The structural hash is kept as a column (`shash`) all
the same: within one build it finds structurally equal modules whose variable names
differ (see `WorkloadIndex`), so a layer tuned under one model's names is reused
under another's.
"""

from __future__ import annotations

import hashlib

import tvm
import tvm_ffi
from tvm.ir import IRModule
from tvm.s_tir.meta_schedule.database import Workload

from .schema import WorkloadRow


def workload_key(mod: IRModule) -> str:
    """The portable key of a tuning task's module (64 hex digits)."""
    return hashlib.sha256(mod.script().encode()).hexdigest()


def estimate_flops(mod: IRModule) -> float | None:
    """Floating-point operations of the module, as MetaSchedule counts them; None where it cannot."""
    try:
        return float(tvm.s_tir.analysis.estimate_tir_flops(mod))
    except Exception:  # noqa: BLE001 - TVM raises its own error types for unsupported IR
        return None


def workload_row(mod: IRModule, task_name: str = "", model: str = "", json_obj: list | None = None) -> WorkloadRow:
    """A database row for a module; `json_obj` is its `[shash, mod_b64]` JSON where already at hand."""
    shash, mod_b64 = json_obj if json_obj is not None else Workload(mod).as_json()
    return WorkloadRow(
        workload_key=workload_key(mod),
        shash=str(shash),
        mod_b64=mod_b64,
        task_name=task_name,
        flops=estimate_flops(mod),
        first_model=model,
        tvm_version=tvm.__version__,
    )


def load_workload(row: WorkloadRow) -> Workload:
    """The MetaSchedule workload a row describes."""
    return Workload.from_json([row.shash, row.mod_b64])


class WorkloadIndex:
    """Finds the stored workload of a module: by structural hash and equality, then by portable key."""

    def __init__(self, rows: dict[str, WorkloadRow]) -> None:
        self.rows = dict(rows)
        self._by_shash: dict[str, list[str]] = {}
        for key, row in self.rows.items():
            self._by_shash.setdefault(row.shash, []).append(key)
        self._loaded: dict[str, Workload] = {}

    def add(self, row: WorkloadRow, workload: Workload | None = None) -> None:
        if row.workload_key in self.rows:
            return
        self.rows[row.workload_key] = row
        self._by_shash.setdefault(row.shash, []).append(row.workload_key)
        if workload is not None:
            self._loaded[row.workload_key] = workload

    def workload(self, key: str) -> Workload:
        """The (cached) MetaSchedule workload of a key."""
        wl = self._loaded.get(key)
        if wl is None:
            wl = self._loaded[key] = load_workload(self.rows[key])
        return wl

    def find(self, mod: IRModule) -> str | None:
        """The key of the stored workload equal to `mod`, or None."""
        for key in self._by_shash.get(str(tvm_ffi.structural_hash(mod)), ()):
            if tvm_ffi.structural_equal(self.workload(key).mod, mod):
                return key
        key = workload_key(mod)
        return key if key in self.rows else None

    def key(self, mod: IRModule) -> str:
        """The key of `mod` in this database: its stored equal's, else the key it would be stored under."""
        return self.find(mod) or workload_key(mod)

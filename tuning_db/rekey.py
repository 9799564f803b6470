"""Re-keying: workloads stored under another TVM version, keyed again under this one.

A workload key hashes the module's TVMScript text and the `shash` column is TVM's
structural hash (`tuning_db.workload`); both may change when the pinned TVM changes, and
the database would then no longer find any module it stored. Every workload row records
the TVM version that keyed it, so `rekey` knows which rows to look at: it loads each
module stored by another version, keys it again, and when the key changed commits the
new workload row together with copies of all its records (every target) under the new
key, one commit per batch, so a workload's records land with it or not at all. The old
rows stay, read by nothing that runs this TVM.

Resumable and idempotent: a workload whose new key is already stored is skipped, and
record ids are content-derived, so an interrupted run simply runs again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import tvm

from .database import TuningDatabase
from .keys import record_id
from .schema import RecordRow, WorkloadRow
from .view import TargetView
from .workload import load_workload, workload_row


@dataclass
class RekeyReport:
    """What one `rekey` run found and did."""

    tvm_version: str
    examined: int = 0  # workloads stored by another TVM version
    unchanged: int = 0  # whose key this TVM computes the same
    already: int = 0  # re-keyed by an earlier run
    rekeyed: int = 0
    records_copied: int = 0
    unreadable: list[str] = field(default_factory=list)  # keys whose module this TVM cannot load

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def rekey(db: TuningDatabase, batch: int = 32, progress: Callable[[RekeyReport], None] | None = None) -> RekeyReport:
    """Key again every workload of `db` stored under another TVM version; see the module docstring."""
    report = RekeyReport(tvm.__version__)
    stored = db.workloads()
    stale = [row for row in stored.values() if row.tvm_version != report.tvm_version]
    views: dict[str, TargetView] = {}
    workloads: list[WorkloadRow] = []
    records: list[RecordRow] = []
    for row in stale:
        report.examined += 1
        try:
            mod = load_workload(row).mod
        except Exception:  # noqa: BLE001 - TVM raises its own error types for a module it cannot read
            report.unreadable.append(row.workload_key)
            continue
        new = workload_row(mod, task_name=row.task_name, model=row.first_model)
        if new.workload_key == row.workload_key:
            report.unchanged += 1
            continue
        if new.workload_key in stored:
            report.already += 1
            continue
        if not views:
            views = {tk: db.view(tk) for tk in db.snapshot().target_keys()}
        copies = [_under(r, new.workload_key) for view in views.values() for r in view.records(row.workload_key)]
        stored[new.workload_key] = new
        workloads.append(new)
        records += copies
        report.rekeyed += 1
        report.records_copied += len(copies)
        if len(workloads) >= batch:
            _commit(db, workloads, records)
            workloads, records = [], []
            if progress is not None:
                progress(report)
    _commit(db, workloads, records)
    return report


def _under(row: RecordRow, key: str) -> RecordRow:
    rid = record_id(key, row.target_json, row.trace_json, row.run_secs, row.args_info_json)
    return dataclasses.replace(row, workload_key=key, record_id=rid)


def _commit(db: TuningDatabase, workloads: list[WorkloadRow], records: list[RecordRow]) -> None:
    if workloads:
        db.append(records, workloads, info={"operation": "rekey", "tvm_version": tvm.__version__})

"""The two tables of a tuning database, as Python rows and as Arrow schemas.

**workloads**: one row per distinct tuning task. `workload_key` is portable (see
`tuning_db.workload`); `shash` is TVM's structural hash as TVM prints it, kept for
fast look-ups within one TVM build; `mod_b64` is the serialized IRModule exactly as
MetaSchedule's `Workload.as_json()` writes it, so export to TVM's JSON files is
lossless.

**records**: one row per measured candidate, hive-partitioned on disk by
`target_key` and workload `bucket` (both live in the path, not in the file).
`trace_json`, `args_info_json` and `target_json` are compact JSON text of what
`TuningRecord.as_json()` gives; `run_secs` is null when the candidate was never run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa

FORMAT_NAME = "farm-tuning-db"
FORMAT_VERSION = 1
FAILED_SECS = 1e10  # the run time MetaSchedule records for a candidate whose build or run failed


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class WorkloadRow:
    """One tuning task."""

    workload_key: str
    shash: str
    mod_b64: str
    task_name: str = ""
    flops: float | None = None
    first_model: str = ""
    tvm_version: str = ""
    created_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class RecordRow:
    """One measured candidate of a workload on a target."""

    record_id: str
    workload_key: str
    target_key: str
    target_json: str
    trace_json: str
    run_secs: list[float] | None
    args_info_json: str
    tvm_version: str = ""
    device_fingerprint: str = ""
    job_id: str = ""
    model: str = ""
    created_at: dt.datetime = field(default_factory=utcnow)
    measure_json: str | None = None

    @property
    def mean_secs(self) -> float | None:
        """Mean run time, or None when the candidate has no run times or only MetaSchedule's failure value (TVM's own validity rule)."""
        return mean_run_secs(self.run_secs)


def mean_run_secs(run_secs: list[float] | None) -> float | None:
    """The mean of a measurement's run times, or None when it has none or only MetaSchedule's failure value (`FAILED_SECS`)."""
    secs = [float(s) for s in run_secs or []]
    if not secs or all(s >= FAILED_SECS for s in secs):
        return None
    return sum(secs) / len(secs)


TIME = pa.timestamp("us", tz="UTC")

WORKLOAD_SCHEMA = pa.schema(
    [
        ("workload_key", pa.string()),
        ("shash", pa.string()),
        ("mod_b64", pa.string()),
        ("task_name", pa.string()),
        ("flops", pa.float64()),
        ("first_model", pa.string()),
        ("tvm_version", pa.string()),
        ("created_at", TIME),
    ]
)

RECORD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("workload_key", pa.string()),
        ("target_json", pa.string()),
        ("trace_json", pa.string()),
        ("run_secs", pa.list_(pa.float64())),
        ("mean_secs", pa.float64()),
        ("args_info_json", pa.string()),
        ("tvm_version", pa.string()),
        ("device_fingerprint", pa.string()),
        ("job_id", pa.string()),
        ("model", pa.string()),
        ("created_at", TIME),
        ("measure_json", pa.string()),
    ]
)

# Columns added after the first release: part files written before them read them as nulls.
ADDED_COLUMNS = {"measure_json"}

RECORD_FIELDS = [f.name for f in RECORD_SCHEMA if f.name != "mean_secs"]
WORKLOAD_FIELDS = [f.name for f in WORKLOAD_SCHEMA]


def records_to_table(rows: list[RecordRow]) -> pa.Table:
    """Arrow table of record rows, sorted by workload then mean time (best first)."""
    cols: dict[str, list] = {name: [getattr(r, name) for r in rows] for name in RECORD_FIELDS}
    cols["mean_secs"] = [r.mean_secs for r in rows]
    table = pa.table(cols, schema=RECORD_SCHEMA)
    return table.sort_by([("workload_key", "ascending"), ("mean_secs", "ascending")])


def workloads_to_table(rows: list[WorkloadRow]) -> pa.Table:
    return pa.table({name: [getattr(r, name) for r in rows] for name in WORKLOAD_FIELDS}, schema=WORKLOAD_SCHEMA)


def table_to_records(table: pa.Table, target_key: str) -> list[RecordRow]:
    """Record rows back from an Arrow table (the target key lives in the partition path)."""
    cols = {name: table.column(name).to_pylist() for name in RECORD_FIELDS}
    return [RecordRow(target_key=target_key, **{k: cols[k][i] for k in RECORD_FIELDS}) for i in range(table.num_rows)]


def table_to_workloads(table: pa.Table) -> list[WorkloadRow]:
    return [WorkloadRow(**row) for row in table.select(WORKLOAD_FIELDS).to_pylist()]

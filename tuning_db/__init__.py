"""The shared tuning-log database: MetaSchedule workloads and measured records in a Parquet dataset.

A database lives at a URI — a local folder or `s3://bucket/prefix` — and is shared by
every tuning job of the farm: many writers at once, no record ever lost, readers
never see partial data. See `tuning_db.log` for the commit protocol,
`tuning_db.metaschedule` for the MetaSchedule adapter and `tuning_db.json_io` for
TVM's JSON database files. Knows nothing of Ray or of the platform.
"""

from .database import CommitResult, TuningDatabase
from .keys import canonical_target, record_id, target_key
from .log import DatabaseFormatError, TuningDbWarning
from .schema import RecordRow, WorkloadRow
from .storage import StorageError
from .view import TargetView

__all__ = [
    "CommitResult",
    "DatabaseFormatError",
    "RecordRow",
    "StorageError",
    "TargetView",
    "TuningDatabase",
    "TuningDbWarning",
    "WorkloadRow",
    "canonical_target",
    "record_id",
    "target_key",
]

"""A separate process that writes to or reads from a database, for the concurrency tests.

    python -m tests.tuning_db.db_worker write URI SEED N_RECORDS BATCH
    python -m tests.tuning_db.db_worker read URI SECONDS

`write` appends deterministic synthetic records (`expected_ids` regenerates them),
printing `writing I` as batch I starts and `committed I` once it has landed. `read` opens snapshots in a loop and
prints the record count of each.
"""

from __future__ import annotations

import sys
import time

from tuning_db import TuningDatabase
from tuning_db.synthetic import TARGETS, RecordFactory, workload_keys, workload_rows

KEYS = workload_keys(40, seed="concurrency")


def batches(seed: int, n_records: int, batch: int):
    factory = RecordFactory(seed=seed, job_id=f"writer-{seed}")
    records = factory.records(n_records, KEYS, TARGETS[:2])
    for start in range(0, n_records, batch):
        yield records[start : start + batch]


def expected_ids(seed: int, n_records: int, batch: int) -> list[set[str]]:
    return [{r.record_id for r in b} for b in batches(seed, n_records, batch)]


def write(uri: str, seed: int, n_records: int, batch: int) -> None:
    db = TuningDatabase(uri)
    for i, rows in enumerate(batches(seed, n_records, batch)):
        print(f"writing {i}", flush=True)
        db.append(rows, workload_rows(KEYS[i % len(KEYS) : i % len(KEYS) + 1]))
        print(f"committed {i}", flush=True)


def read(uri: str, seconds: float) -> None:
    db = TuningDatabase(uri)
    deadline = time.time() + seconds
    while time.time() < deadline:
        print(f"count {db.stats()['records']}", flush=True)


if __name__ == "__main__":
    cmd, uri, *rest = sys.argv[1:]
    if cmd == "write":
        write(uri, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        read(uri, float(rest[0]))

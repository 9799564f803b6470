"""Many processes on one database, on local disk and on the loopback S3 server: nothing lost, nothing half-seen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.tuning_db.db_worker import expected_ids
from tuning_db import TuningDatabase

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.tuning_db.db_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _all_ids(db: TuningDatabase) -> set[str]:
    return set().union(*(db.record_ids(tk) for tk in db.snapshot().target_keys()))


def test_concurrent_writers_end_with_exactly_the_union(db_uri):
    writers, per_writer, batch = 4, 2000, 250
    procs = [_spawn("write", db_uri, str(seed), str(per_writer), str(batch)) for seed in range(writers)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.count("committed") == per_writer // batch
    batches = {(seed, i): ids for seed in range(writers) for i, ids in enumerate(expected_ids(seed, per_writer, batch))}
    expected = set().union(*batches.values())
    assert len(expected) == writers * per_writer
    db = TuningDatabase(db_uri)
    got = _all_ids(db)
    lost = sorted(key for key, ids in batches.items() if not ids <= got)
    assert got == expected, (
        f"{len(expected - got)} records missing, from (writer, batch) {lost}; {len(got - expected)} extra"
    )
    stats = db.stats()
    assert stats["records"] == writers * per_writer
    assert stats["version"] == writers * per_writer // batch - 1, "every commit got its own log version, no gaps"


def test_a_writer_killed_mid_write_loses_only_its_uncommitted_batch(db_uri):
    n_records, batch = 6000, 600
    batches = expected_ids(11, n_records, batch)
    proc = _spawn("write", db_uri, "11", str(n_records), str(batch))
    committed = -1
    while True:  # kill it as it starts writing batch 2: inside that batch's part-file writes or its commit
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        what, i = line.split()
        if what == "committed":
            committed = int(i)
        elif int(i) == 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for line in proc.stdout:
        what, i = line.split()
        if what == "committed":
            committed = int(i)

    ids = _all_ids(TuningDatabase(db_uri))
    complete = 0
    while complete < len(batches) and batches[complete] <= ids:
        complete += 1
    assert complete >= committed + 1, "every batch reported committed is there"
    assert ids == set().union(*batches[:complete]), "no part of an uncommitted batch is visible"
    assert complete < len(batches), "the writer was killed before it finished"


def test_compaction_under_concurrent_reads_and_writes(db_uri):
    seed_records, batch = 1200, 100
    writer = _spawn("write", db_uri, "21", str(seed_records), str(batch))
    assert writer.wait(timeout=300) == 0
    base = len(set().union(*expected_ids(21, seed_records, batch)))

    readers = [_spawn("read", db_uri, "8") for _ in range(2)]
    late_writer = _spawn("write", db_uri, "22", "600", "100")
    # compact once both readers have read a snapshot and the late writer has committed a batch
    first_counts = [r.stdout.readline() for r in readers]
    assert all(first_counts), [r.stderr.read() for r in readers]
    while not (line := late_writer.stdout.readline()).startswith("committed"):
        assert line, late_writer.stderr.read()
    db = TuningDatabase(db_uri)
    result = db.compact(retention_s=0)  # removed files vanish at once: readers of old snapshots must re-read
    assert result["files_merged"] > 0
    assert late_writer.wait(timeout=300) == 0
    for r, first in zip(readers, first_counts):
        out, err = r.communicate(timeout=120)
        assert r.returncode == 0, err
        counts = [int(line.split()[1]) for line in (first + out).splitlines()]
        assert min(counts) >= base, f"a reader saw records vanish: {min(counts)} < {base}"
        assert counts == sorted(counts), "counts never go down"
    assert db.stats()["records"] == base + 600

"""Benchmark of the tuning-log database; prints one JSON object.

For a local folder (default 1,000,000 records) and for a loopback S3 server started
here (moto, default 100,000 records), both over 200 workloads and 4 targets with
~3 KB synthetic traces:
- write throughput (records/s) of `append` in batches (generation time excluded);
- cold open of one target's session view (a new `TuningDatabase` each time), before
  and after `compact`;
- `top_k` latency after open, median and p99 over random workloads.

    python scripts/bench_tuning_db.py [--records N] [--s3-records N] [--batch N] [--k K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.s3_server import S3Server
from tuning_db import TuningDatabase
from tuning_db.synthetic import TARGETS, RecordFactory, workload_keys, workload_rows


def _drop_page_cache() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def _open_seconds(uri: str, target_key: str, repeats: int) -> tuple[float, int, bool]:
    """Median seconds to open a target's view, its size, and whether the page cache could be dropped."""
    times, size = [], 0
    for _ in range(repeats):
        dropped = _drop_page_cache()
        start = time.perf_counter()
        view = TuningDatabase(uri).view(target_key)
        times.append(time.perf_counter() - start)
        size = len(view)
    return statistics.median(times), size, dropped


def _top_k_latency(uri: str, target_key: str, keys: list[str], k: int, queries: int) -> dict:
    view = TuningDatabase(uri).view(target_key)
    rng = random.Random(1)
    lat = []
    for _ in range(queries):
        wk = rng.choice(keys)
        start = time.perf_counter()
        got = view.top_k(wk, k)
        lat.append(time.perf_counter() - start)
        assert len(got) == k
    lat.sort()
    return {
        "k": k,
        "queries": queries,
        "median_ms": round(statistics.median(lat) * 1e3, 3),
        "p99_ms": round(lat[int(0.99 * len(lat)) - 1] * 1e3, 3),
    }


def bench(uri: str, n_records: int, n_workloads: int, batch: int, k: int, label: str) -> dict:
    keys = workload_keys(n_workloads, seed="bench")
    factory = RecordFactory(seed=3)
    db = TuningDatabase(uri)
    write_s = 0.0
    wall = time.perf_counter()
    trace_bytes = 0
    for start in range(0, n_records, batch):
        rows = factory.records(min(batch, n_records - start), keys, TARGETS)
        trace_bytes += sum(len(r.trace_json) for r in rows)
        t = time.perf_counter()
        db.append(rows, workload_rows(keys) if start == 0 else ())
        write_s += time.perf_counter() - t
    wall = time.perf_counter() - wall
    stats = db.stats()
    tk = max(stats["targets"], key=stats["targets"].get)
    open_before, size, dropped = _open_seconds(uri, tk, 3)
    t = time.perf_counter()
    db.compact()
    compact_s = time.perf_counter() - t
    open_after, _, _ = _open_seconds(uri, tk, 3)
    return {
        "storage": label,
        "records": stats["records"],
        "workloads": stats["workloads"],
        "targets": len(stats["targets"]),
        "mean_trace_bytes": round(trace_bytes / n_records),
        "write_batch_records": batch,
        "write_records_per_s": round(n_records / write_s),
        "write_wall_s_incl_generation": round(wall, 1),
        "files_before_compaction": stats["files"],
        "session_target_records": size,
        "session_open_s_before_compaction": round(open_before, 3),
        "compact_s": round(compact_s, 1),
        "files_after_compaction": len(TuningDatabase(uri).snapshot().files),
        "session_open_s_after_compaction": round(open_after, 3),
        "page_cache_dropped_before_open": dropped,
        "top_k": _top_k_latency(uri, tk, keys, k, 2000),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--s3-records", type=int, default=100_000)
    ap.add_argument("--workloads", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    out = {
        "goals": {
            "write_records_per_s": ">= 20000 (local)",
            "top_k_median_ms": "<= 5",
            "session_open_s": "<= 2 for 250,000 records",
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        out["local"] = bench(os.path.join(tmp, "db"), args.records, args.workloads, args.batch, args.k, "local folder")
    if args.s3_records:
        with S3Server() as s3:
            uri = f"s3://{s3.new_bucket()}/tuning-db"
            out["s3"] = bench(
                uri,
                args.s3_records,
                args.workloads,
                min(args.batch, args.s3_records),
                args.k,
                "loopback S3 (moto server)",
            )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

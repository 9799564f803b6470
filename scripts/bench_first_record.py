"""Seconds from the start of `farm tune` to its first record in the tuning database, on a model of many tasks; prints JSON.

    python scripts/bench_first_record.py [--model nudenet] [--trials 300] [--timeout 900]

Runs `farm tune` on the model (a packaged one of `bench_vs_ort`, YOLOv8n by default: 60
tasks) with an empty database on an embedded Ray, polls the database twice a second and,
once a record is there, interrupts the tune (SIGINT: it shuts its Ray down). A driver
killed before its first commit loses every measurement made, so this is also how much
work a kill can cost. Run it once per code version to compare (`PYTHONPATH=<checkout>`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_vs_ort import named_model

from tuning_db import TuningDatabase


def task_count(path: str, shapes: dict) -> int:
    import tvm
    from tvm.s_tir.meta_schedule import relax_integration

    from cluster.devices import host_cpu_name, kind_named
    from farm.models.onnx_import import prepare
    from farm.tuning.session import fused_module, relax_for

    model = prepare(path, shapes)
    target = tvm.target.Target(kind_named(host_cpu_name(), os.cpu_count() or 1).target)
    return len(relax_integration.extract_tasks(fused_module(*relax_for(model, target), target), target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nudenet")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    name, path, shapes = named_model(args.model)
    report = {
        "model": name,
        "tasks": task_count(path, shapes),
        "trials": args.trials,
        "tvm_threads": os.environ.get("TVM_NUM_THREADS"),
    }
    with tempfile.TemporaryDirectory(prefix="first-record-") as work:
        db_uri = os.path.join(work, "db")
        cmd = ["farm", "tune", path, "--trials", str(args.trials), "--db", db_uri, "--out", os.path.join(work, "out")]
        cmd += [
            arg for name_, dims in shapes.items() for arg in ("--input-shape", f"{name_}:{','.join(map(str, dims))}")
        ]
        with open(os.path.join(work, "tune.log"), "wb") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=work)
            first = None
            while proc.poll() is None and time.perf_counter() - start < args.timeout:
                if TuningDatabase(db_uri).stats().get("records", 0):
                    first = time.perf_counter() - start
                    break
                time.sleep(0.5)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        report |= {"first_record_s": first, "records_then": TuningDatabase(db_uri).stats().get("records", 0)}
        if first is None:
            with open(os.path.join(work, "tune.log")) as f:
                report["log_tail"] = f.read()[-2000:]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

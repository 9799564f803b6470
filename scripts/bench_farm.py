"""Benchmark of the Ray farm against TVM's local builder and runner, on the same candidates, in one run.

    python scripts/bench_farm.py [--kind x86-64-v3] [--trials 32] [--candidates 16] [--rounds 15]

Prints JSON:
- `runner`: wall seconds per candidate of TVM's `LocalRunner` and of the Ray runner
  measuring the same built candidates with the same evaluator settings, alternating for
  `--rounds` rounds, and the Ray runner's overhead as a fraction of LocalRunner's time
  (target ≤ 0.10), with MetaSchedule's default evaluator settings (`runner`) and with a
  fixed 10 runs per candidate (`runner_fixed_work`), which leaves little but the runners'
  own costs;
- `build`: candidates/s of the Ray builder with 1 and with 2 builds in flight (warm
  workers) and the ratio (target ≥ 1.7);
- `tuning`: wall seconds of a MetaSchedule session of `--trials` trials with the Ray
  builder and runner against one with `LocalBuilder` and `LocalRunner`.

Runs on an embedded Ray (one node serving `--kind`) unless `RAY_ADDRESS` is set. The
candidates are the 16 schedules of the recorded 128×128 matmul log in `tests/data`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import ray
import tvm
import tvm.s_tir.meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.s_tir.meta_schedule.database import TuningRecord, Workload
from tvm.s_tir.meta_schedule.runner import EvaluatorConfig, RunnerInput
from tvm.s_tir.schedule import Schedule

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cluster.builder import RayBuilder
from cluster.connect import connect
from cluster.measurement import MeasureSettings
from cluster.runner import RayRunner
from tests.tuning_db.workloads import matmul, matmul128_log

THREADS = 2
# LocalRunner's evaluator defaults (one 100 ms repeat, all reported), and no warm-up of its own beyond the time evaluator's.
DEFAULT_SETTINGS = MeasureSettings(warmup=0, repeat=1, min_repeat_ms=100)
# A fixed number of runs (no min_repeat_ms stretching) leaves little but the runners' own costs.
FIXED_WORK = MeasureSettings(warmup=0, number=10, repeat=1, min_repeat_ms=0)


def candidates(n: int) -> list[tvm.IRModule]:
    """`n` scheduled modules: the recorded log's traces applied to its workload, cycled."""
    mod, records = matmul128_log()
    workload = Workload(mod)
    mods = []
    for record in records:
        sch = Schedule(mod)
        TuningRecord.from_json(record, workload).trace.apply_to_schedule(sch, remove_postproc=False)
        mods.append(sch.mod)
    return [mods[i % len(mods)] for i in range(n)]


def bench_runner(
    builder: RayBuilder,
    kind: str,
    mods: list[tvm.IRModule],
    target: tvm.target.Target,
    folder: str,
    rounds: int,
    settings: MeasureSettings,
) -> dict:
    """Both runners measure the same built candidates with the same settings, alternating, `rounds` times."""
    built = builder.build([BuilderInput(m, target) for m in mods])
    refs, files = [], []
    for i, result in enumerate(built):
        ref, _ = builder.artifacts.resolve(result.artifact_path)
        refs.append(ref)
        files.append(os.path.join(folder, f"candidate{i}.so"))
        with open(files[-1], "wb") as f:
            f.write(ray.get(ref))
    args = ArgInfo.from_prim_func(mods[0]["main"])
    config = EvaluatorConfig(number=settings.number, repeat=settings.repeat, min_repeat_ms=settings.min_repeat_ms)
    local = ms.runner.LocalRunner(timeout_sec=120, evaluator_config=config)
    ray_runner = RayRunner(kind, settings)

    def timed(runner, inputs) -> float:
        start = time.perf_counter()
        results = [f.result() for f in runner.run(inputs)]
        errors = [r.error_msg for r in results if r.error_msg]
        assert not errors, errors[0]
        return (time.perf_counter() - start) / len(inputs)

    timed(local, [RunnerInput(files[0], "cpu", args)])  # both warm before timing
    timed(ray_runner, [RunnerInput(builder.artifacts.register(refs[0]), "cpu", args)])
    local_s, ray_s = [], []
    for _ in range(rounds):
        local_s.append(timed(local, [RunnerInput(f, "cpu", args) for f in files]))
        ray_s.append(timed(ray_runner, [RunnerInput(builder.artifacts.register(r), "cpu", args) for r in refs]))
    return {
        "settings": {k: v for k, v in settings.as_json().items() if k != "timeout_sec"},
        "candidates": len(files),
        "rounds": rounds,
        "local_runner_s_per_candidate": statistics.fmean(local_s),
        "ray_runner_s_per_candidate": statistics.fmean(ray_s),
        "ray_overhead": sum(ray_s) / sum(local_s) - 1,
        "ray_overhead_per_round": [round(r / l - 1, 4) for r, l in zip(ray_s, local_s)],
    }


def bench_build(mods: list[tvm.IRModule], target: tvm.target.Target) -> dict:
    out = {}
    for cpus in (1, 2):
        builder = RayBuilder(max_in_flight=cpus)
        builder.warm_up()
        start = time.perf_counter()
        results = builder.build([BuilderInput(m, target) for m in mods])
        out[f"candidates_per_s_{cpus}_cpu"] = len(mods) / (time.perf_counter() - start)
        assert all(r.error_msg is None for r in results)
        for r in results:
            builder.artifacts.release(r.artifact_path)
            shutil.rmtree(os.path.dirname(r.artifact_path), ignore_errors=True)
    out["scaling_1_to_2_cpus"] = out["candidates_per_s_2_cpu"] / out["candidates_per_s_1_cpu"]
    return out


def bench_tuning(builder: RayBuilder, kind: str, target: tvm.target.Target, trials: int, folder: str) -> dict:
    out = {}
    sessions = {
        "ray_farm": (builder, RayRunner(kind)),
        "local": (ms.builder.LocalBuilder(timeout_sec=300), ms.runner.LocalRunner(timeout_sec=120)),
    }
    for name, (b, r) in sessions.items():
        start = time.perf_counter()
        ms.tune_tir(
            matmul(128),
            target,
            os.path.join(folder, name),
            max_trials_global=trials,
            num_trials_per_iter=16,
            builder=b,
            runner=r,
            database="memory",
            seed=0,
        )
        out[f"{name}_s"] = time.perf_counter() - start
    out["speedup"] = out["local_s"] / out["ray_farm_s"]
    out["trials"] = trials
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="x86-64-v3")
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds of the runner comparison")
    opts = parser.parse_args()

    import tvm.s_tir.tensor_intrin  # the driver's one-time ~15 s import, paid before any timing

    os.environ["TVM_NUM_THREADS"] = str(
        THREADS
    )  # LocalRunner's workers inherit it; the device actor gets it from its node
    connect(kinds=[opts.kind], num_cores=THREADS)
    runner = RayRunner(opts.kind)
    target = tvm.target.Target(runner.device_kind.target)
    mods = candidates(opts.candidates)
    builder = RayBuilder()
    builder.warm_up()
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as folder:
        report = {
            "kind": opts.kind,
            "target_key": runner.device_kind.target_key,
            "runner": bench_runner(builder, opts.kind, mods, target, folder, opts.rounds, DEFAULT_SETTINGS),
            "runner_fixed_work": bench_runner(builder, opts.kind, mods, target, folder, opts.rounds, FIXED_WORK),
            "build": bench_build(mods, target),
            "tuning": bench_tuning(builder, opts.kind, target, opts.trials, folder),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

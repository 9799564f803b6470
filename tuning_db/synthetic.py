"""Synthetic tuning records of realistic shape and size, for tests and benchmarks.

A record's trace is modelled on a real MetaSchedule trace of a tiled matmul on an
llvm target (~3 KB of JSON: block look-ups, perfect-tile samples, splits, reorders,
annotations, post-processing) with random tile decisions, so it compresses like a
real one rather than like a repeated string.
"""

from __future__ import annotations

import hashlib
import json
import random

from .keys import canonical_target, record_id, target_key
from .schema import RecordRow, WorkloadRow

_STEP = (
    '["GetSBlock",[],["C%(n)d","main"],["b%(n)d"]],'
    '["GetLoops",["b%(n)d"],[],["l%(n)da","l%(n)db","l%(n)dc"]],'
    '["SamplePerfectTile",["l%(n)da"],[4,64],["v%(n)da","v%(n)db","v%(n)dc","v%(n)dd"]],'
    '["Split",["l%(n)da","v%(n)da","v%(n)db","v%(n)dc","v%(n)dd"],[1,0],["l%(n)de","l%(n)df","l%(n)dg","l%(n)dh"]],'
    '["SamplePerfectTile",["l%(n)db"],[4,64],["v%(n)de","v%(n)df","v%(n)dg","v%(n)dh"]],'
    '["Reorder",["l%(n)de","l%(n)df","l%(n)dg","l%(n)dh"],[],[]],'
    '["CacheWrite",["b%(n)d",[]],[0,"global"],["b%(n)dw"]],'
    '["ReverseComputeAt",["b%(n)dw","l%(n)df"],[1,-1],[]],'
    '["Annotate",["b%(n)d",%(par)d],["meta_schedule.parallel"],[]],'
    '["Annotate",["b%(n)d",64],["meta_schedule.vectorize"],[]]'
)
_STEPS_PER_TRACE = 4
_POOL = 4096

TARGETS = [
    {"kind": "llvm", "keys": ["cpu"], "mcpu": "znver4", "num-cores": 2},
    {"kind": "llvm", "keys": ["cpu"], "mcpu": "x86-64-v3", "num-cores": 2},
    {"kind": "llvm", "keys": ["cpu"], "mcpu": "x86-64", "num-cores": 2},
    {"kind": "llvm", "keys": ["cpu"], "mcpu": "skylake-avx512", "num-cores": 8},
]


def workload_keys(n: int, seed: str = "") -> list[str]:
    return [hashlib.sha256(f"workload-{seed}-{i}".encode()).hexdigest() for i in range(n)]


def workload_rows(keys: list[str]) -> list[WorkloadRow]:
    return [
        WorkloadRow(workload_key=k, shash=str(int(k[:15], 16)), mod_b64="c3ludGhldGlj", task_name=f"task_{k[:8]}")
        for k in keys
    ]


class RecordFactory:
    """Makes records for given workloads and targets, with ~3 KB traces and random run times."""

    def __init__(self, seed: int = 0, job_id: str = "synthetic", device: str = "synthetic-host/cpu") -> None:
        self.rng = random.Random(seed)
        self.job_id = job_id
        self.device = device
        self._targets: dict[str, tuple[str, str]] = {}
        self._args = json.dumps([["TENSOR", "float32", [128, 128]]] * 3, separators=(",", ":"))
        r = self.rng
        self._step_pool = [_STEP % {"n": r.randrange(1 << 20), "par": r.choice((16, 32, 64))} for _ in range(_POOL)]
        self._decision_pool = [
            ",".join(
                f"[{i},[{r.choice((1, 2, 4, 8))},{r.choice((1, 2, 4, 8, 16))},{r.choice((1, 2, 4))},{r.choice((4, 8, 16, 32))}]]"
                for i in range(2, 12, 2)
            )
            for _ in range(_POOL)
        ]

    def _target(self, target: dict) -> tuple[str, str]:
        k = json.dumps(target, sort_keys=True)
        if k not in self._targets:
            canon = canonical_target(target)
            self._targets[k] = (canon, target_key(canon))
        return self._targets[k]

    def trace(self) -> str:
        """A trace drawn from pools of random steps and decisions (distinct traces, fast to make)."""
        pick = self.rng.choices
        return f"[[{','.join(pick(self._step_pool, k=_STEPS_PER_TRACE))}],[{','.join(pick(self._decision_pool, k=4))}]]"

    def record(self, workload_key: str, target: dict, measured: bool = True) -> RecordRow:
        target_json, tk = self._target(target)
        trace = self.trace()
        secs = [self.rng.uniform(1e-5, 1e-3) for _ in range(3)] if measured else None
        return RecordRow(
            record_id=record_id(workload_key, target_json, trace, secs, self._args),
            workload_key=workload_key,
            target_key=tk,
            target_json=target_json,
            trace_json=trace,
            run_secs=secs,
            args_info_json=self._args,
            device_fingerprint=self.device,
            job_id=self.job_id,
        )

    def records(self, n: int, keys: list[str], targets: list[dict] | None = None) -> list[RecordRow]:
        """n records spread round-robin over workloads and targets."""
        targets = targets or TARGETS[:1]
        return [self.record(keys[i % len(keys)], targets[(i // len(keys)) % len(targets)]) for i in range(n)]

"""CPU priority of the farm's background work: builds, searches and cost-model training yield the CPU to measurements.

On a node that builds and measures at once (every node of a one-machine farm), a
compile or an evolutionary search running beside a measurement takes its cores: a
parallel kernel whose second thread is descheduled waits out a whole time slice, and
kernels of a few microseconds were recorded hundreds of times slower than they run,
so the search learned from noise. Background work therefore runs under Linux's
`SCHED_IDLE` policy, getting a CPU only when nothing else wants one, in Ray workers of
its own: tasks and actors that yield declare the `BACKGROUND` runtime env, and Ray never
reuses a worker across runtime envs. That matters because an unprivileged process
cannot raise its priority again, so a measurement actor must never start in a worker
that ran background work. On a dedicated device node nothing changes.
"""

from __future__ import annotations

import os

BACKGROUND = {"env_vars": {"FARM_BACKGROUND_WORKER": "1"}}


def yield_cpu() -> None:
    """Put every thread of this process, and the threads they start from now on, under `SCHED_IDLE` (Linux only)."""
    if not hasattr(os, "SCHED_IDLE") or os.environ.get("FARM_BACKGROUND_WORKER") != "1":
        return
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # the thread ended meanwhile
            pass

"""Progress of concurrent tuning sessions: a live bar per target kind on a terminal, plain log lines otherwise."""

from __future__ import annotations

import time
from concurrent.futures import Future, wait

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .output import err_console

LOG_EVERY_S = 15.0


def _latency(p: dict) -> str:
    """The variant written so far (its engine and latency) and TVM's latency estimated from the best records."""
    from ..engines import engine_named

    secs, best = p.get("estimated_latency_s"), p.get("best_so_far")
    parts = [f"variant: {engine_named(best['engine']).title} {best['latency_ms']:.3f} ms"] if best else []
    parts += [f"TVM ≈ {secs * 1e3:.3f} ms"] if secs else []
    return ", ".join(parts) or "best: –"


def show_progress(sessions: list, futures: list[Future], poll_s: float = 1.0) -> None:
    """Report every session's stage, trials measured of planned, and best estimated latency until all futures are done."""
    if err_console.is_terminal:
        _bars(sessions, futures, poll_s)
    else:
        _lines(sessions, futures, poll_s)


def _bars(sessions: list, futures: list[Future], poll_s: float) -> None:
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, transient=False) as bars:
        ids = {s.kind: bars.add_task(f"{s.kind}: {s.stage}", total=None, best="") for s in sessions}
        while True:
            finished = not wait(futures, timeout=poll_s).not_done
            for s in sessions:
                p = s.progress()
                bars.update(
                    ids[s.kind],
                    description=f"{s.kind}: {p['stage']}",
                    total=p["total"] or None,
                    completed=p["trials"],
                    best=_latency(p),
                )
            if finished:
                return


def _lines(sessions: list, futures: list[Future], poll_s: float) -> None:
    last: dict[str, tuple] = {}
    last_at = 0.0
    while True:
        finished = not wait(futures, timeout=poll_s).not_done
        now = time.monotonic()
        if finished or now - last_at >= LOG_EVERY_S:
            for s in sessions:
                p = s.progress()
                state = (p["stage"], p["trials"], p["estimated_latency_s"])
                if last.get(s.kind) != state:
                    err_console.print(
                        f"[{s.kind}] {p['stage']}: {p['trials']}/{p['total']} trials, {_latency(p)}", highlight=False
                    )
                    last[s.kind] = state
            last_at = now
        if finished:
            return

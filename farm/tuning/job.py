"""A tuning job: one model tuned for several device kinds at once, each variant verified against ONNX Runtime.

The job runs one `TuningSession` per kind in threads of the calling process (the
sessions' searches, builds and measurements run on the Ray cluster), then verifies each
kind's variant on a node of that kind: the variant through the TVM VM and the original
through ONNX Runtime, same random inputs (`farm.benchmark.compare_on_device`), written
to the variant folder as `benchmark.json`. `farm tune` and the platform's workflows both
drive tuning through this class.
"""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from ..models.onnx_import import OnnxModel, random_inputs
from .session import VARIANT_LIBRARY, TuningPlan, TuningSession

BENCHMARK_FILE = "benchmark.json"
VERIFICATION_KEYS = ("tvm_latency_ms", "ort_latency_ms", "speedup_vs_ort", "max_abs_diff", "max_rel_diff", "agrees")


class TuneJob:
    """Tune `model` for `kinds` concurrently; `start()`, then `progress()` while it runs and `results()` at the end."""

    def __init__(
        self,
        model: OnnxModel,
        original: bytes,
        model_name: str,
        kinds: list[str],
        plan: TuningPlan,
        db_uri: str,
        out_dir: str,
        *,
        job_id: str | None = None,
        search_workers: int | None = None,
    ) -> None:
        self.model, self.original, self.model_name = model, original, model_name
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.sessions = [
            TuningSession(model, model_name, kind, plan, db_uri, out_dir, job_id=self.job_id, search_workers=search_workers)
            for kind in kinds
        ]
        self.futures: list[Future] = []
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start every kind's session in its own thread."""
        inputs = random_inputs(self.model.inputs)
        self._pool = ThreadPoolExecutor(max_workers=len(self.sessions), thread_name_prefix="tune")
        self.futures = [self._pool.submit(self._tune_one, s, inputs) for s in self.sessions]

    def progress(self) -> dict[str, dict]:
        """Per kind: stage, trials measured, trials planned, estimated model latency from the best records."""
        return {s.kind: s.progress() for s in self.sessions}

    def results(self) -> dict[str, dict]:
        """Wait for every kind; its summary merged with its verification. Raises the first session's error."""
        try:
            return {s.kind: f.result() for s, f in zip(self.sessions, self.futures)}
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def _tune_one(self, session: TuningSession, inputs: dict) -> dict:
        from ..benchmark import compare_on_device

        summary = session.run()
        session.stage = "verifying"
        check = compare_on_device(session.kind, os.path.join(summary.variant_dir, VARIANT_LIBRARY), self.original, inputs)
        with open(os.path.join(summary.variant_dir, BENCHMARK_FILE), "w") as f:
            json.dump(check, f, indent=2)
        session.stage = "done"
        return {**summary.as_json(), **{k: check[k] for k in VERIFICATION_KEYS}}

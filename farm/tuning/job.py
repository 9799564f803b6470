"""A tuning job: one model tuned for several device kinds at once, each kind's engines measured and the fastest chosen.

The job runs one `TuningSession` per kind in threads of the calling process (the
sessions' searches, builds and measurements run on the Ray cluster), then plans the
kind's hybrid (`farm.engines.hybrid_plan`: every kernel timed in TVM, with the database's
schedules, and in ONNX Runtime on a node of that kind, each kernel on the faster), then
times each kind's engines on a node of that kind (`farm.benchmark.compare_on_device`): the
tuned TVM library at every thread count, the original model in ONNX Runtime at every
session setting and the hybrid at every thread count, each in a process of its own, same
random inputs, checked against ONNX Runtime's default session. The comparison goes to the
variant folder as `benchmark.json` (warm-up and repeats as the caller sets them: a
workflow's benchmark stage builds on it rather than running it again) and the fastest agreeing engine becomes the variant's engine
(`farm.engines.variant.record_engines`), so a variant is never slower than ONNX Runtime's
default session on the device.
`farm tune` and the platform's workflows both drive tuning through this class.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass

from ..engines import engine_named
from ..engines.comparison import REFERENCE_ENGINE, Comparison
from ..engines.hybrid_engine import PLAN_KEY
from ..engines.variant import plan_summary, record_engines
from ..models.onnx_import import OnnxModel, random_inputs
from ..precision import EXACT, Tolerance
from ..runtime.container import BENCHMARK as BENCHMARK_FILE
from ..runtime.container import VariantMetadata, read_metadata
from ..workflow_options import REPEAT, WARMUP
from .session import (
    VARIANT_LIBRARY,
    SessionSummary,
    TuningPlan,
    TuningSession,
    compile_with_records,
    exported_library,
    variant_metadata,
)

# the quick timing of the library engines before tuning: two configurations each (the default first), a few rounds
FIRST_PASS = {"warmup": 2, "repeat": 10, "rounds": 2, "per_engine": 2}


def library_engines(platform: str) -> list[str]:
    """The engines that run the original ONNX model as it is (no tuning needed) on a `platform` device."""
    from ..engines import ENGINES

    onnx_file = engine_named(REFERENCE_ENGINE).artifact
    return [n for n in ENGINES if engine_named(n).artifact == onnx_file and engine_named(n).available(platform)]


@dataclass(frozen=True)
class KindResult:
    """One kind's outcome: what its session tuned, how its engines compared on the device, the hybrid's plan."""

    summary: SessionSummary
    comparison: Comparison
    plan: dict  # `plan_summary` of the hybrid's plan: built or not, kernels per engine

    @property
    def variant_dir(self) -> str:
        return self.summary.variant_dir

    def as_json(self) -> dict:
        """The kind's summary as `farm tune --json` prints it: the session's, the comparison's figures and engines, the plan."""
        engines = {name: e.as_json() for name, e in self.comparison.engines.items()}
        return {**self.summary.as_json(), **self.comparison.figures(), "engines": engines, PLAN_KEY: self.plan}


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
        verify_warmup: int = WARMUP,
        verify_repeat: int = REPEAT,
        precision: str = EXACT,
        tolerance: Tolerance | None = None,
        samples: list[dict] | None = None,
    ) -> None:
        self.model, self.original, self.model_name = model, original, model_name
        self.verify_warmup, self.verify_repeat = verify_warmup, verify_repeat
        self.precision, self.tolerance, self.samples = precision, tolerance, samples
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.sessions = [
            TuningSession(
                model, model_name, kind, plan, db_uri, out_dir, job_id=self.job_id, search_workers=search_workers
            )
            for kind in kinds
        ]
        self.futures: list[Future] = []

    def start(self) -> None:
        """Start every kind's session in its own daemon thread (a driver that gives up on the job can exit at once)."""
        inputs = random_inputs(self.model.inputs)
        for session in self.sessions:
            future: Future = Future()
            threading.Thread(
                target=self._run, args=(session, inputs, future), name=f"tune-{session.kind}", daemon=True
            ).start()
            self.futures.append(future)

    def progress(self) -> dict[str, dict]:
        """Per kind: stage, trials measured, trials planned, estimated model latency from the best records."""
        return {s.kind: s.progress() for s in self.sessions}

    def results(self) -> dict[str, KindResult]:
        """Wait for every kind; its summary merged with its verification. Raises the first error of a session that failed."""
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise future.exception()
        return {s.kind: f.result() for s, f in zip(self.sessions, self.futures)}

    def _run(self, session: TuningSession, inputs: dict, future: Future) -> None:
        try:
            future.set_result(self._tune_one(session, inputs))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(e)

    def _first_answer(self, session: TuningSession, inputs: dict) -> None:
        """Before any tuning: the library engines (those that run the ONNX model as it is) timed in a quick pass on a node
        of the kind, and the fastest written as the kind's variant at once; the tune then has to beat it."""
        from cluster.nodes import nodes_serving

        from ..benchmark import compare_on_device

        session.stage = "timing library engines"
        reference = engine_named(REFERENCE_ENGINE)
        device_kind = nodes_serving(session.kind)[0].kind(session.kind).as_json()
        metadata = variant_metadata(self.model, self.model_name, device_kind, {})
        check = compare_on_device(
            session.kind,
            {reference.artifact: self.original},
            inputs,
            engines=library_engines(device_kind["platform"]),
            metadata=metadata.as_json(),
            precision=self.precision,
            tolerance=self.tolerance,
            samples=self.samples,
            **FIRST_PASS,
        )
        os.makedirs(session.variant_dir, exist_ok=True)
        session.incumbent = VariantMetadata.from_json(
            record_engines(session.variant_dir, check, {reference.name: self.original}, base=metadata)
        )

    def _tune_one(self, session: TuningSession, inputs: dict) -> KindResult:
        from ..benchmark import compare_on_device

        self._first_answer(session, inputs)
        summary = session.run()
        session.stage = "timing kernels"
        plan, hybrid = self._plan_hybrid(session, inputs)
        session.stage = "timing engines"
        files = {"onnxruntime": self.original, **({"hybrid": hybrid} if hybrid is not None else {})}
        with open(os.path.join(summary.variant_dir, VARIANT_LIBRARY), "rb") as f:
            artifacts = {engine_named(name).artifact: data for name, data in {"tvm": f.read(), **files}.items()}
        check = compare_on_device(
            session.kind,
            artifacts,
            inputs,
            metadata=read_metadata(summary.variant_dir),
            precision=self.precision,
            tolerance=self.tolerance,
            samples=self.samples,
            warmup=self.verify_warmup,
            repeat=self.verify_repeat,
        )
        with open(os.path.join(summary.variant_dir, BENCHMARK_FILE), "w") as f:
            json.dump(check.as_json(), f, indent=2)
        record_engines(summary.variant_dir, check, files, plan)
        session.stage = "done"
        return KindResult(summary, check, plan_summary(plan))

    def _plan_hybrid(self, session: TuningSession, inputs: dict) -> tuple[dict, bytes | None]:
        """The per-kernel best-of of TVM (with the database's schedules) and ONNX Runtime on a node of the session's kind."""
        import tvm

        from cluster.nodes import nodes_serving
        from tuning_db.metaschedule import ParquetDatabase

        from ..benchmark import on_device
        from ..engines.hybrid_plan import build_hybrid
        from ..models.onnx_import import from_proto

        target = tvm.target.Target(nodes_serving(session.kind)[0].kind(session.kind).target)
        db = ParquetDatabase(session.db_uri, target, auto_compact_files=None)
        try:
            return build_hybrid(
                self.model.proto,
                inputs,
                lambda proto: exported_library(compile_with_records(db, from_proto(proto), target)),
                functools.partial(on_device, session.kind),
            )
        finally:
            db.close()

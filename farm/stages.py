"""A workflow's stages as data: their names, order, defaults and what each needs, for the registry, the engine, the SDK and the CLI.

`STAGE_TABLE` lists the stages in the order they run; each names the class that runs it
(`farm.workflows.stage.Stage`, imported only when a workflow runs), whether it runs when
the user does not say (`default`), whether the user may turn it off (`optional`), whether
the user sees it at all (`internal` stages always run), and the stages whose work it needs
(`after`). Adding a stage is one module and one line here; the workflow's options
(`farm.workflow_options.Stages`) gain its switch from this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    name: str
    runner: str  # "module:Class" of its `farm.workflows.stage.Stage`
    description: str  # what it does, as the API documents its switch
    default: bool = True
    optional: bool = True
    internal: bool = False
    after: tuple[str, ...] = ()

    def load(self) -> type:
        module, cls = self.runner.split(":")
        return getattr(importlib.import_module(module), cls)


STAGE_TABLE: tuple[StageSpec, ...] = (
    StageSpec(
        "autotune",
        "farm.workflows.autotune_stage:AutotuneStage",
        "Tune a variant per device kind with TVM and time every engine. Cannot be false: the other stages work on its "
        "variants.",
        optional=False,
    ),
    StageSpec(
        "benchmark",
        "farm.workflows.benchmark_stage:BenchmarkStage",
        "Time every variant's engines on a node of its kind: batch sizes, SLA, cost, warnings.",
        after=("autotune",),
    ),
    StageSpec(
        "record",
        "farm.workflows.record_stage:RecordStage",
        "Register each verified variant (and settle the offer the workflow checks).",
        optional=False,
        internal=True,
        after=("autotune",),
    ),
    StageSpec(
        "package",
        "farm.workflows.package_stage:PackageStage",
        "Rank the variants and package them: a wheel and a tarball per kind, a ranked-candidates zip and a Docker "
        "build context.",
        default=False,
        after=("record",),
    ),
)
SPECS = {spec.name: spec for spec in STAGE_TABLE}
STAGES = tuple(spec.name for spec in STAGE_TABLE if not spec.internal)  # the stages a user switches
DEFAULT_STAGES = tuple(name for name in STAGES if SPECS[name].default)
REQUIRED_STAGES = tuple(name for name in STAGES if not SPECS[name].optional)


def stages_to_run(chosen: list[str]) -> list[StageSpec]:
    """The stages that run when the user chose `chosen`, in order: those and every internal stage; `ValueError` when one
    would run without a stage whose work it needs."""
    run = [spec for spec in STAGE_TABLE if spec.internal or spec.name in chosen]
    names = [spec.name for spec in run]
    for position, spec in enumerate(run):
        missing = [need for need in spec.after if need not in names[:position]]
        if missing:
            raise ValueError(f"the {spec.name} stage needs the {', '.join(missing)} stage before it")
    return run

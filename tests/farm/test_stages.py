"""A workflow's stages are data: the table's order, what the user may switch, and what each stage needs before it."""

from __future__ import annotations

import pytest

from farm import stages
from farm.stages import STAGE_TABLE, StageSpec, stages_to_run
from farm.workflow_options import Stages, build_options
from farm.workflows.stage import Stage


def test_the_chosen_stages_run_in_the_tables_order_with_the_internal_ones():
    assert [s.name for s in stages_to_run(["autotune"])] == ["autotune", "record"]
    assert [s.name for s in stages_to_run(["package", "autotune", "benchmark"])] == [
        "autotune",
        "benchmark",
        "record",
        "package",
    ]
    assert all(issubclass(spec.load(), Stage) for spec in STAGE_TABLE)
    assert build_options().stages.chosen() == ["autotune", "benchmark"]  # the table's defaults


def test_a_stage_runs_only_after_the_stages_it_needs(monkeypatch):
    with pytest.raises(ValueError, match="the benchmark stage needs the autotune stage before it"):
        stages_to_run(["benchmark"])
    quick = StageSpec("first_answer", "farm.workflows.stage:Stage", "Time the library engines first.", after=())
    late = StageSpec("report", "farm.workflows.stage:Stage", "Report.", after=("record",))
    monkeypatch.setattr(stages, "STAGE_TABLE", (quick, *STAGE_TABLE, late))
    assert [s.name for s in stages.stages_to_run(["first_answer", "autotune", "report"])] == [
        "first_answer",
        "autotune",
        "record",
        "report",
    ]


def test_every_user_stage_has_a_documented_switch_and_the_required_one_cannot_be_turned_off():
    assert set(Stages.model_fields) == set(stages.STAGES) and "record" not in Stages.model_fields
    assert all(field.description for field in Stages.model_fields.values())
    with pytest.raises(ValueError, match="autotune stage cannot be turned off"):
        build_options(stages={"autotune": False})

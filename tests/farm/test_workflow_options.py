"""A workflow's options have one schema: the API, the registry, the engine, the CLI and the SDK share its defaults and
bounds, and options stored by the previous main (tests/data, written by its code) still validate, meaning the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farm.api.schemas import WorkflowCreate
from farm.workflow_options import DEFAULTS, MAX_TRIALS, StoredWorkflowOptions, WorkflowOptions, build_options

STORED = json.loads((Path(__file__).parents[1] / "data" / "workflow_options_3242147.json").read_text())


@pytest.mark.parametrize("name", sorted(STORED))
def test_options_stored_by_the_previous_main_validate_and_mean_the_same(name):
    stored = STORED[name]
    options = StoredWorkflowOptions.model_validate(stored)
    assert options.trials == stored["trials"] and options.stages.model_dump() == stored["stages"]
    assert options.shapes == {k: tuple(v) for k, v in stored["input_shapes"].items()}
    assert options.benchmark.repeat == stored.get("benchmark", {}).get("repeat", DEFAULTS.benchmark.repeat)
    assert options.offer_id == stored.get("offer_id")
    if name == "api":
        assert options.benchmark.batch_sizes == [1, 4] and options.benchmark.sla_ms == 5.0
        assert options.priorities == ["agrees", "-best_latency_ms"] and options.stages.chosen() == [
            "autotune",
            "benchmark",
            "package",
        ]


def test_the_api_body_the_sdk_and_the_cli_share_one_schema_and_its_defaults():
    body = WorkflowCreate(model_id="m", targets=["x86-64"])
    assert body.options() == build_options() == DEFAULTS == WorkflowOptions()
    assert set(WorkflowOptions.model_fields) <= set(WorkflowCreate.model_fields)
    assert "offer_id" not in WorkflowCreate.model_fields  # set by the farm when an offer is accepted, never by a user
    with pytest.raises(ValueError, match=f"trials: .*{MAX_TRIALS}"):
        build_options(trials=MAX_TRIALS + 1)
    with pytest.raises(ValueError, match="input_shapes: .*16 dimensions"):
        build_options(input_shapes={"x": [1] * 17})


def test_options_read_like_the_dict_they_were_for_code_written_before_the_schema():
    options = StoredWorkflowOptions.model_validate(STORED["api"])
    assert options["trials"] == 64 and options["stages"]["package"] is True and options["benchmark"]["repeat"] == 50
    assert options.get("offer_id") is None and options.get("nope", 3) == 3
    with pytest.raises(KeyError):
        options["nope"]

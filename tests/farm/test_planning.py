"""The planning and dispatch rules that tunes exercise only end to end: the trial plan, the split into search workers, the device pick."""

from __future__ import annotations

import pytest

from cluster.runner import _Device, least_busy
from farm.tuning.search import split_tasks
from farm.tuning.session import FIRST_ROUND_SHARE, TuningPlan


def test_a_round_is_small_enough_for_the_first_pass_to_leave_most_of_the_budget():
    plan = TuningPlan(trials=1000, trials_per_iter=64)
    assert plan.per_iteration(45) == int(1000 * FIRST_ROUND_SHARE) // 45 == 11
    assert plan.per_iteration(45) * 45 <= 1000 * FIRST_ROUND_SHARE
    assert plan.per_iteration(2) == 64, "never more than trials_per_iter"
    assert TuningPlan(trials=1000, trials_per_task=5).per_iteration(2) == 5, "nor more than a task may have"
    assert TuningPlan(trials=10).per_iteration(100) == 1, "at least one candidate"


def test_what_is_left_counts_the_records_already_there():
    plan = TuningPlan(trials=300, trials_per_iter=64)
    left = plan.left_after(100, 4)
    assert left.trials == 200 and left.trials_per_iter == plan.trials_per_iter
    assert plan.left_after(300, 4) is None, "nothing left once the budget is spent"
    assert plan.left_after(299, 1).trials == 1, "a last round shrinks to what is left"
    assert plan.left_after(0, 4) == plan


def test_the_population_follows_the_round_size_within_bounds():
    assert TuningPlan(trials=1000).population(45) == 16 * 11
    assert TuningPlan(trials=40).population(40) == 64
    assert TuningPlan(trials=100_000).population(1) == 256


@pytest.mark.parametrize(
    "fields", [{"trials": -1}, {"trials": 10, "remeasure": -1}, {"trials": 10, "trials_per_task": 0}]
)
def test_negative_or_empty_budgets_are_refused(fields):
    with pytest.raises(ValueError, match="positive"):
        TuningPlan(**fields)


def test_tasks_are_dealt_to_at_most_as_many_workers_as_there_are_tasks():
    tasks = [(f"t{i}", "{}", float(i)) for i in range(7)]
    groups = split_tasks(tasks, 3)
    assert [[name for name, _, _ in g] for g in groups] == [["t0", "t3", "t6"], ["t1", "t4"], ["t2", "t5"]]
    assert split_tasks(tasks[:2], 8) == [[tasks[0]], [tasks[1]]], "no empty group"
    assert split_tasks(tasks, 0) == [tasks]
    assert sorted(t for g in split_tasks(tasks, 4) for t in g) == sorted(tasks)


def test_a_candidate_goes_to_the_least_busy_device_off_the_nodes_that_lost_it():
    a, b, c = (
        _Device("node-a", None, in_flight=2),
        _Device("node-b", None, in_flight=0),
        _Device("node-c", None, in_flight=1),
    )
    assert least_busy([a, b, c], []) is b
    assert least_busy([a, b, c], ["node-b"]) is c
    assert least_busy([a, b], ["node-a", "node-b"]) is b, "every node lost it once: the least busy tries again"

"""Ranking variants: lexicographic order by metric priorities, directions, missing metrics, the priorities syntax."""

from __future__ import annotations

import pytest

from farm.packaging import (
    DEFAULT_PRIORITIES,
    METRICS,
    Candidate,
    MetricPriority,
    candidate_from_folder,
    parse_priorities,
    rank,
)


def cand(name: str, kind: str = "x86-64", **metrics) -> Candidate:
    return Candidate(
        variant_dir=f"/variants/{name}",
        kind=kind,
        model="tiny",
        metrics=metrics,
        metadata={"library": "model.so"},
        variant_id=name,
    )


def ids(entries: list[dict]) -> list[str]:
    return [e["variant_id"] for e in entries]


def test_default_ranks_agreeing_variants_first_then_by_latency():
    entries = rank(
        [
            cand("slow", agrees=True, best_latency_ms=3.0),
            cand("wrong", agrees=False, best_latency_ms=0.5),
            cand("fast", agrees=True, best_latency_ms=1.0),
        ]
    )
    assert ids(entries) == ["fast", "slow", "wrong"]
    assert [e["rank"] for e in entries] == [1, 2, 3]
    assert entries[0]["metrics"] == {
        "agrees": {"value": True, "priority": 1, "higher_is_better": True},
        "best_latency_ms": {"value": 1.0, "priority": 2, "higher_is_better": False},
    }
    assert rank([]) == []
    assert DEFAULT_PRIORITIES == (MetricPriority("agrees", True), MetricPriority("best_latency_ms", False))


def test_ties_on_the_first_metric_are_broken_by_the_second():
    candidates = [
        cand("a", speedup_vs_ort=2.0, max_abs_diff=1e-4),
        cand("b", speedup_vs_ort=3.0, max_abs_diff=1e-3),
        cand("c", speedup_vs_ort=2.0, max_abs_diff=1e-6),
    ]
    assert ids(rank(candidates, parse_priorities("speedup_vs_ort,max_abs_diff"))) == ["b", "c", "a"]
    # equal on every priority: the given order stays
    assert ids(rank([cand("x", agrees=True, best_latency_ms=1.0), cand("y", agrees=True, best_latency_ms=1.0)])) == [
        "x",
        "y",
    ]


def test_direction_follows_the_sign():
    candidates = [cand("a", speedup_vs_ort=1.5), cand("b", speedup_vs_ort=2.5)]
    assert ids(rank(candidates, parse_priorities("+speedup_vs_ort"))) == ["b", "a"]
    assert ids(rank(candidates, parse_priorities("-speedup_vs_ort"))) == ["a", "b"]
    assert ids(rank(candidates, [MetricPriority("speedup_vs_ort", False)])) == ["a", "b"]


def test_a_missing_metric_sorts_last_at_its_priority():
    never_benchmarked = cand("none")
    candidates = [
        never_benchmarked,
        cand("slow", agrees=True, best_latency_ms=2.0),
        cand("nolat", agrees=True),
        cand("fast", agrees=True, best_latency_ms=1.0),
    ]
    entries = rank(candidates)
    assert ids(entries) == ["fast", "slow", "nolat", "none"]
    assert entries[2]["metrics"]["best_latency_ms"]["value"] is None
    # missing at the first priority loses even to a worse second metric; NaN counts as missing
    assert ids(
        rank([cand("nan", agrees=True, best_latency_ms=float("nan")), cand("ok", agrees=True, best_latency_ms=9.0)])
    ) == ["ok", "nan"]


def test_model_paths_number_candidates_within_their_kind():
    candidates = [
        cand("v3-slow", "x86-64-v3", agrees=True, best_latency_ms=4.0),
        cand("base", "x86-64", agrees=True, best_latency_ms=2.0),
        cand("v3-fast", "x86-64-v3", agrees=True, best_latency_ms=1.0),
    ]
    entries = rank(candidates)
    assert ids(entries) == ["v3-fast", "base", "v3-slow"]
    paths = [e["model_config"]["config"]["model_path"] for e in entries]
    assert paths == [
        "CandidateModels/x86-64-v3/BestCandidateModel_1/model/model.so",
        "CandidateModels/x86-64/BestCandidateModel_1/model/model.so",
        "CandidateModels/x86-64-v3/BestCandidateModel_2/model/model.so",
    ]
    assert [e["target"] for e in entries] == ["x86-64-v3", "x86-64", "x86-64-v3"]
    assert all(e["model_config"]["type"] == "TVMRelaxExecutable" and e["model"] == "tiny" for e in entries)


def test_parse_priorities():
    assert parse_priorities("agrees,-tvm_latency_ms,+speedup_vs_ort") == [
        MetricPriority("agrees", True),
        MetricPriority("tvm_latency_ms", False),
        MetricPriority("speedup_vs_ort", True),
    ]
    # a bare name takes the metric's natural direction; spaces are ignored
    assert parse_priorities(" tvm_p90_ms , tvm_throughput_per_s ") == [
        MetricPriority("tvm_p90_ms", False),
        MetricPriority("tvm_throughput_per_s", True),
    ]
    assert parse_priorities("+max_abs_diff") == [MetricPriority("max_abs_diff", True)]
    with pytest.raises(
        ValueError, match=r"unknown metric 'accuracy'.*available: agrees, best_latency_ms, tvm_latency_ms"
    ) as e:
        parse_priorities("agrees,accuracy")
    assert all(m in str(e.value) for m in METRICS)
    assert parse_priorities("-cost_per_million_usd", metrics=(*METRICS, "cost_per_million_usd")) == [
        MetricPriority("cost_per_million_usd", False)
    ]
    for bad, message in (
        ("", "empty"),
        ("agrees,,tvm_latency_ms", "empty"),
        ("+", "empty"),
        ("agrees,-agrees", "twice"),
        ("*agrees", "unknown"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_priorities(bad)


def test_candidate_from_a_tuned_folder(tuned_variants):
    c = candidate_from_folder(str(tuned_variants["kinds"]["x86-64-v3"]), variant_id="v-1")
    assert (c.kind, c.model, c.variant_id) == ("x86-64-v3", "tiny", "v-1")
    assert c.metrics["agrees"] is True and c.metrics["tvm_latency_ms"] > 0 and c.metrics["speedup_vs_ort"] > 0
    assert c.metrics["tvm_p90_ms"] >= c.metrics["tvm_median_ms"] > 0 and c.metrics["library_bytes"] > 0
    assert set(c.metrics) <= set(METRICS) and c.metrics["trials_measured"] == 0
    assert c.metadata["target"]["mcpu"] == "x86-64-v3" and c.benchmark["threads"] >= 1

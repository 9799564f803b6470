"""Engines timed side by side: every configuration in a process of its own, the others idle, the fastest agreeing one chosen;
and the farm's figures hold when each engine is timed alone in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import tvm
from tvm import relax

from cluster.devices import detect_kinds
from farm.engines import ENGINES, engine_named
from farm.engines.comparison import REFERENCE, Comparison, ConfigResult
from farm.engines.timing import REWARM_S, time_engines
from farm.models.examples import resnet_cnn
from farm.models.onnx_import import prepare, random_inputs
from farm.runtime.ort_model import session_threads
from farm.tuning.session import named_params

pytestmark = pytest.mark.slow

CORES = 2
HONEST_TOLERANCE = 0.10
# A fresh process warms for this long before it is timed, as a served model has: the first ~100 inferences of a fresh
# 0.17 ms ONNX Runtime session (2 threads) read 0.27-0.30 ms in 21 of 30 processes, its later ones 0.16-0.18 ms in all
# (the scheduler had not yet spread its two threads over the two cores); ten warm-up runs were not enough.
ALONE_WARMUP_S = 0.5
ALONE_PROCESSES = 6
ATTEMPTS = 2

ALONE = r"""
import json, sys, time
import numpy as np
spec = json.loads(sys.argv[1])
inputs = dict(np.load(spec["inputs"]))
if spec["engine"] == "onnxruntime":
    import onnxruntime as ort
    session = ort.InferenceSession(spec["model"], providers=["CPUExecutionProvider"])
    run = lambda: session.run(None, inputs)
else:
    import tvm
    from tvm import relax
    vm = relax.VirtualMachine(tvm.runtime.load_module(spec["model"]), tvm.cpu())
    args = [tvm.runtime.tensor(x) for x in inputs.values()]
    run = lambda: [t.numpy() for t in [vm["main"](*args)]]
start = time.perf_counter()
while time.perf_counter() - start < spec["warmup_s"]:
    run()
seconds = []
for _ in range(spec["repeat"]):
    start = time.perf_counter()
    run()
    seconds.append(time.perf_counter() - start)
print(json.dumps(float(np.median(seconds)) * 1e3))
"""


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """A small CNN as ONNX and compiled by TVM (default schedules) for this host's best x86-64 level; its inputs."""
    root = tmp_path_factory.mktemp("engines")
    onnx_path = root / "model.onnx"
    onnx.save(resnet_cnn(size=32, width=16, blocks=2), str(onnx_path))
    model = prepare(str(onnx_path))
    kind = [k for k in detect_kinds() if k.platform == "cpu"][-1]
    mod, params = model.relax
    bound = relax.transform.BindParams("main", named_params(mod, params, len(model.inputs)))(mod)
    library = root / "model.so"
    relax.build(bound, target=tvm.target.Target(kind.target)).export_library(str(library))
    inputs = random_inputs(model.inputs)
    np.savez(root / "inputs.npz", **inputs)
    return {"onnx": onnx_path, "library": library, "inputs": inputs, "npz": root / "inputs.npz"}


@pytest.fixture(scope="module")
def timed(model_files):
    return _farm_timing(model_files)


def _artifacts(model_files) -> dict[str, bytes]:
    return {"model.so": model_files["library"].read_bytes(), "model.onnx": model_files["onnx"].read_bytes()}


def _farm_timing(model_files) -> dict:
    """The farm's timing of both engines on the model's ONNX file and TVM library."""
    artifacts = _artifacts(model_files)
    timed = time_engines(
        artifacts,
        model_files["inputs"],
        cores=CORES,
        engines=["onnxruntime", "tvm"],
        warmup=10,
        repeat=100,
        out_of_reach=None,  # every configuration timed, whatever its warm-up says
    )
    return timed.as_json()


def test_engines_are_found_by_name_and_list_their_default_first():
    assert set(ENGINES) == {"tvm", "onnxruntime", "hybrid", "openvino"}
    ort_configs = engine_named("onnxruntime").configs(CORES)
    assert ort_configs[0].label == REFERENCE and ort_configs[0].settings["session_options"] == {}
    assert {c.threads for c in ort_configs[1:]} == {1, 2}
    assert [c.threads for c in engine_named("tvm").configs(4)] == [4, 2, 1]
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'.*onnxruntime, tvm"):
        engine_named("tensorrt")


def test_every_configuration_is_timed_with_its_threads_while_the_others_are_idle(timed):
    labels = [c["label"] for c in timed["configs"]]
    assert labels == [c.label for name in ("onnxruntime", "tvm") for c in engine_named(name).configs(CORES)]
    for config in timed["configs"]:
        assert config["stats"]["median_ms"] > 0 and config["agrees"], config
        assert config["threads"] in (None, 1, 2)
        # the other workers' pools have stopped spinning before each round and stay asleep during it: under 5% of a core over
        # the rounds' wall time (each round re-warms for REWARM_S, then times its share of the repeats)
        window_ms = timed["rounds"] * REWARM_S * 1e3 + config["stats"]["median_ms"] * config["repeat"]
        assert config["others_cpu_ms"] < 0.05 * window_ms, config
    assert timed["repeat"] == 100 and timed["rounds"] == 5


def test_the_fastest_agreeing_engine_is_chosen_and_never_slower_than_the_default_session(timed):
    fastest = min(timed["configs"], key=lambda c: c["stats"]["median_ms"])
    assert timed["engine"] == fastest["engine"]
    assert timed["best_latency_ms"] == fastest["stats"]["median_ms"] <= timed["ort_latency_ms"]
    for name, entry in timed["engines"].items():
        mine = [c["stats"]["median_ms"] for c in timed["configs"] if c["engine"] == name]
        assert entry["latency_ms"] == min(mine) and entry["p90_ms"] >= entry["latency_ms"]
    for config in engine_named("onnxruntime").configs(CORES):  # the threads recorded are those the runtime will use
        assert session_threads(config.settings) == config.threads
    assert timed["tvm_latency_ms"] == timed["engines"]["tvm"]["latency_ms"]
    assert timed["threads"] == timed["engines"]["tvm"]["threads"]


def test_a_configuration_out_of_reach_is_estimated_from_its_warm_up_never_timed_nor_chosen(model_files):
    """With the factor at 1, every configuration slower in its warm-up than the fastest is out of reach."""
    artifacts = _artifacts(model_files)
    check = time_engines(
        artifacts,
        model_files["inputs"],
        cores=CORES,
        engines=["onnxruntime", "tvm"],
        warmup=3,
        repeat=10,
        rounds=2,
        per_engine=2,
        out_of_reach=1.0,
    )
    estimated = [c for c in check.configs if c.estimated]
    timed = [c for c in check.configs if not c.estimated]
    assert len(timed) in (1, 2) and REFERENCE in {c.label for c in timed} and estimated, check.configs
    assert all(c.repeat == 0 and c.label != REFERENCE for c in estimated)
    assert all(c.repeat > 0 for c in timed)
    assert check.chosen.config in {c.label for c in timed} and not check.chosen.estimated
    for (
        name,
        engine,
    ) in check.engines.items():  # an engine is an estimate only when none of its configurations was timed
        assert engine.estimated == all(c.estimated for c in check.configs if c.engine == name)
    assert Comparison.from_json(check.as_json()) == check


def test_an_engine_whose_outputs_disagree_is_never_chosen():
    def config(engine, label, ms, agrees):
        return {
            "engine": engine,
            "label": label,
            "settings": {},
            "threads": 1,
            "agrees": agrees,
            "max_abs_diff": 0.0 if agrees else 1.0,
            "max_rel_diff": 0.0,
            "stats": {"median_ms": ms, "p90_ms": ms},
        }

    results = [config("onnxruntime", REFERENCE, 2.0, True), config("tvm", "tvm-1t", 1.0, False)]
    summary = Comparison.of([ConfigResult.from_json(c) for c in results])
    assert summary.engine == "onnxruntime" and summary.chosen.agrees and summary.disagreeing == ["tvm"]
    assert Comparison.from_json(summary.as_json()) == summary  # what benchmark.json holds reads back the same


def _alone(engine: str, model: str, npz: str, threads: int | None) -> float:
    env = {"TVM_NUM_THREADS": str(threads)} if threads else {}
    spec = {"engine": engine, "model": model, "inputs": npz, "warmup_s": ALONE_WARMUP_S, "repeat": 100}
    proc = subprocess.run(
        [sys.executable, "-c", ALONE, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _inside(figure: float, band: list[float]) -> bool:
    return (1 - HONEST_TOLERANCE) * min(band) <= figure <= (1 + HONEST_TOLERANCE) * max(band)


def test_the_farm_figures_hold_for_each_engine_timed_alone_in_a_fresh_process(timed, model_files):
    """Within 10% of the band that up to six fresh processes timing the engine alone span, right after the farm's timing.

    A fresh process alone varies by itself (one 0.45 ms ONNX Runtime session read 0.39-0.53 ms from one process to the
    next; in one CI run three read 0.40-0.46 ms and the farm 0.36 ms), so the band of three is too narrow to hold a
    figure that is honest. Processes are added, the engines taking turns, until the farm's figure is inside the band or
    six have been timed. The machine drifts too (in another CI run the farm's TVM read 25.1 ms and six processes just
    after it 21.7-22.3 ms, where this machine reads 18.5 ms for both): when the band of six does not hold the farm's
    figure, the farm times again and a new band follows it. A bias of the farm's timing shows in every attempt; a
    passing slowness of the machine does not."""
    attempts = []
    for attempt in range(ATTEMPTS):
        if attempt:
            timed = _farm_timing(model_files)
        files = {  # TVM alone at the thread count of this timing's figure
            "onnxruntime": (model_files["onnx"], None),
            "tvm": (model_files["library"], timed["engines"]["tvm"]["threads"]),
        }
        farm = {"onnxruntime": timed["ort_latency_ms"], "tvm": timed["tvm_latency_ms"]}
        alone: dict[str, list[float]] = {"onnxruntime": [], "tvm": []}
        for n in range(ALONE_PROCESSES):
            for engine, (path, threads) in files.items():
                if n < 3 or not _inside(farm[engine], alone[engine]):
                    alone[engine].append(_alone(engine, str(path), str(model_files["npz"]), threads))
        attempts.append((farm, alone))
        if all(_inside(farm[engine], alone[engine]) for engine in alone):
            return
    pytest.fail(f"the farm's figures left the band of fresh processes in all {ATTEMPTS} attempts: {attempts}")

"""The timing worker process: its environment, failures as values, timeouts, death, and an ONNX Runtime worker without TVM."""

from __future__ import annotations

import os
import sys
import time

import pytest

from farm.engines import engine_named
from farm.engines.process import WorkerError, WorkerProcess
from farm.engines.worker import ready


def _loaded(module: str) -> bool:
    return module in sys.modules


@pytest.fixture
def worker():
    process = WorkerProcess({"FARM_TEST_VALUE": "42"})
    yield process
    process.kill()


def test_calls_run_in_a_fresh_process_with_the_environment_it_was_given(worker):
    worker.send(os.getenv, ("FARM_TEST_VALUE",))
    assert worker.recv() == "42"
    worker.send(os.getpid)
    assert worker.recv() == worker.pid != os.getpid()
    assert "FARM_TEST_VALUE" not in os.environ


def test_an_onnxruntime_worker_never_imports_tvm(worker):
    worker.send(ready, ("onnxruntime", engine_named("onnxruntime").runtime))
    worker.recv()
    worker.send(_loaded, ("onnxruntime",))
    assert worker.recv()
    worker.send(_loaded, ("tvm",))
    assert not worker.recv()


def test_a_failed_call_is_an_error_with_its_traceback_and_the_worker_goes_on(worker):
    worker.send(int, ("not a number",))
    with pytest.raises(WorkerError, match=r"(?s)Traceback.*ValueError: invalid literal"):
        worker.recv()
    worker.send(os.getenv, ("FARM_TEST_VALUE",))
    assert worker.recv() == "42"


def test_a_call_past_its_timeout_kills_the_worker(worker):
    worker.send(time.sleep, (60,), timeout=0.5)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        worker.recv()
    assert time.monotonic() - start < 5
    assert worker.process.wait(timeout=10) != 0


def test_a_worker_that_dies_is_a_child_process_error(worker):
    worker.send(os._exit, (3,))
    with pytest.raises(ChildProcessError, match="exit code 3"):
        worker.recv()
    with pytest.raises(ChildProcessError):
        worker.send(os.getpid)
        worker.recv()

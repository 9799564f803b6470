"""A driver SIGKILLed with an embedded Ray leaves Ray's agents behind; the next embedded start ends them, and only them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from cluster.connect import EMBEDDED_VAR, reap_orphans

pytestmark = pytest.mark.cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = "from cluster.connect import connect; connect(); print('up', flush=True); import time; time.sleep(600)"


def _marked_by(pid: int) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(EMBEDDED_VAR, "").startswith(f"{pid}:"):
                out.append(proc)
        except psutil.Error:
            continue
    return out


def test_the_agents_of_a_killed_embedded_driver_are_reaped_and_nothing_else():
    me = psutil.Process()
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    foreign = subprocess.Popen(sleep, env={k: v for k, v in os.environ.items() if k != EMBEDDED_VAR})
    owned_by_a_live_driver = subprocess.Popen(
        sleep, env={**os.environ, EMBEDDED_VAR: f"{me.pid}:{me.create_time():.3f}"}
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert driver.stdout.readline() == "up\n", driver.stderr.read()
        assert _marked_by(driver.pid), "the embedded Ray's processes carry their driver's mark"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        left = [p for p in _marked_by(driver.pid) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left, "Ray's agents outlive a SIGKILLed driver"
        reaped = reap_orphans()  # some of them (the raylet, the GCS) may still be exiting on their own meanwhile
        assert set(reaped) & {p.pid for p in left}, "the agents that outlive their driver are reaped"
        psutil.wait_procs(left, timeout=30)
        assert not [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert foreign.poll() is None and owned_by_a_live_driver.poll() is None, "nothing else is touched"
    finally:
        for proc in (foreign, owned_by_a_live_driver, driver):
            proc.kill()

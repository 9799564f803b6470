"""Device kinds: detection on this host, refusal of kinds a CPU cannot run, and code built for each kind running here."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import te

from cluster.devices import DeviceError, detect_kinds, host_cpu_flags, host_cpu_name, missing_extensions, resolve_kinds

# /proc/cpuinfo flags of an x86-64-v2 machine (Nehalem-class): no AVX at all.
V2_FLAGS = {
    "fpu",
    "cx8",
    "cmov",
    "mmx",
    "fxsr",
    "sse",
    "sse2",
    "pni",
    "ssse3",
    "sse4_1",
    "sse4_2",
    "popcnt",
    "cx16",
    "lahf_lm",
}


def test_detection_offers_the_levels_this_cpu_covers_and_its_own_name():
    kinds = {k.name: k for k in detect_kinds(num_cores=2)}
    assert "x86-64" in kinds
    flags = host_cpu_flags()
    if "avx2" in flags and "fma" in flags and "bmi2" in flags:
        assert "x86-64-v3" in kinds
    own = host_cpu_name()
    assert (own in kinds) == (not missing_extensions(own, flags))
    for kind in kinds.values():
        assert kind.target["mtriple"] == "x86_64-linux-gnu" and kind.target["num-cores"] == 2
        assert kind.target_key.startswith("llvm-")


def test_an_older_cpu_is_offered_only_its_levels():
    names = [k.name for k in detect_kinds(num_cores=4, flags=V2_FLAGS)]
    assert names[:2] == ["x86-64", "x86-64-v2"]
    assert "x86-64-v3" not in names and "x86-64-v4" not in names


def test_a_kind_the_cpu_cannot_run_is_refused_with_the_missing_extensions():
    with pytest.raises(DeviceError, match=r"x86-64-v3.*lacks: .*avx2"):
        resolve_kinds(["x86-64-v3"], flags=V2_FLAGS)
    with pytest.raises(DeviceError, match="not a CPU LLVM knows"):
        resolve_kinds(["pentium99"])
    with pytest.raises(DeviceError, match="no such GPU"):
        resolve_kinds(["cuda-sm90"])


def test_the_same_kind_has_the_same_target_key_on_every_node():
    a = resolve_kinds(["x86-64"], num_cores=2, flags=V2_FLAGS)[0]
    b = resolve_kinds(["x86-64"], num_cores=2)[0]
    assert a.target_key == b.target_key
    assert a.target_key != resolve_kinds(["x86-64"], num_cores=8)[0].target_key


@pytest.mark.parametrize("kind", [k for k in detect_kinds(num_cores=1) if k.platform == "cpu"], ids=lambda k: k.name)
def test_code_built_for_every_detected_kind_runs_here(kind):
    n = 1024
    a = te.placeholder((n,), name="A")
    b = te.compute((n,), lambda i: a[i] * 2.0 + 1.0, name="B")
    lib = tvm.compile(tvm.IRModule({"main": te.create_prim_func([a, b])}), target=tvm.target.Target(kind.target))
    x = np.random.rand(n).astype("float32")
    y = tvm.runtime.tensor(np.zeros(n, "float32"))
    lib["main"](tvm.runtime.tensor(x), y)
    np.testing.assert_allclose(y.numpy(), x * 2 + 1, rtol=1e-6)

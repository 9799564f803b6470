"""What a node holds: device kinds, each with the canonical TVM target a tuning session uses for it.

A **device kind** is the name a tuning session targets:
- an x86-64 ISA level (`x86-64`, `x86-64-v2`, `x86-64-v3`, `x86-64-v4`), so a newer
  machine can measure for older ones;
- the host's own LLVM CPU name (`znver4`, `cascadelake`, …), the fastest code for
  exactly this processor;
- a CUDA GPU that TVM can drive, by compute capability (`cuda-sm80`).

A CPU kind is offered only when every ISA extension its LLVM CPU model implies is
present in the host's `/proc/cpuinfo` flags: a virtual machine may mask extensions its
model name promises, and code built for a missing one dies with SIGILL.

Every CPU kind's target spells `mcpu` and `mtriple` out (never the build's default
triple, which varies between TVM builds, e.g. `x86_64-conda-linux-gnu`), so the same
kind gives the same target key on every node of the farm.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import psutil

from tuning_db.keys import canonical_target, target_key

X86_LEVELS = ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4")
CANONICAL_TRIPLE = "x86_64-linux-gnu"

# LLVM feature name -> /proc/cpuinfo flag, for the ISA extensions that change what code may run.
# LLVM's other "features" (tuning hints such as macrofusion or slow-3ops-lea) are not checked.
ISA_FLAGS = {
    "sse3": "pni",
    "ssse3": "ssse3",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
    "popcnt": "popcnt",
    "cx16": "cx16",
    "sahf": "lahf_lm",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "bmi": "bmi1",
    "bmi2": "bmi2",
    "lzcnt": "abm",
    "movbe": "movbe",
    "aes": "aes",
    "pclmul": "pclmulqdq",
    "sha": "sha_ni",
    "adx": "adx",
    "gfni": "gfni",
    "vaes": "vaes",
    "vpclmulqdq": "vpclmulqdq",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512cd": "avx512cd",
    "avx512dq": "avx512dq",
    "avx512vl": "avx512vl",
    "avx512ifma": "avx512ifma",
    "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2",
    "avx512vnni": "avx512_vnni",
    "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq",
    "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16",
    "amx-tile": "amx_tile",
    "amx-int8": "amx_int8",
    "amx-bf16": "amx_bf16",
}


class DeviceError(ValueError):
    """A device kind this node cannot serve, or one that does not exist."""


DEVICE_TYPES = {
    "cpu": "cpu",
    "gpu": "cuda",
}  # a kind's platform -> the TVM device type its measurements and benchmarks run on


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device and the canonical TVM target of sessions that tune for it."""

    name: str
    platform: str
    target: dict

    @property
    def target_json(self) -> str:
        return canonical_target(self.target)

    @property
    def target_key(self) -> str:
        return target_key(self.target_json)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "platform": self.platform,
            "target": json.loads(self.target_json),
            "target_key": self.target_key,
        }


def host_cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU flags the kernel reports for this machine."""
    with open(cpuinfo) as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def host_cpu_name() -> str:
    """LLVM's name for this machine's processor (e.g. `znver4`), or `generic`."""
    from tvm.target import codegen

    return str(codegen.llvm_get_system_cpu())


def cpu_kind(mcpu: str, num_cores: int) -> DeviceKind:
    """The device kind of an LLVM CPU name, with its canonical target."""
    from tvm.target import codegen

    from tuning_db.metaschedule import exported_target

    if not codegen.llvm_is_valid_cpu(mcpu, CANONICAL_TRIPLE):
        raise DeviceError(
            f"{mcpu!r} is not a CPU LLVM knows (try one of {', '.join(X86_LEVELS)} or this host's {host_cpu_name()!r})"
        )
    target = {"kind": "llvm", "mcpu": mcpu, "mtriple": CANONICAL_TRIPLE, "num-cores": num_cores}
    return DeviceKind(mcpu, "cpu", exported_target(target))


def _isa_features(mcpu: str) -> list[str]:
    import tvm
    from tvm.target import codegen

    needs = codegen.llvm_get_cpu_features(
        tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "mtriple": CANONICAL_TRIPLE})
    )
    return sorted(f for f in needs if f in ISA_FLAGS)


def missing_extensions(mcpu: str, flags: set[str]) -> list[str]:
    """ISA extensions code for `mcpu` may use that a CPU with these flags lacks."""
    return [f for f in _isa_features(mcpu) if ISA_FLAGS[f] not in flags]


def required_cpu_flags(mcpu: str) -> list[str]:
    """The `/proc/cpuinfo` flags a CPU needs to run code built for `mcpu` (what a runtime checks before loading it)."""
    return sorted({ISA_FLAGS[f] for f in _isa_features(mcpu)})


def default_num_cores() -> int:
    """Threads a measurement uses: the node's physical cores."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def gpu_kind(sm: str) -> DeviceKind:
    """The device kind of a CUDA GPU of compute capability `sm` (e.g. `80`), with its canonical target."""
    from tuning_db.metaschedule import exported_target

    host = {"kind": "llvm", "mtriple": CANONICAL_TRIPLE}
    return DeviceKind(f"cuda-sm{sm}", "gpu", exported_target({"kind": "cuda", "arch": f"sm_{sm}", "host": host}))


def gpu_kinds() -> list[DeviceKind]:
    """CUDA devices TVM can drive on this node, one kind per compute capability."""
    import tvm

    kinds = {}
    index = 0
    while tvm.cuda(index).exist:
        kind = gpu_kind(tvm.cuda(index).compute_version.replace(".", ""))
        kinds[kind.name] = kind
        index += 1
    return list(kinds.values())


def kind_named(name: str, num_cores: int) -> DeviceKind:
    """A kind from its name alone (`x86-64-v3`, `znver4`, `cuda-sm80`), whatever node it is on."""
    match = re.fullmatch(r"cuda-sm(\d+)", name)
    if match:
        return gpu_kind(match.group(1))
    return cpu_kind(name, num_cores)


def detect_kinds(num_cores: int | None = None, flags: set[str] | None = None) -> list[DeviceKind]:
    """Every CPU kind this node can serve: the ISA levels its CPU covers, and its own CPU.

    GPU kinds are left out: they are implemented (their own TVM device and ONNX Runtime
    provider everywhere) but untested, since no machine at hand has a GPU the farm could
    run on; a node serves them only when named (`--device cuda-sm80`, `resolve_kinds`).
    """
    cores = num_cores or default_num_cores()
    flags = host_cpu_flags() if flags is None else flags
    names = [level for level in X86_LEVELS if not missing_extensions(level, flags)]
    own = host_cpu_name()
    if own not in ("generic", *names) and not missing_extensions(own, flags):
        names.append(own)
    return [cpu_kind(n, cores) for n in names]


def node_kinds(names: list[str] | None, num_cores: int) -> list[DeviceKind]:
    """The kinds a node serves: those named (each checked against this CPU), else every kind detected here."""
    return resolve_kinds(names, num_cores) if names else detect_kinds(num_cores)


def resolve_kinds(
    requested: list[str], num_cores: int | None = None, flags: set[str] | None = None
) -> list[DeviceKind]:
    """The kinds a node should serve when the user names them (`--device`): each must run on this CPU."""
    cores = num_cores or default_num_cores()
    flags = host_cpu_flags() if flags is None else flags
    gpus = {k.name: k for k in gpu_kinds()}
    out = []
    for name in requested:
        if name in gpus:
            out.append(gpus[name])
            continue
        if name.startswith("cuda-"):
            raise DeviceError(f"device kind {name!r}: this node has no such GPU (found: {', '.join(gpus) or 'none'})")
        kind = cpu_kind(name, cores)
        lacking = missing_extensions(name, flags)
        if lacking:
            raise DeviceError(f"device kind {name!r} needs CPU extensions this node lacks: {', '.join(lacking)}")
        out.append(kind)
    return out

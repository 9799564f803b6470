"""Portable keys: canonical target JSON, target keys, record ids and workload buckets.

Nothing here depends on a TVM build, so keys computed on one machine match those
computed on any other:

- A target is stored as canonical JSON: the dict `tvm.target.Target.export()` gives,
  with tuples turned into lists, an empty `tag` dropped, keys sorted.
- A **target key** names the target's partition: readable (`llvm-znver4-c2`) plus
  8 hex digits of the canonical JSON's SHA-256, so two targets that differ in any
  attribute never share a partition.
- A **record id** is content-derived (SHA-256 over workload key, target, trace, run
  times and argument info), so importing the same log twice, or a resumed job
  committing the same measurement again, produces no duplicate.
- A workload's **bucket** is the last hex digit of its key: 16 buckets per target.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

N_BUCKETS = 16


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def canonical_target(target: dict | str) -> str:
    """Canonical JSON of a target given as the dict `Target.export()` returns (or its JSON text)."""
    d = json.loads(target) if isinstance(target, str) else _plain(target)
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(f"a target must be a JSON object with a 'kind', got {target!r}")
    if d.get("tag") == "":
        del d["tag"]
    if isinstance(d.get("host"), dict):
        d["host"] = json.loads(canonical_target(d["host"]))
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "_", text.lower()).strip("_") or "x"


def target_key(target: dict | str) -> str:
    """The partition key of a target, e.g. `llvm-znver4-c2-1a2b3c4d`."""
    canon = canonical_target(target)
    d = json.loads(canon)
    parts = [_slug(d["kind"])]
    arch = d.get("mcpu") or d.get("arch") or d.get("model")
    parts.append(_slug(str(arch)) if arch else "generic")
    if "num-cores" in d:
        parts.append(f"c{d['num-cores']}")
    parts.append(hashlib.sha256(canon.encode()).hexdigest()[:8])
    return "-".join(parts)


def record_id(
    workload_key: str,
    target_json: str,
    trace_json: str,
    run_secs: Iterable[float] | None,
    args_info_json: str,
) -> str:
    """Content-derived id of one measured candidate (32 hex digits)."""
    h = hashlib.sha256()
    secs = "null" if run_secs is None else ",".join(repr(float(s)) for s in run_secs)
    for part in (workload_key, target_json, trace_json, secs, args_info_json):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def bucket_of(workload_key: str) -> int:
    """The bucket (0..15) a workload's records are partitioned into."""
    return int(workload_key[-1], 16) % N_BUCKETS

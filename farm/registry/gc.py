"""Garbage collection of the artifact store: the stored files no model, variant or package refers to any more.

Deleting a model removes its records but leaves its artifacts, since a key may be shared
(`farm.registry.artifacts`); this finds the artifacts no variant or package refers to,
and the leftovers of writes a crash cut short. An upload stores its file a moment before
its record exists, so only files older than `min_age` (an hour by default) are taken:
a file stored since then may be about to be referred to (a local store refreshes the time
of bytes stored again; S3 does not, so there run it while no upload is in flight). A dry run (the default of
`farm admin gc`) only reports. The store must belong to this registry alone: one shared
by another registry holds artifacts this one does not know of.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from farm.registry.database import Registry
from farm.registry.schema import Model, Package, Variant

MIN_AGE = timedelta(hours=1)


def collect(registry: Registry, delete: bool = False, min_age: timedelta = MIN_AGE) -> dict:
    """Find (and with `delete`, remove) the unreferenced artifacts and leftovers older than `min_age`; a report."""
    cutoff = time.time() - min_age.total_seconds()
    listing = list(
        registry.artifacts.listing()
    )  # listed before the references are read: a record made meanwhile counts
    with registry.session() as s:
        referenced = (
            set(s.scalars(select(Variant.artifact_key)))
            | set(s.scalars(select(Package.artifact_key)))
            | set(s.scalars(select(Model.sample_inputs_key).where(Model.sample_inputs_key.is_not(None))))
        )
    garbage = [f for f in listing if f.key not in referenced and f.modified < cutoff]
    young = sum(1 for f in listing if f.key not in referenced and f.modified >= cutoff)
    if delete:
        for stored in garbage:
            registry.artifacts.remove(stored)
    return {
        "deleted": delete,
        "artifacts": sum(1 for f in listing if f.key is not None),
        "referenced": len(referenced),
        "garbage": [{"key": f.key, "path": f.path if f.key is None else None, "bytes": f.size} for f in garbage],
        "garbage_bytes": sum(f.size for f in garbage),
        "kept_younger_than_min_age": young,
    }

"""Saved cost models: what a tuning session learned about a target, kept beside its records for the next session.

A saved model is an opaque blob (MetaSchedule's XGBoost model: booster plus the feature
vectors it was trained on) and a JSON description written after it:

    cost_models/target_key=<key>/<utc time>-<id>.model   the blob
    cost_models/target_key=<key>/<utc time>-<id>.json    {"record_ids": [...], "tvm_version", "extractor", ...}

Nothing is overwritten: every save adds a pair, a description appears only once its
blob is complete, and the newest description whose TVM version and feature extractor
match is the one loaded. Concurrent sessions of one target may each save; the newest
wins, and the next session adds whatever records its model lacks from the database
itself (the description lists the record ids the model was trained on). Older pairs
beyond `keep` are deleted by the next save.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from .database import TuningDatabase
from .storage import StorageError

COST_MODEL_DIR = "cost_models"

__all__ = ["COST_MODEL_DIR", "CostModelStore", "SavedCostModel"]


@dataclass
class SavedCostModel:
    """One saved model: its blob, its description, and where it lies."""

    path: str
    blob: bytes
    meta: dict

    @property
    def record_ids(self) -> set[str]:
        return set(self.meta.get("record_ids", ()))


class CostModelStore:
    """The saved cost models of a tuning database, by target key."""

    def __init__(self, db: TuningDatabase | str, keep: int = 3) -> None:
        self.db = db if isinstance(db, TuningDatabase) else TuningDatabase(db)
        self.storage = self.db.storage
        self.keep = keep

    @staticmethod
    def _folder(target_key: str) -> str:
        return f"{COST_MODEL_DIR}/target_key={target_key}"

    def save(self, target_key: str, blob: bytes, meta: dict) -> str:
        """Store a model of `target_key`; returns the path of its blob."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        base = f"{self._folder(target_key)}/{stamp}-{uuid.uuid4().hex[:12]}"
        self.storage.put(base + ".model", blob)
        self.storage.put(base + ".json", json.dumps({**meta, "target_key": target_key, "saved_at": stamp}).encode())
        self._prune(target_key)
        return base + ".model"

    def _descriptions(self, target_key: str) -> list[str]:
        return sorted(o.path for o in self.storage.list(self._folder(target_key) + "/") if o.path.endswith(".json"))

    def saved(self, target_key: str) -> list[dict]:
        """The descriptions of the models kept for `target_key`, oldest first (without their record ids)."""
        out = []
        for path in self._descriptions(target_key):
            try:
                meta = json.loads(self.storage.read(path))
            except (OSError, StorageError, ValueError):
                continue  # pruned by a concurrent save
            out.append(
                {k: v for k, v in meta.items() if k != "record_ids"} | {"records": len(meta.get("record_ids", ()))}
            )
        return out

    def latest(self, target_key: str, **match: str) -> SavedCostModel | None:
        """The newest model of `target_key` whose description has the given values (e.g. `tvm_version=…`), or None."""
        for path in reversed(self._descriptions(target_key)):
            try:
                meta = json.loads(self.storage.read(path))
                if any(meta.get(k) != v for k, v in match.items()):
                    continue
                blob_path = path[: -len(".json")] + ".model"
                return SavedCostModel(blob_path, self.storage.read(blob_path), meta)
            except (OSError, StorageError, ValueError):
                continue  # pruned by a concurrent save, or unreadable: an older one will do
        return None

    def _prune(self, target_key: str) -> None:
        for path in self._descriptions(target_key)[: -self.keep]:
            for p in (path, path[: -len(".json")] + ".model"):
                try:
                    self.storage.delete(p)
                except (OSError, StorageError):
                    pass

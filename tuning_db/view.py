"""One target's records, indexed in memory for the tuner's queries.

A view is built from the Arrow table of a target's partition: records are
de-duplicated by id (first committed copy wins), then sorted once by workload, mean
run time and commit order. Each workload's rows are then one contiguous slice whose
valid (measured) rows come first, best first, so `top_k` is a dictionary look-up and
a slice. Records added by this process after opening (`add`) are kept beside the
table and merged into answers.
"""

from __future__ import annotations

import heapq
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import RecordRow, table_to_records


def dedupe_first(table: pa.Table, key: str) -> pa.Table:
    """Keep the first row of each `key` value, in table order."""
    if table.num_rows == 0 or pc.count_distinct(table[key]).as_py() == table.num_rows:
        return table
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    firsts = pa.table({"k": table[key], "i": order}).group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    return table.take(pc.take(firsts, pc.sort_indices(firsts)))


class TargetView:
    """All records of one target, de-duplicated and indexed by workload."""

    def __init__(self, target_key: str, table: pa.Table) -> None:
        self.target_key = target_key
        table = dedupe_first(table, "record_id")
        table = table.append_column("_ord", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        self._table = table.sort_by([("workload_key", "ascending"), ("mean_secs", "ascending"), ("_ord", "ascending")])
        self._slices: dict[str, tuple[int, int, int]] = {}
        wk = self._table["workload_key"].to_numpy(zero_copy_only=False)
        valid = self._table["mean_secs"].is_valid().to_numpy(zero_copy_only=False)
        if len(wk):
            starts = np.concatenate(([0], np.flatnonzero(wk[1:] != wk[:-1]) + 1))
            ends = np.concatenate((starts[1:], [len(wk)]))
            n_valid = np.add.reduceat(valid.astype(np.int64), starts)
            for s, e, v in zip(starts.tolist(), ends.tolist(), n_valid.tolist()):
                self._slices[wk[s]] = (s, e, v)
        self._ids: set[str] | None = None
        self._added: dict[str, list[RecordRow]] = {}
        self._n_added = 0

    def __len__(self) -> int:
        return self._table.num_rows + self._n_added

    def workload_keys(self) -> list[str]:
        return sorted(set(self._slices) | set(self._added))

    def count(self, workload_key: str) -> int:
        """Records of a workload (measured or not)."""
        s, e, _ = self._slices.get(workload_key, (0, 0, 0))
        return e - s + len(self._added.get(workload_key, ()))

    def _rows(self, start: int, length: int) -> list[RecordRow]:
        return table_to_records(self._table.slice(start, length), self.target_key)

    def top_k(self, workload_key: str, k: int) -> list[RecordRow]:
        """The k best measured records of a workload, best first; records without run times are never returned."""
        if k <= 0:
            return []
        s, _, v = self._slices.get(workload_key, (0, 0, 0))
        stored = self._rows(s, min(k, v)) if v else []
        added = [r for r in self._added.get(workload_key, ()) if r.mean_secs is not None]
        if not added:
            return stored
        return heapq.nsmallest(k, stored + added, key=lambda r: r.mean_secs)

    def records(self, workload_key: str | None = None) -> Iterator[RecordRow]:
        """All records, or those of one workload; stored ones first, grouped by workload."""
        if workload_key is None:
            batch = 4096
            for start in range(0, self._table.num_rows, batch):
                yield from self._rows(start, batch)
            for rows in self._added.values():
                yield from rows
            return
        s, e, _ = self._slices.get(workload_key, (0, 0, 0))
        yield from self._rows(s, e - s)
        yield from self._added.get(workload_key, ())

    def contains(self, record_id: str) -> bool:
        if self._ids is None:
            self._ids = set(self._table["record_id"].to_pylist())
        return record_id in self._ids

    def add(self, row: RecordRow) -> bool:
        """Index a record committed after the view was opened; False if its id is already known."""
        if row.target_key != self.target_key:
            raise ValueError(f"record of target {row.target_key!r} added to the view of {self.target_key!r}")
        if self.contains(row.record_id):
            return False
        self._ids.add(row.record_id)
        self._added.setdefault(row.workload_key, []).append(row)
        self._n_added += 1
        return True

"""One target's records, indexed in memory for the tuner's queries.

A view is built from the Arrow table of a target's partition: records are
de-duplicated by id (first committed copy wins), then indexed once by workload, mean
run time and commit order. Each workload's rows are then one contiguous run of the
index whose valid (measured) rows come first, best first, so `top_k` is a dictionary
look-up and a `take` of k rows. Records added by this process after opening (`add`)
are kept beside the table and merged into answers.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import FAILED_SECS, RecordRow, table_to_records


def first_occurrences(table: pa.Table, key: str) -> np.ndarray | None:
    """Row numbers of the first row of each `key` value, ascending; None when every value is unique."""
    if table.num_rows == 0 or pc.count_distinct(table[key]).as_py() == table.num_rows:
        return None
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    firsts = pa.table({"k": table[key], "i": order}).group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    return np.sort(firsts.to_numpy())


def dedupe_first(table: pa.Table, key: str) -> pa.Table:
    """Keep the first row of each `key` value, in table order."""
    firsts = first_occurrences(table, key)
    return table if firsts is None else table.take(firsts)


class TargetView:
    """All records of one target, de-duplicated and indexed by workload.

    The table itself is never reordered (that would copy every trace); a permutation
    of its row numbers, sorted by workload, mean time and commit order, is the index.
    """

    def __init__(self, target_key: str, table: pa.Table) -> None:
        self.target_key = target_key
        self._table = table
        self._batches = table.to_batches()
        self._batch_starts = np.cumsum([0] + [b.num_rows for b in self._batches])[:-1]
        rows = first_occurrences(table, "record_id")
        if rows is None:
            rows = np.arange(table.num_rows, dtype=np.int64)
        index = table.select(["workload_key", "mean_secs"]).take(rows).append_column("_row", pa.array(rows))
        index = index.sort_by([("workload_key", "ascending"), ("mean_secs", "ascending"), ("_row", "ascending")])
        self._order = index["_row"].to_numpy()
        self._slices: dict[str, tuple[int, int, int]] = {}
        wk = index["workload_key"].to_numpy(zero_copy_only=False)
        # measured and not failed (rows stored before `mean_secs` left out MetaSchedule's failure value): after the sort,
        # still the first rows of each workload
        valid = pc.fill_null(pc.less(index["mean_secs"], FAILED_SECS), False).to_numpy(zero_copy_only=False)
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
        return len(self._order) + self._n_added

    def records_per_day(self) -> dict[str, int]:
        """Records committed per UTC day (ISO dates, in order), each record once."""
        days = pc.cast(self._table["created_at"].take(pa.array(self._order)), pa.date32())
        values, ns = pc.value_counts(days).flatten()
        counts = {d.isoformat(): n for d, n in zip(values.to_pylist(), ns.to_pylist()) if d is not None}
        for rows in self._added.values():
            for row in rows:
                day = row.created_at.date().isoformat()
                counts[day] = counts.get(day, 0) + 1
        return dict(sorted(counts.items()))

    def workload_keys(self) -> list[str]:
        return sorted(set(self._slices) | set(self._added))

    def count(self, workload_key: str) -> int:
        """Records of a workload (measured or not)."""
        s, e, _ = self._slices.get(workload_key, (0, 0, 0))
        return e - s + len(self._added.get(workload_key, ()))

    def _rows(self, start: int, length: int) -> list[RecordRow]:
        """Rows at positions [start, start + length) of the index.

        Rows are taken batch by batch: `take` on the whole many-chunked table would
        concatenate every chunk first, copying the partition on each query.
        """
        rows = self._order[start : start + length]
        in_batch = np.searchsorted(self._batch_starts, rows, side="right") - 1
        out: list[RecordRow | None] = [None] * len(rows)
        for b in np.unique(in_batch).tolist():
            where = np.flatnonzero(in_batch == b)
            part = self._batches[b].take(pa.array(rows[where] - self._batch_starts[b]))
            for i, record in zip(where.tolist(), table_to_records(part, self.target_key)):
                out[i] = record
        return out

    def top_k(self, workload_key: str, k: int) -> list[RecordRow]:
        """The k best measured records of a workload, best first; records without run times, or with only failed ones, never."""
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
            for start in range(0, len(self._order), batch):
                yield from self._rows(start, batch)
            for rows in self._added.values():
                yield from rows
            return
        s, e, _ = self._slices.get(workload_key, (0, 0, 0))
        yield from self._rows(s, e - s)
        yield from self._added.get(workload_key, ())

    def record_ids_of_job(self, job_id: str) -> set[str]:
        """Ids of the records one job committed."""
        stored = self._table.filter(pc.equal(self._table["job_id"], job_id))["record_id"].to_pylist()
        added = [r.record_id for rows in self._added.values() for r in rows if r.job_id == job_id]
        return set(stored) | set(added)

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

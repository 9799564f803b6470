"""A separate process that opens a database the way a second tuning session would, for the MetaSchedule tests.

    python -m tests.tuning_db.tune_worker URI TARGET_JSON N

Prints JSON: whether the workload of an N×N matmul is known and its best records, before any measurement.
"""

from __future__ import annotations

import json
import sys

from tests.tuning_db.workloads import matmul
from tuning_db.metaschedule import ParquetDatabase

if __name__ == "__main__":
    uri, target, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    db = ParquetDatabase(uri, target)
    mod = matmul(n)
    known = db.has_workload(mod)
    top = db.get_top_k(db.commit_workload(mod), 3)
    print(json.dumps({"known": known, "size": len(db), "top": [float(r.run_secs[0]) for r in top]}))
    db.close()

"""Ranked candidates of several kinds in one zip, laid out as Olive's Zipfile packaging.

`<name>.zip` holds `models_rank.json` (the `rank()` list, model paths inside the zip),
`CandidateModels/<kind>/BestCandidateModel_<k>/` for the k-th best candidate of each kind
(`model/` is a loadable variant folder: metadata.json and the library;
`tuning_history.json`: where the model came from and how it was tuned; `metrics.json`;
`inference_settings.json`), and `SampleCode/` (`run_model.py` runs a candidate with the
farm runtime). `top_k` keeps the best k candidates of each kind.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Sequence

from ..runtime.container import METADATA
from .ranking import Candidate, MetricPriority, inference_settings, order, rank
from .variant import PackagingError, read_variant, safe_name

RANK_FILE = "models_rank.json"

RUN_MODEL = '''"""Run a candidate of this package with the farm runtime on random inputs.

    python SampleCode/run_model.py [CANDIDATE_MODEL_FOLDER]

The folder is a candidate's `model/` (e.g. CandidateModels/x86-64/BestCandidateModel_1/model);
by default, the best-ranked candidate of models_rank.json that this host can run.
"""

import json
import os
import sys

import numpy as np

from farm.runtime import DeviceError, load_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(folder):
    if folder:
        return load_model(folder)
    with open(os.path.join(ROOT, "models_rank.json")) as f:
        ranking = json.load(f)
    for entry in ranking:
        try:
            return load_model(os.path.join(ROOT, os.path.dirname(entry["model_config"]["config"]["model_path"])))
        except DeviceError as e:
            print(f"rank {entry['rank']} ({entry['target']}) cannot run here: {e}", file=sys.stderr)
    sys.exit("no candidate of this package runs on this host")


def main() -> None:
    model = load(sys.argv[1] if len(sys.argv) > 1 else None)
    rng = np.random.default_rng(0)
    inputs = {t.name: rng.standard_normal(t.shape).astype(t.dtype) for t in model.inputs}
    print(json.dumps({"folder": str(model.folder), "outputs": {k: v.tolist() for k, v in model.run(inputs).items()}}))


if __name__ == "__main__":
    main()
'''

SAMPLE_README = """SampleCode/run_model.py runs a candidate with the farm runtime (pip install tuning-farm, or a model wheel's runtime).
python SampleCode/run_model.py [CandidateModels/<kind>/BestCandidateModel_<k>/model] prints the outputs for random inputs as JSON.
models_rank.json ranks every candidate; each candidate's inference_settings.json gives its device, target, threads and tensors.
"""


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def _candidate_files(c: Candidate, folder: str) -> dict[str, bytes | str]:
    """Member name → content (bytes) or file to copy (str) for one candidate's folder (its variant folder checked again)."""
    variant = read_variant(c.variant_dir)
    meta = variant.metadata
    source = meta.get("source", "")
    return {
        f"{folder}/model/{METADATA}": _json(variant.package_metadata),
        **{f"{folder}/model/{name}": os.path.join(variant.folder, name) for name in variant.model_files},
        f"{folder}/tuning_history.json": _json(
            {
                "source_model": {"name": os.path.basename(source), "sha256": meta.get("source_sha256", "")},
                "model": c.model,
                "kind": c.kind,
                "target_key": meta.get("target_key"),
                "tvm_version": meta.get("tvm_version"),
                "tuning": meta.get("tuning", {}),
            }
        ),
        f"{folder}/metrics.json": _json({"metrics": c.metrics, "benchmark": c.benchmark}),
        f"{folder}/inference_settings.json": _json(inference_settings(c)),
    }


def build_candidates_zip(
    candidates: Iterable[Candidate],
    out_dir: str,
    *,
    priorities: Sequence[MetricPriority] | None = None,
    name: str = "CandidateModels",
    top_k: int | None = None,
) -> str:
    """Rank the candidates, write `<name>.zip` into `out_dir` and return its path."""
    if top_k is not None and top_k < 1:
        raise PackagingError(f"top_k must be at least 1, got {top_k}")
    kept: list[Candidate] = []
    seen: dict[str, int] = {}
    for c in order(candidates, priorities):
        seen[c.kind] = seen.get(c.kind, 0) + 1
        if top_k is None or seen[c.kind] <= top_k:
            kept.append(c)
    if not kept:
        raise PackagingError("no candidates to package")
    ranking = rank(kept, priorities)
    members: dict[str, bytes | str] = {
        RANK_FILE: _json(ranking),
        "SampleCode/run_model.py": RUN_MODEL.encode(),
        "SampleCode/README.txt": SAMPLE_README.encode(),
    }
    for c, entry in zip(kept, ranking, strict=True):
        members.update(
            _candidate_files(c, os.path.dirname(os.path.dirname(entry["model_config"]["config"]["model_path"])))
        )
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.path.abspath(out_dir), f"{safe_name(name)}.zip")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(members):
            content = members[member]
            if isinstance(content, bytes):
                zf.writestr(member, content)
            else:
                zf.write(content, member)
    return path

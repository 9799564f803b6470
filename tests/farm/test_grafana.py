"""`farm metrics grafana-dashboard --ray-session`: the dashboard lands where a Ray head provisions Grafana's dashboards.

That its expressions name metrics a node really exports is tested against a live scrape in
`tests/cluster/test_farm.py`.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from farm.cli.main import app
from farm.grafana import FILE_NAME, dashboard


def test_the_dashboard_is_provisioned_into_a_ray_session_and_a_wrong_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_METRICS_GRAFANA_DASHBOARD_OUTPUT_DIR", raising=False)
    folder = tmp_path / "session_latest" / "metrics" / "grafana" / "dashboards"
    folder.mkdir(parents=True)
    result = CliRunner().invoke(
        app, ["metrics", "grafana-dashboard", "--ray-session", str(tmp_path / "session_latest")]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((folder / FILE_NAME).read_text()) == dashboard()
    assert [p.name for p in folder.iterdir()] == [FILE_NAME]  # no temporary file left
    wrong = CliRunner().invoke(app, ["metrics", "grafana-dashboard", "--ray-session", str(tmp_path)])
    assert wrong.exit_code == 1 and "does not exist" in wrong.output

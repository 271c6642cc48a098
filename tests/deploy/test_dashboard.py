"""deploy/grafana/dashboards/consciousness.json: a well-formed dashboard on the provisioned
Prometheus, whose every query promtool parses and selects metrics and labels that a real
server's /metrics holds, and whose panels for an alert draw that alert's threshold."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.exported import Exported
from tests.deploy.promql import selectors
from tests.deploy.test_alerts import RULES

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "consciousness.json"
GRID_COLUMNS = 24
THRESHOLD = re.compile(r">=? ([0-9.]+)")  # an alert's first comparison is its threshold


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def _prometheus_uids() -> set[str]:
    path = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
    sources = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return {source["uid"] for source in sources if source["type"] == "prometheus"}


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], target) for p in _dashboard()["panels"] for target in p["targets"]]


def test_the_dashboard_is_well_formed_on_the_provisioned_prometheus() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"]
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    uids = _prometheus_uids()
    for panel in panels:
        grid = panel["gridPos"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        assert min(grid["x"], grid["y"]) >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        covered = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], panel["title"]
        references = [target["refId"] for target in panel["targets"]]
        assert len(set(references)) == len(references), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_promtool_parses_every_query(promtool: str, tmp_path: Path) -> None:
    """Each query as a recording rule: `promtool check rules` parses it with Prometheus's parser."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": target["expr"]}
        for index, (_, target) in enumerate(_targets())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_every_query_selects_what_the_server_exports(exported: Exported) -> None:
    problems = [
        f"{title}: {problem}"
        for title, target in _targets()
        for selector in selectors(target["expr"])
        for problem in exported.problems(selector)
    ]
    assert problems == []


def test_each_alert_has_a_panel_drawing_its_threshold() -> None:
    """A panel whose description names an alert draws the alert's threshold as its red line."""
    alerts = {
        rule["alert"]: rule["expr"]
        for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }
    drawn = {}
    for panel in _dashboard()["panels"]:
        named = [alert for alert in alerts if alert in panel.get("description", "")]
        for alert in named:
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            drawn[alert] = [step["value"] for step in steps if step["color"] == "red"]
    assert set(drawn) == set(alerts), f"no panel for {set(alerts) - set(drawn)}"
    for alert, expr in alerts.items():
        first = THRESHOLD.search(expr)
        assert first is not None, expr
        assert drawn[alert] == [float(first.group(1))], alert

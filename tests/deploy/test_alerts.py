"""deploy/prometheus/alerts.yml: promtool checks it and runs its unit tests
(tests/deploy/alerts_test.yml); each alert is tested firing and not firing, and the tests fail
when an expression is changed in the ways it could plausibly be wrong; every metric and label
the rules and the tests' series name is in a real server's /metrics."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.exported import Exported
from tests.deploy.promql import Selector, selectors

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = Path(__file__).with_name("alerts_test.yml")
ALERTS = {
    "GraphQLErrorRatioHigh",
    "GraphQLLatencyP99High",
    "AnalyticsSpoolGrowing",
    "BrokerReconnecting",
    "WebsocketsNearFdLimit",
}
NEVER = "vector(0) > 1"  # an expression that never fires
# (alert, text of its expression, what a plausible mistake makes of it): the tests must fail.
MISTAKES = [
    ("GraphQLErrorRatioHigh", 'outcome=~"INTERNAL|ERROR"', 'outcome!="ok"'),  # client errors
    ("GraphQLErrorRatioHigh", ">= 50", ">= 0"),  # no floor: a quiet deployment's one error
    ("GraphQLErrorRatioHigh", "> 0.05", "> 0.5"),
    ("GraphQLLatencyP99High", '{type!="subscription"}', ""),
    ("GraphQLLatencyP99High", "0.99", "0.999"),
    ("GraphQLLatencyP99High", "> 1", "> 5"),
    ("AnalyticsSpoolGrowing", "and deriv(analytics_writer_pending_rows[10m]) > 0", ""),
    ("AnalyticsSpoolGrowing", "> 1000", "> 0"),
    ("BrokerReconnecting", "increase(broker_reconnects_total[15m])", "broker_reconnects_total"),
    ("BrokerReconnecting", "> 2", "> 0"),
    ("WebsocketsNearFdLimit", "> 0.8", ">= 0.8"),
    ("WebsocketsNearFdLimit", "process_open_fds / process_max_fds", "process_max_fds"),
]


def _rules(path: Path = RULES) -> dict[str, Any]:
    rules: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return rules


def _alerts(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}


def _promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [promtool, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _test_with(promtool: str, rules: dict[str, Any], workdir: Path) -> str:
    """Run alerts_test.yml on `rules` instead of deploy's; promtool's output, asserting
    that the rules loaded and the tests ran (a failure is a failed expectation)."""
    (workdir / "alerts.yml").write_text(yaml.safe_dump(rules, sort_keys=False), "utf-8")
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    tests["rule_files"] = [str(workdir / "alerts.yml")]
    (workdir / "alerts_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False), "utf-8")
    done = _promtool(promtool, "test", "rules", workdir / "alerts_test.yml")
    output = done.stdout + done.stderr
    assert "FAILED:" in output or done.returncode == 0, output  # not a load error
    return output if done.returncode != 0 else ""


def test_promtool_checks_the_rules_and_the_config_that_loads_them(promtool: str) -> None:
    checked = _promtool(promtool, "check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout
    config = _promtool(promtool, "check", "config", PROMETHEUS / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text("utf-8"))["rule_files"] == [
        "alerts.yml"
    ]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    done = _promtool(promtool, "test", "rules", RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_each_alert_is_tested_firing_and_not_firing() -> None:
    assert set(_alerts(_rules())) == ALERTS
    cases = [
        (case["alertname"], bool(case["exp_alerts"]))
        for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in test["alert_rule_test"]
    ]
    for alert in ALERTS:
        assert (alert, True) in cases, f"{alert} is never tested firing"
        assert (alert, False) in cases, f"{alert} is never tested not firing"


def test_an_alert_that_never_fires_fails_its_tests(promtool: str, tmp_path: Path) -> None:
    for alert in sorted(ALERTS):
        rules = _rules()
        _alerts(rules)[alert]["expr"] = NEVER
        output = _test_with(promtool, rules, tmp_path)
        assert f"alertname: {alert}," in output, f"nothing tests that {alert} fires"


@pytest.mark.parametrize(("alert", "right", "wrong"), MISTAKES)
def test_a_wrong_expression_fails_the_tests(
    promtool: str, tmp_path: Path, alert: str, right: str, wrong: str
) -> None:
    rules = _rules()
    rule = _alerts(rules)[alert]
    assert right in rule["expr"]
    rule["expr"] = rule["expr"].replace(right, wrong)
    output = _test_with(promtool, rules, tmp_path)
    assert f"alertname: {alert}," in output, f"the tests pass with {rule['expr']!r}"


def _annotation_queries(rule: dict[str, Any]) -> list[Selector]:
    """The series an annotation's template queries (`printf "name{...}" ... | query`)."""
    texts = " ".join(rule.get("annotations", {}).values())
    return [Selector(name, ()) for name in re.findall(r'printf "([A-Za-z_:][\w:]*)', texts)]


async def test_the_rules_and_their_tests_name_what_the_server_exports(exported: Exported) -> None:
    problems = []
    for name, rule in _alerts(_rules()).items():
        for selector in selectors(rule["expr"]) + _annotation_queries(rule):
            problems += [f"{name}: {problem}" for problem in exported.problems(selector)]
    for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]:
        for series in test["input_series"]:
            (selector,) = selectors(series["series"])
            problems += [f"alerts_test.yml: {p}" for p in exported.problems(selector, series=True)]
    assert problems == []

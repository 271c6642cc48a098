"""deploy/chart renders with its values (and with the options turned the other way), and
its manifests have the fields Kubernetes requires and the settings the server reads."""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings
from server.cli import build_parser
from tests.conftest import unavailable
from tests.deploy.chart import RenderError, chart_values, render_chart

SETTINGS = {name.upper() for name in Settings.model_fields}
KINDS = {
    "ConfigMap", "Secret", "Deployment", "Service", "Job", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "NetworkPolicy",
}  # fmt: skip
SECRETS = {"JWT_SECRETS": "s" * 48, "DATABASE_URL": "postgresql://app@db:5432/app"}


def _render(**overrides: Any) -> dict[str, dict[str, Any]]:
    """The rendered manifests by kind (the chart renders one of each)."""
    try:
        manifests = render_chart(overrides)
    except ImportError:
        unavailable("py-go-template (linux x86_64 wheels only) is not installed")
    by_kind = {manifest["kind"]: manifest for manifest in manifests}
    assert len(by_kind) == len(manifests), [m["kind"] for m in manifests]
    return by_kind


@pytest.fixture(scope="module")
def chart() -> dict[str, dict[str, Any]]:
    return _render(secrets=SECRETS)


def test_the_chart_renders_every_kind_with_its_required_fields(
    chart: dict[str, dict[str, Any]],
) -> None:
    assert set(chart) == KINDS
    for manifest in chart.values():
        assert manifest["apiVersion"]
        assert manifest["metadata"]["name"] == "test-consciousness-api" + (
            "-migrate" if manifest["kind"] == "Job" else ""
        )
        assert manifest["metadata"]["labels"]["app.kubernetes.io/instance"] == "test"


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_pods_probe_ready_and_health_and_run_real_commands(
    chart: dict[str, dict[str, Any]],
) -> None:
    api = _container(chart["Deployment"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert build_parser().parse_args(api["args"]).command == "serve"
    migrate = _container(chart["Job"])
    assert migrate["args"] == ["migrate"]
    assert chart["Job"]["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for manifest in (chart["Deployment"], chart["Job"]):
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert _container(manifest)["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_stopping_pod_gets_longer_than_the_shutdown_grace(
    chart: dict[str, dict[str, Any]],
) -> None:
    pod = chart["Deployment"]["spec"]["template"]["spec"]
    grace = int(chart["ConfigMap"]["data"]["SHUTDOWN_GRACE_SECONDS"])
    pause = int(_container(chart["Deployment"])["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > grace + pause


def test_every_environment_variable_is_a_setting(chart: dict[str, dict[str, Any]]) -> None:
    assert set(chart["ConfigMap"]["data"]) <= SETTINGS
    assert set(chart["Secret"]["stringData"]) == set(SECRETS)  # empty values left out
    values = chart_values()
    assert set(values["config"]) | set(values["secrets"]) <= SETTINGS


def test_selectors_and_references_agree(chart: dict[str, dict[str, Any]]) -> None:
    deployment = chart["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert chart["Service"]["spec"]["selector"] == selector
    assert chart["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert chart["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"] == selector
    assert (
        chart["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == (deployment["metadata"]["name"])
    )
    env_from = _container(deployment)["envFrom"]
    assert env_from == [
        {"configMapRef": {"name": chart["ConfigMap"]["metadata"]["name"]}},
        {"secretRef": {"name": chart["Secret"]["metadata"]["name"]}},
    ]


def test_the_options_turned_the_other_way_render_too() -> None:
    chart = _render(
        existingSecret="prod-secrets",
        autoscaling={"enabled": False},
        podDisruptionBudget={"enabled": False},
        networkPolicy={"enabled": False},
        migrations={"enabled": False},
        serviceMonitor={"enabled": True, "labels": {"release": "prometheus"}},
    )
    assert set(chart) == {"ConfigMap", "Deployment", "Service", "ServiceMonitor"}
    assert chart["Deployment"]["spec"]["replicas"] == 2
    assert _container(chart["Deployment"])["envFrom"][1] == {"secretRef": {"name": "prod-secrets"}}
    monitor = chart["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == chart["Service"]["spec"]["selector"]


def test_a_value_the_chart_does_not_have_fails_to_render() -> None:
    # The renderer's strictness is what makes a misspelt key in a template fail here.
    values = chart_values()
    del values["replicas"]
    with pytest.raises(RenderError, match="replicas"):
        render_chart({"autoscaling": {"enabled": False}}, values=values)

"""The deployment files agree with the code and the docs: the Dockerfile and compose.yaml run
real `consciousness` commands that docs/operations.md documents, with the uv the Makefile
pins; compose sets only real settings; nginx and Prometheus name what exists (the dashboard:
test_dashboard.py; the alert rules: test_alerts.py).
(No container engine runs here: the image is not built, the stack not started.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from server.cli import build_parser
from tests.deploy.balancer import NGINX_CONF

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}
STACK = {"postgres", "redis", "clickhouse", "jaeger", "migrate", "nginx", "prometheus", "grafana"}


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def _instruction(name: str) -> list[str]:
    """The JSON (exec form) arguments of the Dockerfile's last `name` instruction."""
    found = re.findall(rf"^{name} (\[.*\])$", _dockerfile(), re.MULTILINE)
    assert found, f"no exec-form {name} in deploy/Dockerfile"
    arguments: list[str] = json.loads(found[-1])
    return arguments


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return compose


def _documented_commands() -> set[str]:
    """The subcommands in the command table of docs/operations.md."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `consciousness ([a-z-]+)", text, re.MULTILINE))


def _check_command(argv: list[str]) -> None:
    """A `consciousness` argv that the CLI parses, of a documented subcommand."""
    assert build_parser().parse_args(argv).command in _documented_commands(), argv


def test_the_image_runs_documented_commands_as_a_user() -> None:
    assert _instruction("ENTRYPOINT") == ["consciousness"]
    serve = _instruction("CMD")
    _check_command(serve)
    assert serve[:3] == ["serve", "--host", "0.0.0.0"]  # reachable from outside the container
    healthcheck = re.search(r"^HEALTHCHECK .*\n\s+CMD (.*)$", _dockerfile(), re.MULTILINE)
    assert healthcheck is not None
    assert "/health" in healthcheck.group(1)
    users = re.findall(r"^USER (\S+)$", _dockerfile(), re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    deployment = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert "docker run --rm --env-file prod.env consciousness-api migrate" in deployment


def test_the_image_installs_the_lock_with_the_pinned_uv() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert pinned is not None
    assert f"ARG UV_VERSION={pinned.group(1)}" in _dockerfile()
    syncs = re.findall(r"^RUN uv sync (.*)$", _dockerfile(), re.MULTILINE)
    assert syncs
    assert all("--locked" in shlex.split(sync) for sync in syncs)


def test_compose_runs_every_service_the_stack_needs_on_real_settings() -> None:
    services = _compose()["services"]
    apis = {name for name in services if name.startswith("api-")}
    assert STACK | apis == set(services)
    assert len(apis) >= 2
    for name in apis | {"migrate"}:
        service = services[name]
        assert set(service["environment"]) <= SETTINGS, name
        command = service.get("command", _instruction("CMD"))
        _check_command(command)
    assert services["migrate"]["command"] == ["migrate"]
    for name in apis:  # the servers start once the migrations are through
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_nginx_and_prometheus_point_at_the_compose_servers() -> None:
    apis = {f"{name}:8000" for name in _compose()["services"] if name.startswith("api-")}
    upstreams = set(re.findall(r"^\s*server (api-\d+:8000)", NGINX_CONF.read_text(), re.MULTILINE))
    assert upstreams == apis
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert set(job["static_configs"][0]["targets"]) == apis


def test_the_grafana_provisioning_files_are_version_1() -> None:
    """The dashboard itself: test_dashboard.py."""
    for path in (DEPLOY / "grafana" / "provisioning").rglob("*.yaml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["apiVersion"] == 1


def test_the_yaml_files_pass_yamllint() -> None:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    files = [
        path
        for pattern in ("*.yaml", "*.yml")
        for path in DEPLOY.rglob(pattern)
        if "templates" not in path.parts  # Go templates: tests/deploy/test_chart.py renders them
    ]
    assert len(files) >= 7
    problems = [
        f"{path.relative_to(ROOT)}:{problem.line}: {problem.desc}"
        for path in files
        for problem in linter.run(path.read_text(encoding="utf-8"), config, str(path))
    ]
    assert problems == []

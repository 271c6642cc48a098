"""Render deploy/chart as `helm template` would: each template with the chart's helpers,
through Go's text/template and sprig (py-go-template, the engines helm is built on).

Helm itself is not installed here. What this does not do that helm does: the helm-only
functions (`include`, `tpl`, `lookup`, `.Files`, `.Capabilities`), so the chart uses none;
and a missing value is an error here (helm prints it empty), which catches a misspelt key.
The library ends its process on a template error, so each template renders in a child.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "chart"
RELEASE = {"Name": "test", "Namespace": "default", "Service": "Helm", "IsInstall": True}
# The child: render one template file with the JSON root; the library's output on stdout.
RENDER_ONE = (
    "import go_template, json, pathlib, sys; "
    "sys.stdout.buffer.write(go_template.render(pathlib.Path(sys.argv[1]), "
    "json.loads(pathlib.Path(sys.argv[2]).read_text())))"
)
RENDER_SECONDS = 60


class RenderError(Exception):
    """A template did not parse or execute; the message is text/template's."""


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in, maps key by key (as `helm --set` and `-f` do)."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def chart_values() -> dict[str, Any]:
    """The chart's values.yaml."""
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return values


def render_chart(
    overrides: dict[str, Any] | None = None, *, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every manifest the chart renders with `values` (values.yaml when not given) and
    `overrides` merged in, in file order."""
    import go_template  # noqa: F401  (linux x86_64 only: ImportError where it is missing)

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    root = {
        "Values": merged(chart_values() if values is None else values, overrides or {}),
        "Release": RELEASE,
        "Chart": {"Name": chart["name"], "Version": chart["version"],
                  "AppVersion": chart["appVersion"]},
    }  # fmt: skip
    helpers = (CHART / "templates" / "_helpers.tpl").read_text(encoding="utf-8")
    manifests: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root_file = Path(tmp) / "root.json"
        root_file.write_text(json.dumps(root), encoding="utf-8")
        for template in sorted((CHART / "templates").glob("*.yaml")):
            source = Path(tmp) / template.name
            source.write_text(helpers + template.read_text(encoding="utf-8"), encoding="utf-8")
            done = subprocess.run(
                [sys.executable, "-c", RENDER_ONE, str(source), str(root_file)],
                capture_output=True, timeout=RENDER_SECONDS, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                message = (done.stdout + done.stderr).decode(errors="replace").strip()
                raise RenderError(f"{template.name}: {message}")
            documents = yaml.safe_load_all(done.stdout.decode())
            manifests += [document for document in documents if document is not None]
    return manifests

"""The committed server/static/ is what `make assets` builds from web/ and package-lock.json."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

from tests.browser.conftest import ROOT
from tests.conftest import unavailable


def _files(directory: Path) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()}


def test_committed_assets_match_a_fresh_build(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "esbuild").is_dir():
        unavailable("node and node_modules (npm ci) are needed to rebuild the assets")
    assert node is not None
    subprocess.run(
        [node, str(ROOT / "web" / "build.mjs"), str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    committed = ROOT / "server" / "static"
    assert _files(tmp_path) == _files(committed), "run `make assets` and commit the result"
    _, different, errors = filecmp.cmpfiles(
        tmp_path, committed, sorted(_files(committed)), shallow=False
    )
    assert (different, errors) == ([], []), "run `make assets` and commit the result"

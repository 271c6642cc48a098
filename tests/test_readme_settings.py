"""Every setting is in README's configuration table, and the table names no setting that is gone."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

README = Path(__file__).parent.parent / "README.md"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


def test_the_configuration_table_lists_exactly_the_settings() -> None:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(ROW.findall(section))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from README"
    assert documented - settings == set(), "README documents settings that do not exist"

"""The README's configuration table is the one the Settings class generates."""

from __future__ import annotations

from pathlib import Path

from genome.config import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    table = text.split("<!-- settings-table -->\n", 1)[1].split("<!-- /settings-table -->", 1)[0]
    assert table.strip() == settings_table().strip(), "run: python -m genome.config, and paste into README.md"

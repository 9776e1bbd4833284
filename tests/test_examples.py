"""The examples run as a user would run them, against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_housing_forest_example_saves_and_reloads(make_server) -> None:
    server = make_server("sqlite")
    environment = {**os.environ, "GENOME_URL": server.url, "GENOME_TOKEN": server.token}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "housing_forest.py"), "--offline"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "diabetes" in result.stdout
    assert "version 1 as" in result.stdout
    assert "predictions identical: True" in result.stdout
    assert "most important features (mean |SHAP|): bmi" in result.stdout

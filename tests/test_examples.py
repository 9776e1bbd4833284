"""The examples run as a user would run them, against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(server, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GENOME_URL": server.url, "GENOME_TOKEN": server.token}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / arguments[0]), *arguments[1:]],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_housing_forest_example_saves_and_reloads(make_server) -> None:
    result = run_example(make_server("sqlite"), "housing_forest.py", "--offline")
    assert "diabetes" in result.stdout
    assert "version 1 as" in result.stdout
    assert "predictions identical: True" in result.stdout
    assert "most important features (mean |SHAP|): bmi" in result.stdout


def test_newsgroups_text_example_saves_and_explains(make_server) -> None:
    result = run_example(make_server("sqlite"), "newsgroups_text.py", "--offline")
    assert "generated corpus" in result.stdout
    assert "version 1 as" in result.stdout
    assert "predicted comp.graphics" in result.stdout


def test_mobilenet_image_example_saves_and_explains(make_server, tmp_path) -> None:
    result = run_example(make_server("sqlite"), "mobilenet_image.py", "--offline", "--heatmap", "out.png", cwd=tmp_path)
    assert "untrained weights" in result.stdout
    assert "Grad-CAM on layer Conv_1" in result.stdout
    with Image.open(tmp_path / "out.png") as picture:
        assert picture.size == (224, 224)


def test_evaluation_store_example_stores_the_seed_run(make_server) -> None:
    server = make_server("sqlite")
    result = run_example(server, "evaluation_store.py", "--offline")
    assert "status failed: 3 passed, 5 failed" in result.stdout
    assert "passed  evaluateTrainTestSplit: my_split = 0.7 is < 0.76" in result.stdout
    assert result.stdout.count("failed  prototypeTest / id-123") == 5
    runs = server.evaluations().search_runs(name="test/skill/annotations/better-than-last")["items"]
    assert len(runs) == 1 and runs[0]["target"]["canonicalName"] == "/classifier/text/randomforest"


def test_seed_pipelines_run_the_example_scripts(make_server) -> None:
    import json
    import time

    from genome.modelstore.compute import Compute

    server = make_server("sqlite")
    bodies = {
        name: json.loads((EXAMPLES / "pipelines" / f"{name}.json").read_text())
        for name in ("sequence", "parallel", "scheduled")
    }
    with Compute(server.url, server.token) as compute:
        scheduled = compute.store_pipeline(bodies["scheduled"])
        assert scheduled["schedule"] == "6h" and scheduled["nextRun"] > time.time() * 1000 + 5.9 * 3600 * 1000
        runs = [compute.run_pipeline(bodies[name]) for name in ("sequence", "parallel")]
        finished = [compute.wait(run["id"], timeout=600) for run in runs]
    for run in finished:
        assert run["status"] == "succeeded", run
    assert [step["group"] for step in finished[1]["steps"]] == [0, 1, 1, 2]
    store = server.store()
    for name in ("/housing/ca/forest-1", "/classifier/text/randomforest", "/classifier/mobilenet/v2"):
        versions = store.search_models({"field": "canonicalName", "op": "eq", "value": name})["items"]
        assert {version["pipelineRunId"] for version in versions} >= {run["id"] for run in finished}


def test_visualize_forest_example_draws_the_first_tree(make_server, tmp_path) -> None:
    import xml.etree.ElementTree as ET

    server = make_server("sqlite")
    run_example(server, "housing_forest.py", "--offline")
    result = run_example(server, "visualize_forest.py", "--svg", "tree-0.svg", cwd=tmp_path)
    assert "/housing/ca/forest-1 v1: tree 0 of 120" in result.stdout
    assert "path: " in result.stdout and " → " in result.stdout
    assert "sample rows in that leaf:" in result.stdout
    assert ET.parse(tmp_path / "tree-0.svg").getroot().tag.endswith("svg")

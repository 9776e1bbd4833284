"""Model cards through a live server: what they gather from the stores, their Markdown and HTML, and who may read
them."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor

from genome.errors import NotFound
from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task
from genome.server.app import API_PREFIX

DIABETES = load_diabetes()


def error_evaluation(score: float, name: str, ref: str) -> type[GenomeEvaluationRun]:
    @evaluation(name=name, versionName="1")
    class Check(GenomeEvaluationRun):
        @task(dataset={"ref": ref})
        def error(self, t, dataset):
            t.add_metric("rmse", score)
            t.expect(score, var="rmse").toBeLess(60.0)

    return Check


def _finished_run(server) -> str:
    body = {
        "application": "search",
        "pipelineName": "train-forest",
        "steps": [{"stepName": "train", "stepType": "model", "command": "true"}],
    }
    run_id = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=body).json()["id"]
    deadline = time.monotonic() + 60
    while server.http.get(f"{API_PREFIX}/compute/runs/{run_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return run_id


def test_a_card_gathers_the_versions_story(server, store) -> None:
    forest = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(DIABETES.data, DIABETES.target)
    genome_model = GenomeEstimator(forest, feature_names=list(DIABETES.feature_names))
    genome_model.explainer.sampleExplanations(DIABETES.data[:100], progress=False)
    run_id = _finished_run(server)
    saved = store.save_model(
        genome_model,
        {
            "application": "search",
            "canonicalName": "/diabetes/forest",
            "versionName": "2.0|rc",
            "intendedUse": "Ranking patients for follow-up; not for diagnosis.",
            "description": "Trained on the bundled diabetes set | a <script>test</script> note",
            "pipelineName": "train-forest",
            "pipelineRunId": run_id,
            "pipelineStage": "train",
            "metrics": {"r2": 0.61},
        },
    )
    evaluations = server.evaluations()
    error_evaluation(70.0, "diabetes/rmse", "s3://lake/old.parquet")(evaluations, target=saved["id"]).to_run()
    error_evaluation(50.0, "diabetes/rmse", "s3://lake/test.parquet")(evaluations, target=saved["id"]).to_run()
    error_evaluation(80.0, "diabetes/drift", "s3://lake/drift.parquet")(evaluations, target=saved["id"]).to_run()

    card = store.model_card(saved["id"])
    assert card["model"]["canonicalName"] == "/diabetes/forest" and card["model"]["versionName"] == "2.0|rc"
    assert card["intendedUse"].startswith("Ranking patients") and "diabetes set" in card["notes"]
    assert card["details"]["framework"] == "sklearn" and card["details"]["category"] == "ensemble"
    assert card["lineage"]["run"] == {
        "id": run_id,
        "pipelineName": "train-forest",
        "status": "succeeded",
        "finished": card["lineage"]["run"]["finished"],
    }
    assert card["metrics"] == {"r2": 0.61}
    importance = [item["importance"] for item in card["featureImportance"]]
    assert importance == sorted(importance, reverse=True) and len(importance) == 10
    # the latest run of each evaluation: rmse now passes, drift fails, so the card says failed
    by_name = {run["name"]: run for run in card["evaluations"]}
    assert by_name["diabetes/rmse"]["status"] == "passed" and by_name["diabetes/drift"]["status"] == "failed"
    assert card["evaluationStatus"] == "failed"
    assert card["dataRefs"] == ["s3://lake/drift.parquet", "s3://lake/test.parquet"]
    assert card["explanations"]["explainer"] == "SHAP's exact TreeExplainer"
    assert "visualization" in card["explanations"]["visualization"]

    markdown = store.model_card_text(saved["id"])
    assert markdown.startswith("# Model card: /diabetes/forest v1 — evaluations failed")
    assert "## Intended use" in markdown and "| diabetes/drift | failed" in markdown
    assert "| version | 1 (2.0\\|rc) |" in markdown  # a pipe in a value does not break the table

    page = store.model_card_text(saved["id"], format="html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    parser = HTMLParser()
    parser.feed(page)
    parser.close()
    response = server.http.get(f"{API_PREFIX}/modelstore/models/{saved['id']}/card", params={"format": "html"})
    assert response.headers["content-type"].startswith("text/html")


def test_a_bare_version_has_a_plain_card_and_strangers_none(server, store) -> None:
    forest = RandomForestRegressor(n_estimators=2, random_state=0).fit(DIABETES.data, DIABETES.target)
    saved = store.save_model(GenomeEstimator(forest), {"application": "search", "canonicalName": "/bare"})
    card = store.model_card(saved["id"])
    assert card["intendedUse"] is None and card["evaluations"] == [] and card["evaluationStatus"] is None
    assert card["featureImportance"] is None and card["lineage"]["run"] is None
    assert "Not stated when the version was saved." in store.model_card_text(saved["id"])
    outsider = server.client(server.token_for("card-outsider", {"elsewhere": "viewer"}))
    assert outsider.get(f"{API_PREFIX}/modelstore/models/{saved['id']}/card").status_code == 404
    with pytest.raises(NotFound):
        store.model_card("no-such-version")
    bad = server.http.get(f"{API_PREFIX}/modelstore/models/{saved['id']}/card", params={"format": "pdf"})
    assert bad.status_code == 400

"""The SDK surface: seed import paths, exports, lifecycle, step environment and rebuilt errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

import genome.modelstore
from genome.errors import ArtifactCorrupt, Conflict, GenomeError, InvalidInput, NotFound, error_from_envelope
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

X, Y = load_iris(return_X_y=True)


def test_exports_are_pinned() -> None:
    assert genome.modelstore.__all__ == ["GenomeEstimator", "ModelStore"]


def test_estimator_init_only_stores_its_arguments() -> None:
    estimator = GenomeEstimator("anything", modality="nonsense", feature_names=3)  # checked at save, not here
    assert (estimator.estimator, estimator.modality, estimator.feature_names) == ("anything", "nonsense", 3)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOME_URL", "http://genome.example:9000/")
    with ModelStore() as store:
        assert store.url == "http://genome.example:9000"
    with ModelStore("http://other:1") as store:
        assert store.url == "http://other:1"


def test_closed_store_says_so() -> None:
    store = ModelStore("http://127.0.0.1:9")
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_model("x")


def test_pipeline_step_environment_fills_missing_metadata(server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLICATION", "search")
    monkeypatch.setenv("PIPELINE_NAME", "pipe-1")
    monkeypatch.setenv("PIPELINE_RUNID", "run-42")
    monkeypatch.setenv("STEP_NAME", "step-housing")
    model = DecisionTreeClassifier(random_state=0).fit(X, Y)
    with server.store() as store:
        record = store.save_model(GenomeEstimator(model), {"canonicalName": "/iris", "pipelineRunId": None})
        explicit = store.save_model(GenomeEstimator(model), {"canonicalName": "/iris", "pipelineName": "mine"})
    assert (record["application"], record["pipelineName"], record["pipelineRunId"], record["pipelineStage"]) == (
        "search",
        "pipe-1",
        "run-42",
        "step-housing",
    )
    assert explicit["pipelineName"] == "mine"


def test_errors_are_rebuilt_from_the_envelope() -> None:
    def envelope(status: int, kind: str) -> dict[str, object]:
        return {"error": {"status": status, "type": kind, "message": "m", "field": "f"}}

    assert isinstance(error_from_envelope(404, envelope(404, "NotFound")), NotFound)
    assert isinstance(error_from_envelope(409, envelope(409, "Conflict")), Conflict)
    corrupt = error_from_envelope(500, envelope(500, "ArtifactCorrupt"))
    assert isinstance(corrupt, ArtifactCorrupt)
    invalid = error_from_envelope(422, {"detail": "odd"})
    assert isinstance(invalid, InvalidInput)
    assert isinstance(invalid, ValueError)
    other = error_from_envelope(502, "bad gateway")
    assert type(other) is GenomeError
    assert "502" in other.message


def test_round_trip_with_progress_bars(server) -> None:
    model = DecisionTreeClassifier(random_state=0).fit(X, Y)
    with ModelStore(server.url, server.token, progress=True) as store:
        record = store.save_model(GenomeEstimator(model), {"application": "a", "canonicalName": "/iris"})
        loaded = store.load_model(record["id"])
    assert (loaded.estimator.predict(X) == model.predict(X)).all()


def test_sdk_imports_light() -> None:
    """Training code imports the SDK without the server, the storage layer or SQLAlchemy."""
    code = (
        "import sys, genome.modelstore.client, genome.modelstore.accounts; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'alembic', 'uvicorn') "
        "or m.split('.')[:2] in (['genome', 'server'], ['genome', 'store'], ['genome', 'models'], ['genome', 'auth'])"
        "]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_explain_and_sample_explanations_from_the_sdk(server) -> None:
    data = load_diabetes()
    model = RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0).fit(data.data, data.target)
    estimator = GenomeEstimator(model, feature_names=list(data.feature_names))
    estimator.explainer.sampleExplanations(data.data[:100])
    store = server.store()
    record = store.save_model(estimator, {"application": "search", "canonicalName": "/diabetes"})
    by_name = store.explain(data.data[:2], application="search", canonical_name="/diabetes")
    assert by_name["model"]["id"] == record["id"]
    totals = np.asarray(by_name["expected"][0]) + np.asarray(by_name["shapley"]).sum(axis=1)
    np.testing.assert_allclose(totals, model.predict(data.data[:2]), atol=1e-6)
    records = [dict(zip(data.feature_names, row, strict=True)) for row in data.data[:2].tolist()]
    assert store.explain(records, id=record["id"])["shapley"] == by_name["shapley"]
    samples = store.sample_explanations(application="search", canonical_name="/diabetes", version_number=1)
    assert samples["rows"] == 100
    assert samples["featureImportance"] == record["featureImportance"]

"""Realtime explanations through a live server: the seed's tabular flow, permissions and bad payloads."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX

EXPLAIN = f"{API_PREFIX}/routing/explain"
SAMPLES = f"{API_PREFIX}/routing/explanation/samples"
DIABETES = load_diabetes()
IRIS = load_iris()
IRIS_NAMES = [name.replace(" (cm)", "").replace(" ", "_") for name in IRIS.feature_names]


@pytest.fixture(scope="module")
def forest() -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0).fit(DIABETES.data, DIABETES.target)


def _save_forest(store, forest, canonical_name: str = "/diabetes/forest-1", sample_rows: int = 150) -> dict:
    genome_model = GenomeEstimator(
        forest, target_classes=["price"], feature_names=DIABETES.feature_names, modality="tabular"
    )
    rows = np.random.default_rng(0).choice(DIABETES.data.shape[0], sample_rows, replace=False)
    genome_model.explainer.sampleExplanations(DIABETES.data[rows, :])
    return store.save_model(
        genome_model,
        {
            "canonicalName": canonical_name,
            "application": "search",
            "pipelineName": "pipeline-keras-test",
            "pipelineStage": "model",
            "framework": "sklearn",
            "inputModality": "tabular",
            "versionName": "1.2.3",
        },
    )


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_seed_tabular_flow_explains_with_the_latest_version(server, store, forest) -> None:
    saved = _save_forest(store, forest)
    entries = DIABETES.data[:3].tolist()
    response = server.http.post(
        EXPLAIN, json={"application": "search", "canonicalName": "/diabetes/forest-1", "entries": entries}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"expected", "number_labels", "shapley"} <= set(body)
    assert body["number_labels"] == 1 and len(body["expected"]) == 1
    assert np.asarray(body["shapley"]).shape == (3, 10)
    assert body["feature_names"] == DIABETES.feature_names
    assert body["model"] == {"id": saved["id"], "canonicalName": "/diabetes/forest-1", "versionNumber": 1}
    shap_sum = body["expected"][0] + np.asarray(body["shapley"]).sum(axis=1)
    np.testing.assert_allclose(shap_sum, forest.predict(DIABETES.data[:3]), atol=1e-6)
    np.testing.assert_allclose(body["prediction"], forest.predict(DIABETES.data[:3]), atol=1e-9)

    samples = server.http.post(SAMPLES, json={"application": "search", "canonicalName": "/diabetes/forest-1"})
    assert samples.status_code == 200, samples.text
    stored = samples.json()
    assert stored["rows"] == 150 and np.asarray(stored["shapley"]).shape == (150, 10)
    assert np.asarray(stored["values"]).shape == (150, 10)
    record = store.get_model(saved["id"])
    assert record["featureImportance"] == pytest.approx(stored["featureImportance"])
    assert set(record["featureImportance"]) == set(DIABETES.feature_names)

    # a newly saved version answers the next "latest" request
    newer = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=1).fit(DIABETES.data, DIABETES.target)
    _save_forest(store, newer)
    again = server.http.post(
        EXPLAIN, json={"application": "search", "canonicalName": "/diabetes/forest-1", "entries": entries[:1]}
    ).json()
    assert again["model"]["versionNumber"] == 2
    np.testing.assert_allclose(
        again["expected"][0] + np.sum(again["shapley"][0]), newer.predict(DIABETES.data[:1])[0], atol=1e-6
    )
    by_id = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": entries[:1]}).json()
    assert by_id["model"]["versionNumber"] == 1


def test_classifier_answers_one_list_per_class_for_entries_keyed_by_name(server, store) -> None:
    model = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(IRIS.data, IRIS.target)
    store.save_model(
        GenomeEstimator(model, feature_names=IRIS_NAMES, target_classes=list(IRIS.target_names)),
        {"application": "search", "canonicalName": "/iris"},
    )
    entries = [dict(zip(IRIS_NAMES, row, strict=True)) for row in IRIS.data[[0, 70]].tolist()]
    response = server.http.post(EXPLAIN, json={"application": "search", "canonicalName": "/iris", "entries": entries})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["number_labels"] == 3 and np.asarray(body["shapley"]).shape == (3, 2, 4)
    per_class = (np.asarray(body["expected"])[:, None] + np.asarray(body["shapley"]).sum(axis=-1)).T
    np.testing.assert_allclose(per_class, model.predict_proba(IRIS.data[[0, 70]]), atol=1e-6)


def test_bad_requests_are_clear_errors(make_server, forest) -> None:
    server = make_server("sqlite", explain_max_rows=5)
    store = server.store()
    _save_forest(store, forest, sample_rows=40)
    store.save_model(
        GenomeEstimator(KNeighborsRegressor().fit(IRIS.data, IRIS.target)),
        {"application": "search", "canonicalName": "/knn"},
    )
    name = {"application": "search", "canonicalName": "/diabetes/forest-1"}

    outsider = server.client(server.token_for("olga", {"ads": "viewer"}))
    _error(outsider.post(EXPLAIN, json={**name, "entries": [[0.0] * 10]}), 404)
    viewer = server.client(server.token_for("vera", {"search": "viewer"}))
    assert viewer.post(EXPLAIN, json={**name, "entries": [[0.0] * 10]}).status_code == 200

    error = _error(server.http.post(EXPLAIN, json={**name, "entries": [[0.0] * 9]}), 400)
    assert error["field"] == "entries" and "bmi" in error["message"]
    error = _error(server.http.post(EXPLAIN, json={**name, "entries": [{"age": 1.0, "colour": 2.0}]}), 400)
    assert error["field"] == "entries" and "colour" in error["message"] and "bmi" in error["message"]
    error = _error(server.http.post(EXPLAIN, json={**name, "entries": [[0.0] * 10] * 6}), 413)
    assert error["field"] == "entries" and "5" in error["message"]
    error = _error(server.http.post(EXPLAIN, json={**name, "text": "a house by the sea"}), 400)
    assert error["field"] == "text" and "tabular model" in error["message"]
    error = _error(server.http.post(EXPLAIN, json={**name}), 400)
    assert error["field"] == "entries"
    error = _error(server.http.post(EXPLAIN, json={"entries": [[0.0] * 10]}), 400)
    assert error["field"] == "canonicalName"

    pictures = GenomeEstimator(KNeighborsRegressor().fit(IRIS.data, IRIS.target), modality="image")
    store.save_model(pictures, {"application": "search", "canonicalName": "/pictures"})
    pictures_name = {"application": "search", "canonicalName": "/pictures"}
    error = _error(server.http.post(EXPLAIN, json={**pictures_name, "entries": [[1.0]]}), 400)
    assert error["field"] == "entries" and "an image model: send image" in error["message"]
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    error = _error(
        server.http.post(EXPLAIN, json={**pictures_name, "image": base64.b64encode(png.getvalue()).decode()}), 400
    )
    assert error["field"] == "canonicalName" and "KNeighborsRegressor is neither" in error["message"]

    knn = {"application": "search", "canonicalName": "/knn"}
    error = _error(server.http.post(EXPLAIN, json={**knn, "entries": [[0.0] * 4]}), 400)
    assert "sampleExplanations" in error["message"]
    error = _error(server.http.post(SAMPLES, json=knn), 404)
    assert "sampleExplanations" in error["message"]

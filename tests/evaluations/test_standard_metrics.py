"""The built-in evaluation: standard metrics of a stored model on a labelled file, stored as an ordinary run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error

from genome.errors import InvalidInput
from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.standard_metrics import evaluate_metrics

IRIS = load_iris()
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def test_classifier_metrics_with_thresholds(server, store, tmp_path) -> None:
    model = LogisticRegression(max_iter=300).fit(IRIS.data, IRIS.target)
    saved = store.save_model(
        GenomeEstimator(model, feature_names=NAMES), {"application": "search", "canonicalName": "/iris"}
    )
    frame = pd.DataFrame(IRIS.data[::3], columns=NAMES).assign(species=IRIS.target[::3])
    frame.loc[:4, "species"] = (frame.loc[:4, "species"] + 1) % 3  # five wrong labels: accuracy at most 0.9
    path = tmp_path / "iris-test.csv"
    frame[["species", *NAMES[::-1]]].to_csv(path, index=False)  # columns in another order than the model's

    evaluations = server.evaluations()
    run = evaluate_metrics(
        saved["id"],
        str(path),
        "species",
        {"accuracy": 0.8, "roc_auc": 0.8},
        model_store=store,
        evaluation_store=evaluations,
    )
    assert run["status"] == "passed" and run["name"] == "genome/standard-metrics"
    assert run["target"]["ref"] == saved["id"] and run["dataRefs"] == [str(path)]
    (measured,) = run["tasks"]
    assert measured["name"] == "classification metrics" and measured["metrics"]["rows"] == len(frame)
    expected = accuracy_score(frame["species"], model.predict(frame[NAMES].to_numpy()))
    assert measured["metrics"]["accuracy"] == pytest.approx(expected)
    assert {"f1", "roc_auc"} <= set(measured["metrics"])
    assert [e["op"] for e in measured["expectations"]] == ["toBeGreaterOrEqual"] * 2

    strict = evaluate_metrics(
        saved["id"], str(path), "species", {"accuracy": 0.95}, model_store=store, evaluation_store=evaluations
    )
    assert strict["status"] == "failed" and evaluations.get_run(strict["id"])["status"] == "failed"

    with pytest.raises(InvalidInput, match="rmse") as caught:
        evaluate_metrics(saved["id"], str(path), "species", {"rmse": 1.0}, model_store=store)
    assert caught.value.field == "thresholds"

    missing = evaluate_metrics(saved["id"], str(path), "colour", model_store=store, evaluation_store=evaluations)
    assert missing["status"] == "error" and "colour" in missing["tasks"][0]["error"]["message"]


def test_regressor_metrics_bound_errors_from_above(server, store, tmp_path) -> None:
    data = load_diabetes()
    model = RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0).fit(data.data, data.target)
    saved = store.save_model(GenomeEstimator(model), {"application": "search", "canonicalName": "/diabetes"})
    path = tmp_path / "diabetes.parquet"
    pd.DataFrame(data.data, columns=data.feature_names).assign(target=data.target).to_parquet(path)

    rmse = float(np.sqrt(mean_squared_error(data.target, model.predict(data.data))))
    run = evaluate_metrics(
        saved["id"],
        str(path),
        "target",
        {"rmse": rmse + 1, "r2": 0.3},
        model_store=store,
        evaluation_store=server.evaluations(),
    )
    assert run["status"] == "passed"
    metrics = run["tasks"][0]["metrics"]
    assert metrics["rmse"] == pytest.approx(rmse) and set(metrics) == {"rows", "rmse", "mae", "r2"}
    ops = {e["var"]: e["op"] for e in run["tasks"][0]["expectations"]}
    assert ops == {"rmse": "toBeLessOrEqual", "r2": "toBeGreaterOrEqual"}
    tight = evaluate_metrics(
        saved["id"], str(path), "target", {"rmse": rmse / 2}, model_store=store, evaluation_store=server.evaluations()
    )
    assert tight["status"] == "failed"
    assert "is not <=" in tight["tasks"][0]["expectations"][0]["text"]

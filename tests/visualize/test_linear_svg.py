"""Linear and logistic models drawn as SVG, through a live server: the coefficients drawn are the model's, largest
magnitude first; a record's waterfall starts at the intercept and ends at the model's own score (its
``decision_function`` or ``predict``) and, for a logistic model, at the probability ``predict_proba`` gives."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.linear_model import (
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from genome.visualize import ModelVisualizer
from genome.visualize.graph import format_number
from genome.visualize.linear_svg import render_linear
from live import LiveServer

SVG = "{http://www.w3.org/2000/svg}"
IRIS = load_iris()
IRIS_NAMES = [name.replace(" (cm)", "").replace(" ", "_") for name in IRIS.feature_names]
DIABETES = load_diabetes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[LiveServer]:
    """One server for the module: every test saves models of its own names."""
    from genome.config import Settings
    from live import ADMIN_PASSWORD

    home = tmp_path_factory.mktemp("linear-svg-home")
    settings = Settings(home=home, database_url=fresh_database.url("sqlite"), admin_password=ADMIN_PASSWORD)
    with LiveServer(settings) as live:
        yield live


def _save(server: LiveServer, model: Any, name: str, **fields: Any) -> str:
    meta = {"application": "linear", "canonicalName": name, "inputModality": "tabular"}
    saved: dict[str, Any] = server.store().save_model(GenomeEstimator(model, **fields), meta)
    return str(saved["id"])


def _drawing(server: LiveServer, model_id: str, record: list[float] | None) -> ET.Element:
    params = {"record": json.dumps(record)} if record is not None else {}
    response = server.http.get(f"{API_PREFIX}/modelstore/models/{model_id}/visualization.svg", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "linear-title linear-desc"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    return root


def _texts(element: ET.Element) -> list[str]:
    return [text.text or "" for text in element.iter(f"{SVG}text")]


def _outputs(root: ET.Element) -> dict[str, dict[str, Any]]:
    """What each output's panel draws: intercept, coefficients in drawing order, the waterfall's rows and ends."""
    found = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "output":
            continue
        panel: dict[str, Any] = {"intercept": float(group.get("data-intercept", "nan")), "texts": _texts(group)}
        panel["coefficients"] = [
            (g.get("data-feature"), float(g.get("data-value", "nan")), _texts(g))
            for g in group.iter(f"{SVG}g")
            if g.get("class") == "coefficient"
        ]
        panel["contributions"] = [
            (g.get("data-feature"), float(g.get("data-value", "nan")), _texts(g))
            for g in group.iter(f"{SVG}g")
            if g.get("class") == "contribution"
        ]
        for part in ("start", "end"):
            marker = next((g for g in group.iter(f"{SVG}g") if g.get("class") == part), None)
            panel[part] = None if marker is None else float(marker.get("data-value", "nan"))
            if part == "end" and marker is not None and marker.get("data-probability"):
                panel["probability"] = float(marker.get("data-probability", "nan"))
        found[str(group.get("data-output"))] = panel
    return found


def _signed(value: float) -> str:
    return f"+{format_number(value)}" if value >= 0 else f"-{format_number(abs(value))}"


def _check_coefficients(panel: dict[str, Any], names: list[str], weights: np.ndarray, intercept: float) -> None:
    """The panel draws every coefficient of the model, largest magnitude first, each labelled with its signed
    value, and the intercept."""
    drawn = panel["coefficients"]
    assert [name for name, _, _ in drawn] == [names[i] for i in np.argsort(-np.abs(weights), kind="stable")]
    by_name = dict(zip(names, weights, strict=True))
    for name, value, texts in drawn:
        assert value == pytest.approx(by_name[name], rel=1e-12, abs=1e-12)
        assert texts == [name, _signed(by_name[name])]  # the name and the signed number, never colour alone
    assert panel["intercept"] == pytest.approx(intercept, rel=1e-12, abs=1e-12)
    assert any(text.endswith(f"intercept {_signed(intercept)}") for text in panel["texts"])


def _check_waterfall(panel: dict[str, Any], score: float, probability: float | None) -> None:
    """From the intercept, each feature's part, to the model's own score: the bars add up to it."""
    assert panel["start"] == pytest.approx(panel["intercept"])
    parts = [value for _, value, _ in panel["contributions"]]
    assert panel["start"] + math.fsum(parts) == pytest.approx(score, rel=1e-9, abs=1e-9)
    assert panel["end"] == pytest.approx(score, rel=1e-9, abs=1e-9)
    assert format_number(score) in panel["texts"]
    if probability is None:
        assert "probability" not in panel
    else:
        assert panel["probability"] == pytest.approx(probability, rel=1e-9, abs=1e-12)
        assert any("probability of " in text and format_number(probability) in text for text in panel["texts"])


def test_linear_regression_is_drawn_with_a_waterfall_to_its_prediction(server: LiveServer) -> None:
    model = LinearRegression().fit(DIABETES.data, DIABETES.target)
    model_id = _save(server, model, "/diabetes/linear", feature_names=list(DIABETES.feature_names))
    root = _drawing(server, model_id, DIABETES.data[7].tolist())
    (panel,) = _outputs(root).values()
    _check_coefficients(panel, list(DIABETES.feature_names), model.coef_, float(model.intercept_))
    _check_waterfall(panel, float(model.predict(DIABETES.data[7:8])[0]), None)
    assert len(panel["contributions"]) == 10  # every feature: none gathered into "other features"
    values = dict(zip(DIABETES.feature_names, DIABETES.data[7], strict=True))
    for name, part, texts in panel["contributions"]:
        assert part == pytest.approx(model.coef_[list(DIABETES.feature_names).index(name)] * values[name])
        assert texts[0] == f"{name} = {format_number(values[name])}"
    description = root.findtext(f"{SVG}desc") or ""
    assert f"score {format_number(float(model.predict(DIABETES.data[7:8])[0]))}" in description
    assert f"s5 {_signed(float(model.coef_[8]))}" in description

    # without a record, the coefficients alone
    plain = _outputs(_drawing(server, model_id, None))["prediction"]
    assert plain["start"] is None and not plain["contributions"]
    _check_coefficients(plain, list(DIABETES.feature_names), model.coef_, float(model.intercept_))


def test_binary_logistic_regression_ends_at_its_decision_function_and_probability(server: LiveServer) -> None:
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
    names = [f"f{i}" for i in range(5)]
    model = LogisticRegression().fit(X, y)
    model_id = _save(server, model, "/binary/logistic", feature_names=names, target_classes=["no", "yes"])
    for row in (0, 1, 17):
        outputs = _outputs(_drawing(server, model_id, X[row].tolist()))
        assert list(outputs) == ["yes"]  # the one row of coefficients scores the second class
        panel = outputs["yes"]
        _check_coefficients(panel, names, model.coef_[0], float(model.intercept_[0]))
        one = X[row : row + 1]
        _check_waterfall(panel, float(model.decision_function(one)[0]), float(model.predict_proba(one)[0, 1]))
    routed = server.http.post(
        f"{API_PREFIX}/routing/visualization",
        json={"application": "linear", "canonicalName": "/binary/logistic", "record": X[0].tolist(), "format": "svg"},
    )
    assert routed.status_code == 200 and "probability of yes" in routed.text
    assert "score (log-odds)" in routed.text  # a second axis, of probabilities, under the log-odds
    said = "The model predicts " + ["no", "yes"][int(model.predict(X[:1])[0])]
    assert said in routed.text


def test_three_class_logistic_regression_draws_every_class(server: LiveServer) -> None:
    classes = [str(name) for name in IRIS.target_names]
    model = LogisticRegression(max_iter=1000).fit(IRIS.data, IRIS.target)
    model_id = _save(server, model, "/iris/logistic", feature_names=IRIS_NAMES, target_classes=classes)
    record = IRIS.data[70:71]
    outputs = _outputs(_drawing(server, model_id, record[0].tolist()))
    assert list(outputs) == classes
    scores, probabilities = model.decision_function(record)[0], model.predict_proba(record)[0]
    for k, name in enumerate(classes):
        _check_coefficients(outputs[name], IRIS_NAMES, model.coef_[k], float(model.intercept_[k]))
        _check_waterfall(outputs[name], float(scores[k]), float(probabilities[k]))
    assert sum(panel["probability"] for panel in outputs.values()) == pytest.approx(1.0)
    svg = server.store().visualize_svg(record[0], id=model_id)
    assert f"The model predicts {classes[int(model.predict(record)[0])]}" in svg


SCALED_IRIS = StandardScaler().fit_transform(IRIS.data)
BINARY = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
OTHER_LINEAR = {  # model, its rows, and the link its drawing states
    "ridge": (lambda: Ridge(alpha=0.5), DIABETES.data, DIABETES.target, "identity"),
    "lasso": (lambda: Lasso(alpha=0.1), DIABETES.data, DIABETES.target, "identity"),
    "ridge-two-targets": (lambda: Ridge(), DIABETES.data, np.c_[DIABETES.target, DIABETES.target % 7], "identity"),
    "poisson": (lambda: PoissonRegressor(), DIABETES.data, DIABETES.target, "log"),
    "sgd-log-loss": (
        lambda: SGDClassifier(loss="log_loss", random_state=0),
        SCALED_IRIS,
        IRIS.target,
        "logistic-ovr",
    ),
    "ridge-classifier": (lambda: RidgeClassifier(), IRIS.data, IRIS.target, "identity"),
    "linear-svc": (lambda: LinearSVC(), *BINARY, "identity"),
}


@pytest.mark.parametrize("kind", OTHER_LINEAR)
def test_every_other_linear_kind_ends_at_its_own_score(server: LiveServer, kind: str) -> None:
    """Whatever linear model the visualizer reads is drawn, each output's waterfall ending at the model's own score
    (decision_function for classifiers, predict, or log(predict) for a log link) and probability (predict_proba)."""
    make, X, y, link = OTHER_LINEAR[kind]
    model = make().fit(X, y)
    names = [f"x{i}" for i in range(X.shape[1])]
    model_id = _save(server, model, f"/other/{kind}", feature_names=names)
    one = X[3:4]
    if hasattr(model, "decision_function"):
        scores = np.atleast_2d(model.decision_function(one))[0]
    else:
        predicted = np.atleast_2d(model.predict(one))[0]
        scores = np.log(predicted) if link == "log" else predicted
    probabilities = model.predict_proba(one)[0] if link != "identity" and link != "log" else None
    root = _drawing(server, model_id, one[0].tolist())
    outputs = list(_outputs(root).values())
    assert len(outputs) == len(scores) and link in {"identity", "log", "logistic-ovr"}
    coefficients = np.atleast_2d(model.coef_)
    intercepts = np.broadcast_to(model.intercept_, len(scores))
    for k, panel in enumerate(outputs):
        _check_coefficients(panel, names, coefficients[k], float(intercepts[k]))
        _check_waterfall(panel, float(scores[k]), None if probabilities is None else float(probabilities[k]))
        if link == "log":  # the caption gives the prediction: exp(score)
            shown = format_number(float(model.predict(one)[0]))
            assert any(f"prediction exp(score) = {shown}" in text for text in panel["texts"])


def test_spark_linear_models_are_drawn_from_their_saved_coefficients(server: LiveServer, spark: Any) -> None:
    from pyspark.ml.classification import LogisticRegression as SparkLogisticRegression
    from pyspark.ml.linalg import Vectors
    from pyspark.ml.regression import LinearRegression as SparkLinearRegression

    def frame(X: np.ndarray, y: np.ndarray) -> Any:
        rows = [(Vectors.dense(row), float(label)) for row, label in zip(X, y, strict=True)]
        return spark.createDataFrame(rows, ["features", "label"])

    def jvm(model: Any, data: Any, column: str) -> np.ndarray:
        return np.asarray([row[column].toArray() for row in model.transform(data).select(column).collect()])

    X, y = make_classification(n_samples=120, n_features=4, n_informative=3, n_redundant=1, random_state=1)
    names = ["a", "b", "c", "d"]
    binary = frame(X, y)
    logistic = SparkLogisticRegression(maxIter=50).fit(binary)
    model_id = _save(server, logistic, "/spark/logistic", feature_names=names)
    raw, probability = jvm(logistic, binary, "rawPrediction"), jvm(logistic, binary, "probability")
    for row in (0, 5):
        (panel,) = _outputs(_drawing(server, model_id, X[row].tolist())).values()
        _check_coefficients(panel, names, logistic.coefficients.toArray(), logistic.intercept)
        _check_waterfall(panel, float(raw[row, 1]), float(probability[row, 1]))  # the JVM's margin of class 1

    iris = frame(IRIS.data, IRIS.target)
    multinomial = SparkLogisticRegression(maxIter=50, family="multinomial").fit(iris)
    model_id = _save(server, multinomial, "/spark/multinomial", feature_names=IRIS_NAMES)
    raw, probability = jvm(multinomial, iris, "rawPrediction"), jvm(multinomial, iris, "probability")
    outputs = _outputs(_drawing(server, model_id, IRIS.data[120].tolist()))
    assert list(outputs) == ["0", "1", "2"]
    for k in range(3):
        weights = multinomial.coefficientMatrix.toArray()[k]
        _check_coefficients(outputs[str(k)], IRIS_NAMES, weights, float(multinomial.interceptVector[k]))
        _check_waterfall(outputs[str(k)], float(raw[120, k]), float(probability[120, k]))

    diabetes = frame(DIABETES.data[:150], DIABETES.target[:150])
    linear = SparkLinearRegression().fit(diabetes)
    model_id = _save(server, linear, "/spark/linear", feature_names=list(DIABETES.feature_names))
    predicted = [row.prediction for row in linear.transform(diabetes).select("prediction").collect()]
    (panel,) = _outputs(_drawing(server, model_id, DIABETES.data[3].tolist())).values()
    _check_coefficients(panel, list(DIABETES.feature_names), linear.coefficients.toArray(), linear.intercept)
    _check_waterfall(panel, float(predicted[3]), None)


def test_a_model_of_many_features_and_classes_stays_readable() -> None:
    """Past 20 coefficients a panel counts the rest; past 12 contributions a waterfall sums the rest into one row,
    still ending at the score; past 10 classes those of the highest scores are drawn, and the drawing says so."""
    X, y = make_classification(
        n_samples=600, n_features=30, n_informative=12, n_classes=12, n_clusters_per_class=1, random_state=0
    )
    names = [f"x<{i}>&" for i in range(30)]  # markup in names is escaped
    model = LogisticRegression(max_iter=2000).fit(X, y)
    view = ModelVisualizer().fit(model, feature_names=names).visualize(record=X[0].tolist())
    root = ET.fromstring(render_linear(view))
    outputs = _outputs(root)
    scores = model.decision_function(X[:1])[0]
    assert sorted(int(name) for name in outputs) == sorted(np.argsort(-scores)[:10].tolist())
    assert any("10 of 12 outputs drawn" in text for text in _texts(root))
    for name, panel in outputs.items():
        assert len(panel["coefficients"]) == 20 and any("10 smaller coefficients" in t for t in panel["texts"])
        rows = panel["contributions"]
        assert len(rows) == 13 and rows[-1][0] == "" and rows[-1][2][0] == "18 other features"
        _check_waterfall(panel, float(scores[int(name)]), float(model.predict_proba(X[:1])[0, int(name)]))

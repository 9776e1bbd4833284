"""Tree SHAP over trees handed to shap as arrays: scikit-learn ensembles shap refuses or misreads are explained
exactly per class in the model's margin, the conversion gives shap's own values where shap reads a model itself,
and a model that cannot be explained says why (through a live server too)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from genome.errors import InvalidInput
from genome.explain import TabularExplainer
from genome.explain._extracted import ArrayTrees, boosted_start
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from genome.visualize import extract

X_CLS, Y_CLS = load_iris(return_X_y=True)
X_REG, Y_REG = load_diabetes(return_X_y=True)
X_BIN, Y_BIN = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=0)
EXPLAIN = f"{API_PREFIX}/routing/explain"


def _with_category(seed: int) -> np.ndarray:
    """X_BIN plus a column of 5 categories; some values of both kinds missing."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([X_BIN, rng.integers(0, 5, len(X_BIN)).astype(float)])
    X[::11, 0] = np.nan
    X[::13, 5] = np.nan
    return X


X_CAT = _with_category(0)
Y_CAT = (X_BIN[:, 0] > 0).astype(int) + np.nan_to_num(X_CAT[:, 5]) % 2  # three classes, following the category


def _sums(result: Any) -> np.ndarray:
    values, expected = np.asarray(result.shapley), np.asarray(result.expected)
    if result.number_labels == 1:
        return expected[0] + values.sum(axis=-1)
    return (expected[:, None] + values.sum(axis=-1)).T


BOOSTED = [
    ("multiclass", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), X_CLS, Y_CLS),
    ("multiclass-subsampled", GradientBoostingClassifier(n_estimators=20, subsample=0.6, random_state=0), X_CLS,
     Y_CLS),
    ("binary-zero-init", GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0), X_BIN, Y_BIN),
    ("multiclass-zero-init", GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0), X_CLS, Y_CLS),
    ("exponential-loss", GradientBoostingClassifier(n_estimators=10, loss="exponential", random_state=0), X_BIN,
     Y_BIN),
    ("regressor-zero-init", GradientBoostingRegressor(n_estimators=10, init="zero", random_state=0), X_REG, Y_REG),
    ("hist-categorical-binary", HistGradientBoostingClassifier(max_iter=20, categorical_features=[5], random_state=0),
     X_CAT, Y_CAT > 0),
    ("hist-categorical-multiclass",
     HistGradientBoostingClassifier(max_iter=20, categorical_features=[5], random_state=0), X_CAT, Y_CAT),
    ("hist-categorical-regressor", HistGradientBoostingRegressor(max_iter=20, categorical_features=[5], random_state=0),
     X_CAT, Y_CAT * 2.5),
]  # fmt: skip


@pytest.mark.parametrize(("model", "X", "y"), [case[1:] for case in BOOSTED], ids=[case[0] for case in BOOSTED])
def test_ensembles_shap_refuses_or_misreads_are_explained_exactly_in_their_margin(model: Any, X, y) -> None:
    model.fit(X, y)
    result = TabularExplainer(algorithm="tree").fit(model).explain(X[:40])
    assert result.explainer == "tree"
    classifier = hasattr(model, "classes_")
    outputs = len(model.classes_) if classifier and len(model.classes_) > 2 else 1
    assert result.number_labels == outputs == len(result.expected)
    assert result.output == ("margin" if classifier else "value")
    truth = model.decision_function(X[:40]) if classifier else model.predict(X[:40])
    np.testing.assert_allclose(_sums(result), truth, rtol=1e-9, atol=1e-9)
    predicted = model.predict_proba(X[:40]) if classifier else model.predict(X[:40])
    np.testing.assert_allclose(result.prediction, predicted, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X_BIN, Y_BIN),
        HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X_CLS, Y_CLS),
        xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(X_BIN, Y_BIN * 2.0),  # strict (<) splits
    ],
    ids=["gradient-boosting", "hist-gradient-boosting-multiclass", "xgboost"],
)
def test_the_arrays_give_shaps_own_values_where_shap_reads_the_model(shap: Any, model: Any) -> None:
    X = X_CLS if model.n_features_in_ == 4 else X_BIN
    theirs = shap.TreeExplainer(model)
    ours = ArrayTrees(shap, extract(model), theirs.model.base_offset)
    expected = np.asarray(theirs.shap_values(X[:50], check_additivity=False))
    np.testing.assert_allclose(ours.shap_values(X[:50]), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.expected_value, theirs.expected_value, rtol=1e-6, atol=1e-6)


def test_a_boosted_model_started_from_another_model_is_not_tree_explained() -> None:
    model = GradientBoostingRegressor(n_estimators=5, init=LinearRegression()).fit(X_REG, Y_REG)
    assert boosted_start(model) is None  # its start differs per record: no exact Tree SHAP
    assert TabularExplainer().fit(model, X_REG[:50]).explainer_ is not None
    with pytest.raises(InvalidInput, match="sampleExplanations"):
        TabularExplainer().fit(model)
    with pytest.raises(Exception, match="init model type"):
        TabularExplainer(algorithm="tree").fit(model)


def test_extracted_trees_refuse_other_algorithms_and_uncovered_leaves() -> None:
    tree = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X_REG, Y_REG)
    forest = extract(tree)  # as the server holds a Spark model: trees, no library object
    with pytest.raises(InvalidInput, match=r"DecisionTreeRegressor.*'auto' or 'tree'") as caught:
        TabularExplainer(algorithm="permutation").fit(forest)
    assert caught.value.field == "algorithm"
    np.testing.assert_allclose(_sums(TabularExplainer().fit(forest).explain(X_REG[:5])), tree.predict(X_REG[:5]))
    graph = forest.tree(0)
    graph.weight[graph.left < 0] = 0.0  # a leaf no training row reached
    with pytest.raises(InvalidInput, match="leaf no training row reached"):
        TabularExplainer().fit(forest)


def test_multiclass_gradient_boosting_is_explained_through_the_server(make_server) -> None:
    server = make_server("sqlite")
    store = server.store()
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(X_CLS, Y_CLS)
    store.save_model(GenomeEstimator(model), {"application": "search", "canonicalName": "/iris/boosting"})
    rows = X_CLS[::10]
    response = server.http.post(
        EXPLAIN, json={"application": "search", "canonicalName": "/iris/boosting", "entries": rows.tolist()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["explainer"] == "tree" and body["output"] == "margin" and body["number_labels"] == 3
    per_class = (np.asarray(body["expected"])[:, None] + np.asarray(body["shapley"]).sum(axis=-1)).T
    np.testing.assert_allclose(per_class, model.decision_function(rows), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(body["prediction"], model.predict_proba(rows), rtol=1e-9, atol=1e-12)

    # boosting started from a linear model has no exact Tree SHAP: without a stored sample, a 400 that says so
    started = GradientBoostingRegressor(n_estimators=5, init=LinearRegression()).fit(X_REG, Y_REG)
    store.save_model(GenomeEstimator(started), {"application": "search", "canonicalName": "/diabetes/started"})
    refused = server.http.post(
        EXPLAIN, json={"application": "search", "canonicalName": "/diabetes/started", "entries": X_REG[:1].tolist()}
    )
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "GradientBoostingRegressor" in message and "sampleExplanations" in message

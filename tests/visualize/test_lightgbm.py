"""LightGBM models read into TreeGraphs: checked against the booster's own trees, leaves and raw scores."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from genome.errors import InvalidInput
from genome.visualize import ModelVisualizer, extract

IRIS = load_iris()
DIABETES = load_diabetes()
CANCER = load_breast_cancer()
QUIET = {"verbose": -1, "min_child_samples": 5}


def _with_missing(X: np.ndarray) -> np.ndarray:
    X = X.copy()
    X[::7, 0] = np.nan
    X[3::11, 1:4] = np.nan
    return X


def _booster(model) -> lgb.Booster:
    return model.booster_ if hasattr(model, "booster_") else model


def _check(model, X: np.ndarray, rows: int | None = None) -> np.ndarray:
    """Every tree matches the booster's: structure, thresholds, leaves per record, and the raw score per class.
    ``rows``: the training set's size, which the root's count must equal (no bagging)."""
    booster = _booster(model)
    forest = extract(model)
    per_round = booster.num_model_per_iteration()
    assert forest.framework == "lightgbm" and forest.combine == "sum"
    assert forest.n_trees == booster.num_trees() and forest.classes_per_round == per_round
    assert forest.n_features == booster.num_feature() == X.shape[1]
    frame = booster.trees_to_dataframe()
    leaves = booster.predict(X, pred_leaf=True).reshape(len(X), forest.n_trees)
    raw = booster.predict(X, raw_score=True).reshape(len(X), per_round)
    total = np.zeros_like(raw)
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        assert graph.class_index == (index % per_round if per_round > 1 else None)
        assert not graph.strict and graph.input_dtype is np.float64 and graph.task == "raw"
        # trees_to_dataframe lists the nodes depth-first, left first: the TreeGraph's order
        nodes = frame[frame.tree_index == index].reset_index(drop=True)
        split = graph.left >= 0
        assert graph.node_count == len(nodes) and (~split).sum() == nodes.node_index.str.contains("-L").sum()
        numeric = split & (nodes.decision_type == "<=").to_numpy()
        np.testing.assert_array_equal(graph.threshold[numeric], nodes.threshold[numeric].astype(float))
        for node in graph.categories:
            assert graph.categories[node] == {float(c) for c in nodes.threshold[node].split("||")}
        np.testing.assert_array_equal(graph.samples, nodes["count"])
        np.testing.assert_allclose(graph.value[:, 0], nodes.value, rtol=1e-6)
        if rows is not None:
            assert graph.samples[0] == rows
        position = {name: at for at, name in enumerate(nodes.node_index)}
        expected = np.asarray([position[f"{index}-L{leaf}"] for leaf in leaves[:, index]])
        np.testing.assert_array_equal([graph.path(row)[-1] for row in X], expected)
        np.testing.assert_array_equal(graph.apply(X), expected)
        total[:, graph.class_index or 0] += graph.scale * graph.value[expected, 0]
    if booster.dump_model()["average_output"]:
        # a random forest's raw_score sums its rounds; its predictions average them, as the trees' scale does
        np.testing.assert_allclose(total * booster.current_iteration(), raw, rtol=1e-9, atol=1e-9)
    else:  # the starting score is folded into the first trees' leaves
        np.testing.assert_allclose(total, raw, rtol=1e-9, atol=1e-9)
    return total


CASES = [
    ("binary", lambda: lgb.LGBMClassifier(n_estimators=6, max_depth=3, num_leaves=8, **QUIET), CANCER),
    ("multiclass", lambda: lgb.LGBMClassifier(n_estimators=4, max_depth=3, num_leaves=8, **QUIET), IRIS),
    ("regression", lambda: lgb.LGBMRegressor(n_estimators=5, max_depth=4, num_leaves=12, **QUIET), DIABETES),
]


@pytest.mark.parametrize(("make", "data"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_trees_match_the_boosters_own_structure_leaves_and_raw_score(make, data) -> None:
    X = _with_missing(data.data)
    model = make().fit(X, data.target)
    _check(model, X, rows=len(X))
    # missing values where training had none: LightGBM reads them as 0 (missing_type None)
    test = data.data[:80].copy()
    test[::2, 4:9] = np.nan
    _check(model, test)


def test_a_booster_a_random_forest_and_zero_as_missing() -> None:
    X = _with_missing(DIABETES.data)
    booster = lgb.train({"max_depth": 3, **QUIET}, lgb.Dataset(X, DIABETES.target), num_boost_round=4)
    _check(booster, X, rows=len(X))
    forest = extract(booster)
    assert forest.estimator_class == "lightgbm.basic.Booster" and forest.prediction_type == "regression"
    assert forest.classes is None

    params = {"boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1, "objective": "multiclass", "num_class": 3}
    rf = lgb.train({**params, **QUIET}, lgb.Dataset(_with_missing(IRIS.data), IRIS.target), num_boost_round=3)
    total = _check(rf, _with_missing(IRIS.data))  # bagging: the root sees a sample of the rows
    assert extract(rf).tree(0).scale == pytest.approx(1 / 3) and extract(rf).prediction_type == "classification"
    softmax = np.exp(total) / np.exp(total).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, rf.predict(_with_missing(IRIS.data)), rtol=1e-9)

    # zero as missing: exact for missing values (the data holds no exact zeros, which LightGBM would send the
    # missing values' way; see the module's docstring)
    params = {"zero_as_missing": True, "num_leaves": 8, **QUIET}
    zero = lgb.train(params, lgb.Dataset(X, DIABETES.target), num_boost_round=3)
    assert not (X == 0).any()
    _check(zero, X, rows=len(X))


def test_categorical_splits_with_missing_and_unseen_categories() -> None:
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 8, 600), rng.normal(size=600), rng.normal(size=600)]
    X[::9, 1] = np.nan
    X[::13, 0] = np.nan
    y = ((np.nan_to_num(X[:, 0]) % 3 == 0) ^ (np.nan_to_num(X[:, 1]) > 0.3)).astype(int) + (X[:, 2] > 1)
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=8, **QUIET).fit(X, y, categorical_feature=[0])
    forest = extract(model)
    assert sum(bool(forest.tree(i).categories) for i in range(forest.n_trees)) >= forest.n_trees // 2
    _check(model, X, rows=len(X))
    test = X[:60].copy()
    test[::4, 0] = -1  # LightGBM sends negative categories right
    test[1::4, 0] = 11  # unseen
    test[2::4, 2] = np.nan
    _check(model, test)
    graph = next(forest.tree(i) for i in range(forest.n_trees) if forest.tree(i).categories)
    node = next(iter(graph.categories))
    assert not graph.missing_left[node]
    assert graph.condition(node, False, ["city", "x", "z"]).startswith("city not in {")


def test_feature_names_classes_and_rules() -> None:
    assert extract(lgb.LGBMRegressor(n_estimators=2, **QUIET).fit(DIABETES.data, DIABETES.target)).feature_names is None
    names = [name.replace(" ", "_") for name in CANCER.feature_names]
    frame = pd.DataFrame(_with_missing(CANCER.data), columns=names)
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=8, **QUIET).fit(frame, CANCER.target)
    forest = extract(model)
    assert forest.feature_names == names and forest.classes == [0, 1] and type(forest.classes[0]) is int
    assert extract(model, ["a"] * 30).feature_names == ["a"] * 30
    assert forest.estimator_class == "lightgbm.sklearn.LGBMClassifier"
    graph, X = forest.tree(1), frame.to_numpy()
    for record in X[:40]:
        path = graph.path(record)
        rules = graph.rules(path, names, record)
        assert 1 <= len(rules) <= len(path) - 1
        for rule in rules:
            assert any(name in rule for name in names)
            assert rule.endswith(" is missing") or any(op in rule.split() for op in ("<=", ">"))
    record, node = next((row, n) for row in X for n in graph.path(row)[:-1] if np.isnan(row[graph.feature[n]]))
    assert f"{names[graph.feature[node]]} is missing" in graph.rules(graph.path(record), names, record)


def test_the_visualizer_shows_a_boosted_tree_and_a_records_path() -> None:
    X = _with_missing(IRIS.data)
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=6, **QUIET).fit(X, IRIS.target)
    view = ModelVisualizer().fit(model, sample=X).visualize(tree=4, record=X[7].tolist())
    assert view["framework"] == "lightgbm" and view["treeClass"] == 1 and not view["strict"]
    assert view["nodes"][0]["samples"] == len(X) and view["data"]["nodes"]["0"]["rows"] == len(X)
    assert view["path"]["modelPrediction"] == model.predict(X[7:8])[0]
    json.dumps(view, allow_nan=False)


def test_linear_trees_are_refused() -> None:
    model = lgb.LGBMRegressor(n_estimators=2, linear_tree=True, **QUIET).fit(DIABETES.data, DIABETES.target)
    with pytest.raises(InvalidInput, match="linear trees") as error:
        extract(model)
    assert error.value.field == "model"


def test_raw_multiclass_boosters_views_carry_the_models_predictions() -> None:
    X, y = load_iris(return_X_y=True)
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=3)
    view = ModelVisualizer().fit(booster, sample=X).visualize(tree=2, record=X[60].tolist())
    assert view["path"]["modelPrediction"] == int(booster.predict(X[60:61]).argmax())
    assert view["data"]["groups"] == [0, 1, 2] and view["treeClass"] == 2
    assert sum(view["data"]["nodes"]["0"]["histogram"]["counts"][str(c)][i] for c in range(3) for i in range(10)) == 150

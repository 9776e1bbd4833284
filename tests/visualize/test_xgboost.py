"""XGBoost models read into TreeGraphs: checked against the booster's own trees, leaves and margins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from genome.errors import InvalidInput
from genome.visualize import ModelVisualizer, extract

IRIS = load_iris()
DIABETES = load_diabetes()
CANCER = load_breast_cancer()


def _with_missing(X: np.ndarray) -> np.ndarray:
    X = X.copy()
    X[::7, 0] = np.nan
    X[3::11, 1:4] = np.nan
    return X


def _booster(model):
    return model.get_booster() if hasattr(model, "get_booster") else model


def _base_margin(booster: xgb.Booster) -> np.ndarray:
    """The margin before any tree, from the saved config: XGBoost stores the base score in output space."""
    learner = json.loads(booster.save_config())["learner"]
    base = np.asarray(json.loads(learner["learner_model_param"]["base_score"]), dtype=np.float64)
    if learner["objective"]["name"] == "binary:logistic":
        return np.log(base / (1 - base))
    return base


def _preorder(node: dict, order: list[int] | None = None) -> list[int]:
    """The dump's node ids depth-first, ``yes`` first: the order a TreeGraph numbers them."""
    order = [] if order is None else order
    order.append(node["nodeid"])
    children = {child["nodeid"]: child for child in node.get("children", [])}
    if children:
        _preorder(children[node["yes"]], order)
        _preorder(children[node["no"]], order)
    return order


def _check(model, table: np.ndarray, dmatrix: xgb.DMatrix) -> None:
    """Every tree matches the booster's: structure, thresholds, leaves per record of ``table`` (``dmatrix`` as the
    booster reads it), and the margin per class."""
    booster = _booster(model)
    forest = extract(model)
    config = json.loads(booster.save_raw("json"))["learner"]
    n_classes = max(int(config["learner_model_param"]["num_class"]), 1)
    gradient = config["gradient_booster"]
    tree_info = gradient.get("gbtree", gradient)["model"]["tree_info"]  # DART wraps a gbtree
    assert forest.framework == "xgboost" and forest.combine == "sum"
    assert forest.n_trees == len(tree_info) == booster.num_boosted_rounds() * n_classes * _parallel(booster)
    assert forest.classes_per_round == n_classes and forest.n_features == table.shape[1]
    frame = booster.trees_to_dataframe()
    dumps = [json.loads(dump) for dump in booster.get_dump(dump_format="json", with_stats=True)]
    leaves = booster.predict(dmatrix, pred_leaf=True).reshape(len(table), forest.n_trees).astype(int)
    margin = booster.predict(dmatrix, output_margin=True).reshape(len(table), n_classes)
    total = np.zeros_like(margin, dtype=np.float64)
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        assert graph.class_index == (tree_info[index] if n_classes > 1 else None)
        assert graph.strict and graph.input_dtype is np.float32 and graph.task == "raw"
        rows = frame[frame.Tree == index].set_index("Node")
        ids = _preorder(dumps[index])
        assert graph.node_count == len(rows) and (graph.left < 0).sum() == (rows.Feature == "Leaf").sum()
        ordered = rows.loc[ids]
        split = graph.left >= 0
        categorical = np.isin(np.arange(graph.node_count), list(graph.categories))
        numeric = split & ~categorical
        for node in graph.categories:
            assert sorted(graph.categories[node]) == sorted(float(c) for c in ordered.Category.iloc[node])
        np.testing.assert_array_equal(
            graph.threshold[numeric].astype(np.float32), ordered.Split.to_numpy()[numeric].astype(np.float32)
        )
        np.testing.assert_allclose(graph.weight, ordered.Cover, rtol=1e-6)
        # trees_to_dataframe puts a leaf's value in its Gain column
        np.testing.assert_array_equal(
            graph.value[~split, 0].astype(np.float32), ordered.Gain.to_numpy()[~split].astype(np.float32)
        )
        expected = np.asarray([ids.index(leaf) for leaf in leaves[:, index]])
        np.testing.assert_array_equal([graph.path(row)[-1] for row in table], expected)
        np.testing.assert_array_equal(graph.apply(table), expected)
        total[:, graph.class_index or 0] += graph.scale * graph.value[expected, 0]
    # XGBoost sums in float32
    np.testing.assert_allclose(total + _base_margin(booster), margin, rtol=1e-5, atol=1e-5)


def _parallel(booster: xgb.Booster) -> int:
    gradient = json.loads(booster.save_config())["learner"]["gradient_booster"]
    return int(gradient.get("gbtree", gradient)["gbtree_model_param"]["num_parallel_tree"])


CASES = [
    ("binary", lambda: xgb.XGBClassifier(n_estimators=6, max_depth=3), CANCER, True),
    ("multiclass", lambda: xgb.XGBClassifier(n_estimators=4, max_depth=3), IRIS, True),
    ("regression", lambda: xgb.XGBRegressor(n_estimators=5, max_depth=4), DIABETES, True),
    (
        "parallel-trees",
        lambda: xgb.XGBClassifier(
            n_estimators=3, max_depth=3, num_parallel_tree=2, subsample=0.8, colsample_bynode=0.8, random_state=0
        ),
        IRIS,
        False,
    ),
    (
        "dart",
        lambda: xgb.XGBRegressor(
            booster="dart", n_estimators=5, max_depth=3, rate_drop=0.5, one_drop=1, random_state=0
        ),
        DIABETES,
        False,
    ),
    ("lossguide", lambda: xgb.XGBRegressor(n_estimators=3, grow_policy="lossguide", max_leaves=9), DIABETES, False),
]


@pytest.mark.parametrize(("make", "data", "missing"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_trees_match_the_boosters_own_structure_leaves_and_margin(make, data, missing) -> None:
    X = _with_missing(data.data) if missing else data.data
    model = make().fit(X, data.target)
    _check(model, X, xgb.DMatrix(X))
    if model.booster == "dart":  # dropped trees weigh less
        assert any(extract(model).tree(i).scale < 1 for i in range(5))
    if missing:  # records missing values in features the training set had whole
        test = data.data[:60].copy()
        test[::2, 5:9] = np.nan
        _check(model, test, xgb.DMatrix(test))


def test_a_booster_with_its_feature_names_and_the_root_cover() -> None:
    names = [name.replace(" ", "_") for name in DIABETES.feature_names]
    train = xgb.DMatrix(DIABETES.data, DIABETES.target, feature_names=names)
    booster = xgb.train({"max_depth": 3, "objective": "reg:squarederror"}, train, num_boost_round=4)
    forest = extract(booster)
    assert forest.feature_names == names and forest.classes is None and forest.prediction_type == "regression"
    assert forest.estimator_class == "xgboost.core.Booster"
    # squared error's hessian is 1 per row, so the root's cover is the training set's size
    assert all(forest.tree(i).weight[0] == pytest.approx(len(DIABETES.data)) for i in range(forest.n_trees))
    _check(booster, DIABETES.data, train)
    assert extract(booster, ["a"] * 10).feature_names == ["a"] * 10

    classifier = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(IRIS.data, IRIS.target)
    forest = extract(classifier)
    assert forest.feature_names is None and forest.classes == [0, 1, 2] and type(forest.classes[0]) is int
    assert forest.prediction_type == "classification"
    assert forest.estimator_class == "xgboost.sklearn.XGBClassifier"


@pytest.mark.parametrize("onehot", [1, 16], ids=["partition", "one-hot"])
def test_categorical_splits(onehot) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"city": pd.Categorical(rng.integers(0, 6, 500)), "x": rng.normal(size=500)})
    frame.loc[::7, "x"] = np.nan
    target = ((frame.city.cat.codes % 2 == 0) ^ (frame.x.fillna(0) > 0.3)).astype(int)
    model = xgb.XGBClassifier(n_estimators=4, max_depth=3, enable_categorical=True, max_cat_to_onehot=onehot)
    model.fit(frame, target)
    forest = extract(model)
    assert forest.feature_names == ["city", "x"]
    assert any(forest.tree(i).categories for i in range(forest.n_trees))
    codes = np.c_[frame.city.cat.codes.to_numpy(float), frame.x.to_numpy()]
    _check(model, codes, xgb.DMatrix(frame, enable_categorical=True))
    graph = forest.tree(0)
    node = next(iter(graph.categories))
    assert graph.condition(node, True, forest.feature_names).startswith("city in {")


def test_rules_read_as_plain_conditions() -> None:
    names = [str(name) for name in CANCER.feature_names]
    X = _with_missing(CANCER.data)
    model = xgb.XGBClassifier(n_estimators=3, max_depth=4).fit(X, CANCER.target)
    graph = extract(model, names).tree(0)
    for record in X[:40]:
        path = graph.path(record)
        rules = graph.rules(path, names, record)
        assert 1 <= len(rules) <= len(path) - 1
        for rule in rules:
            assert any(name in rule for name in names)
            assert rule.endswith(" is missing") or any(op in rule.split() for op in ("<", ">="))
    # a record missing a feature its path tests
    record, node = next((row, n) for row in X for n in graph.path(row)[:-1] if np.isnan(row[graph.feature[n]]))
    assert f"{names[graph.feature[node]]} is missing" in graph.rules(graph.path(record), names, record)


def test_the_visualizer_shows_a_boosted_tree_and_a_records_path() -> None:
    names = [str(name) for name in CANCER.feature_names]
    X = _with_missing(CANCER.data)
    model = xgb.XGBClassifier(n_estimators=3, max_depth=3).fit(X, CANCER.target)
    visualizer = ModelVisualizer().fit(model, feature_names=names, sample=X[:100])
    view = visualizer.visualize(tree=2, record=X[0].tolist())
    assert view["framework"] == "xgboost" and view["strict"] and view["combine"] == "sum"
    internal = [node for node in view["nodes"] if not node["leaf"]]
    assert all(node["value"] is None and node["samples"] is None for node in internal)
    assert view["path"]["leaf"] == extract(model).tree(2).path(X[0])[-1]
    assert view["path"]["modelPrediction"] == model.predict(X[:1])[0]
    json.dumps(view, allow_nan=False)


def test_models_without_trees_are_refused() -> None:
    linear = xgb.XGBRegressor(booster="gblinear", n_estimators=2).fit(DIABETES.data, DIABETES.target)
    with pytest.raises(InvalidInput, match="cannot be visualized"):
        extract(linear)
    multi = xgb.XGBRegressor(n_estimators=2, max_depth=2).fit(DIABETES.data, np.c_[DIABETES.target, DIABETES.target])
    with pytest.raises(InvalidInput, match="2 targets") as error:
        extract(multi)
    assert error.value.field == "model"


def test_raw_boosters_views_carry_the_models_predictions() -> None:
    X, y = load_iris(return_X_y=True)
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=3
    )
    view = ModelVisualizer().fit(booster, sample=X).visualize(tree=4, record=X[120].tolist())
    probabilities = booster.predict(xgb.DMatrix(X))
    assert view["path"]["modelPrediction"] == int(probabilities[120].argmax())
    assert view["data"]["groups"] == [0, 1, 2] and view["treeClass"] == 1
    assert view["data"]["nodes"]["0"]["rows"] == len(X)

"""What the visualizer does with models and inputs at the edges: re-encoded categories, ensembles it must refuse,
records a model cannot take, bad stored samples, views bounded by their size."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from genome.errors import InvalidInput
from genome.visualize import ModelVisualizer, TreeGraph, extract
from genome.visualize.svg import render_tree

IRIS = load_iris()
DIABETES = load_diabetes()


def test_hist_gradient_boosting_categories_are_shown_by_input_column_and_raw_value() -> None:
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=500), rng.choice([10.0, 20.0, 30.0], 500), rng.normal(size=500)]
    y = X[:, 0] + 3 * (X[:, 1] == 20) - X[:, 2]
    model = HistGradientBoostingRegressor(max_iter=5, categorical_features=[1], random_state=0).fit(X, y)
    forest = extract(model, ["num", "cat", "other"])
    raw = np.full(len(X), float(np.ravel(model._baseline_prediction)[0]))
    splits_on_category = []
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        raw += graph.value[graph.apply(X), 0]
        splits_on_category += [graph.categories[n] for n in graph.categories]
        assert all(graph.feature[n] == 1 for n in graph.categories)  # the categorical column, where the caller put it
    np.testing.assert_allclose(raw, model.predict(X), atol=1e-9)
    assert splits_on_category and all(values <= {10.0, 20.0, 30.0} for values in splits_on_category)


@pytest.mark.parametrize(
    "model",
    [
        AdaBoostClassifier(n_estimators=3, random_state=0),
        BaggingClassifier(DecisionTreeClassifier(), n_estimators=3, max_features=2, random_state=0),
        IsolationForest(n_estimators=3, random_state=0),
        VotingClassifier([("a", DecisionTreeClassifier()), ("b", DecisionTreeClassifier(max_depth=2))]),
        StackingClassifier([("a", DecisionTreeClassifier())], final_estimator=LogisticRegression(max_iter=500)),
        SVC(kernel="linear"),
    ],
    ids=lambda model: type(model).__name__,
)
def test_ensembles_that_combine_trees_otherwise_are_refused_by_name(model) -> None:
    model.fit(IRIS.data, IRIS.target)
    with pytest.raises(InvalidInput, match=type(model).__name__) as error:
        ModelVisualizer().fit(model)
    assert error.value.field == "model"


def test_multi_output_models_are_refused_by_name() -> None:
    targets = np.c_[IRIS.target, IRIS.target % 2]
    for model in (DecisionTreeClassifier(), RandomForestClassifier(n_estimators=2), DecisionTreeRegressor()):
        model.fit(IRIS.data, targets)
        with pytest.raises(InvalidInput, match="outputs") as error:
            ModelVisualizer().fit(model)
        assert error.value.field == "model"
    with pytest.raises(InvalidInput, match="MultiOutputRegressor"):
        ModelVisualizer().fit(MultiOutputRegressor(DecisionTreeRegressor()).fit(IRIS.data, targets))


def test_records_a_model_cannot_take_are_the_callers_error() -> None:
    linear = ModelVisualizer().fit(LinearRegression().fit(DIABETES.data, DIABETES.target))
    with pytest.raises(InvalidInput, match="cannot take this record") as error:
        linear.visualize(record=[None] * 10)
    assert error.value.field == "record"
    boosted = ModelVisualizer().fit(GradientBoostingRegressor(n_estimators=2).fit(DIABETES.data, DIABETES.target))
    with pytest.raises(InvalidInput, match="finite") as error:
        boosted.visualize(record=[float("inf")] + [0.0] * 9)
    assert error.value.field == "record"
    # a tree takes a missing value and says where it went
    tree = ModelVisualizer().fit(DecisionTreeRegressor(max_depth=2).fit(DIABETES.data, DIABETES.target))
    view = tree.visualize(record=[None] * 10)
    assert any(step["missing"] for step in view["path"]["steps"]) and "is missing" in view["path"]["rule"]


def test_a_single_leaf_tree_of_one_class() -> None:
    model = DecisionTreeClassifier().fit(IRIS.data, np.zeros(len(IRIS.data), dtype=int))
    view = ModelVisualizer().fit(model, sample=IRIS.data).visualize(record=IRIS.data[0].tolist())
    assert view["totalNodes"] == 1 and view["nodes"][0]["leaf"]
    assert view["path"]["rule"] == "always → 0" and view["path"]["modelPrediction"] == 0
    assert render_tree(view).count('class="node leaf') == 1


def test_a_dataframe_pipeline_that_picks_columns_by_name() -> None:
    names = [name.replace(" (cm)", "").replace(" ", "_") for name in IRIS.feature_names]
    frame = pd.DataFrame(IRIS.data, columns=names)
    columns = ColumnTransformer([("scaled", StandardScaler(), ["petal_length", "petal_width"])], remainder="drop")
    pipeline = make_pipeline(columns, DecisionTreeClassifier(max_depth=3, random_state=0)).fit(frame, IRIS.target)
    visualizer = ModelVisualizer().fit(pipeline, sample=IRIS.data, targets=IRIS.target)
    record = dict(zip(names, IRIS.data[100].tolist(), strict=True))
    view = visualizer.visualize(record=record)
    assert view["featureNames"] == ["scaled__petal_length", "scaled__petal_width"]
    assert view["path"]["modelPrediction"] == pipeline.predict(frame.iloc[[100]])[0]
    assert view["data"]["nodes"]["0"]["rows"] == 150


def test_feature_names_and_classes_that_do_not_fit_the_model() -> None:
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(DIABETES.data, label=DIABETES.target), num_boost_round=2)
    with pytest.raises(InvalidInput, match="takes 10 features but 2 feature names") as error:
        ModelVisualizer().fit(booster, feature_names=["a", "b"])
    assert error.value.field == "feature_names"
    named = xgb.train(
        {"max_depth": 2},
        xgb.DMatrix(DIABETES.data, label=DIABETES.target, feature_names=list(DIABETES.feature_names)),
        num_boost_round=2,
    )
    record = dict(zip(DIABETES.feature_names, DIABETES.data[0].tolist(), strict=True))
    view = ModelVisualizer().fit(named).visualize(record=record)
    assert view["path"]["record"]["bmi"] == pytest.approx(DIABETES.data[0][2])

    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(IRIS.data, IRIS.target)
    view = ModelVisualizer().fit(forest, target_classes=["only-one"]).visualize(record=IRIS.data[0].tolist())
    assert view["targetClasses"] == [0, 1, 2] and view["path"]["prediction"] == 0


def test_multi_output_xgboost_trees_are_refused() -> None:
    model = xgb.XGBClassifier(n_estimators=2, tree_method="hist", multi_strategy="multi_output_tree")
    model.fit(IRIS.data, IRIS.target)
    with pytest.raises(InvalidInput, match="multi_output_tree"):
        ModelVisualizer().fit(model)


def test_a_bad_stored_sample_is_named_and_missing_targets_are_skipped() -> None:
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(DIABETES.data, DIABETES.target)
    with pytest.raises(InvalidInput, match=r"shape \(442, 2\)") as error:
        ModelVisualizer().fit(model, sample=DIABETES.data[:, :2])
    assert error.value.field == "samples"
    with pytest.raises(InvalidInput, match="targets"):
        ModelVisualizer().fit(model, sample=DIABETES.data, targets=DIABETES.target[:10])
    targets = DIABETES.target.copy()
    targets[::3] = np.nan
    view = ModelVisualizer().fit(model, sample=DIABETES.data, targets=targets).visualize()
    root = view["data"]["nodes"]["0"]
    assert root["summary"]["count"] == np.isfinite(targets).sum() and np.isfinite(root["summary"]["mean"])
    assert "nan" not in render_tree(view)
    json.dumps(view, allow_nan=False)


def test_views_of_many_classes_hold_fewer_nodes_and_a_half_shown_node_is_collapsed() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 5)), rng.integers(0, 300, 3000)
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    view = ModelVisualizer(max_nodes=4095).fit(model, sample=X, targets=y).visualize(depth=64, max_nodes=4095)
    assert view["truncated"] and view["shownNodes"] < 100
    assert len(json.dumps(view)) < 4_000_000

    small = DecisionTreeClassifier(random_state=0).fit(IRIS.data, IRIS.target)
    view = ModelVisualizer().fit(small).visualize(depth=10, max_nodes=4)
    shown = {node["id"] for node in view["nodes"]}
    for node in view["nodes"]:
        if not node["leaf"]:
            assert node["collapsed"] == (node["left"] not in shown or node["right"] not in shown)
    assert any(node["collapsed"] and node["left"] in shown for node in view["nodes"])


def test_links_of_generalized_linear_models() -> None:
    poisson = ModelVisualizer().fit(PoissonRegressor().fit(DIABETES.data, DIABETES.target)).visualize()
    assert poisson["link"] == "log"


def test_a_node_reached_twice_is_a_corrupt_tree() -> None:
    with pytest.raises(InvalidInput, match="not a tree"):
        TreeGraph(
            feature=np.array([0, -1]),
            threshold=np.array([0.5, np.nan]),
            left=np.array([1, -1]),
            right=np.array([1, -1]),
            missing_left=np.array([False, False]),
            value=np.zeros((2, 1)),
            task="regression",
        )


def test_missing_versus_present_splits_read_in_words() -> None:
    graph = TreeGraph(
        feature=np.array([0, -1, -1]),
        threshold=np.array([np.inf, np.nan, np.nan]),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        missing_left=np.array([False, False, False]),
        value=np.array([[0.0], [1.0], [2.0]]),
        task="regression",
    )
    assert graph.path(np.array([3.0])) == [0, 1] and graph.path(np.array([np.nan])) == [0, 2]
    assert graph.rules([0, 1], ["age"], np.array([3.0])) == ["age is not missing"]
    assert graph.rules([0, 2], ["age"], np.array([np.nan])) == ["age is missing"]

"""scikit-learn models read into TreeGraphs and linear views: checked against the models' own structure and
predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from genome.errors import InvalidInput, NotFitted
from genome.visualize import Forest, LinearModel, ModelVisualizer, extract

IRIS = load_iris()
DIABETES = load_diabetes()
CANCER = load_breast_cancer()

SINGLE_AND_FORESTS = [
    (DecisionTreeClassifier(max_depth=4, random_state=0), IRIS),
    (DecisionTreeRegressor(max_depth=5, random_state=0), DIABETES),
    (RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), IRIS),
    (RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0), DIABETES),
    (ExtraTreesClassifier(n_estimators=4, max_depth=4, random_state=0), CANCER),
    (ExtraTreesRegressor(n_estimators=4, max_depth=4, random_state=0), DIABETES),
]


def _leaf_values(forest: Forest, index: int, X: np.ndarray) -> tuple[list[int], np.ndarray]:
    graph = forest.tree(index)
    leaves = [graph.path(row)[-1] for row in X]
    return leaves, graph.value[leaves]


@pytest.mark.parametrize(("model", "data"), SINGLE_AND_FORESTS, ids=lambda p: type(p).__name__)
def test_trees_and_forests_match_the_models_own_structure_and_predictions(model, data) -> None:
    X, y = data.data, data.target
    model.fit(X, y)
    forest = extract(model)
    trees = getattr(model, "estimators_", [model])
    assert forest.n_trees == len(trees) and forest.n_features == X.shape[1]
    for index, estimator in enumerate(trees):
        graph, tree = forest.tree(index), estimator.tree_
        assert graph.node_count == tree.node_count and graph.max_depth == tree.max_depth
        assert (graph.left < 0).sum() == tree.n_leaves
        np.testing.assert_array_equal(graph.left, tree.children_left)
        np.testing.assert_array_equal(graph.right, tree.children_right)
        split = tree.children_left >= 0
        np.testing.assert_array_equal(graph.feature[split], tree.feature[split])
        np.testing.assert_array_equal(graph.threshold[split], tree.threshold[split])
        # the root holds every training row (a bootstrap forest: the bootstrap's weighted count)
        assert graph.weight[0] == pytest.approx(X.shape[0])
        leaves, values = _leaf_values(forest, index, X)
        np.testing.assert_array_equal(leaves, estimator.apply(X.astype(np.float32)))
        if forest.prediction_type == "classification":
            proportions = values / values.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(proportions, estimator.predict_proba(X), atol=1e-12)
        else:
            np.testing.assert_allclose(values[:, 0], estimator.predict(X))
    # the whole model's prediction, combined from the extracted trees
    visualizer = ModelVisualizer().fit(model)
    for row, expected in zip(X[::15], model.predict(X[::15]), strict=True):
        assert visualizer.visualize(record=row.tolist())["path"]["modelPrediction"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0), IRIS),
        (GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=0), CANCER),
        (GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0), DIABETES),
    ],
    ids=["gb-multiclass", "gb-binary", "gb-regression"],
)
def test_gradient_boosting_trees_sum_to_the_models_raw_score(model, data) -> None:
    X, y = data.data, data.target
    model.fit(X, y)
    forest = extract(model)
    rounds, per_class = model.estimators_.shape
    assert forest.n_trees == rounds * per_class and forest.classes_per_round == per_class
    raw = np.zeros((X.shape[0], per_class))
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        round_, k = divmod(index, per_class)
        assert graph.class_index == (k if per_class > 1 else None)
        assert graph.scale == model.learning_rate and graph.task == "raw"
        assert graph.samples[0] == X.shape[0]
        _, values = _leaf_values(forest, index, X)
        np.testing.assert_allclose(values[:, 0], model.estimators_[round_, k].predict(X))
        raw[:, k] += graph.scale * values[:, 0]
    baseline = model._raw_predict_init(X)
    expected = model.decision_function(X) if forest.prediction_type == "classification" else model.predict(X)
    np.testing.assert_allclose((baseline + raw).reshape(expected.shape), expected, atol=1e-9)


def test_hist_gradient_boosting_with_missing_values_and_categories() -> None:
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 6, 400), rng.normal(size=400), rng.normal(size=400)]
    X[::9, 1] = np.nan
    y = ((X[:, 0] % 2 == 0) ^ (np.nan_to_num(X[:, 1]) > 0.3)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=8, categorical_features=[0], random_state=0).fit(X, y)
    forest = extract(model)
    assert forest.n_trees == model.n_iter_ and forest.combine == "sum"
    assert any(forest.tree(i).categories for i in range(forest.n_trees))
    raw = np.full(X.shape[0], float(np.ravel(model._baseline_prediction)[0]))
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        nodes = model._predictors[index][0].nodes
        assert graph.node_count == len(nodes) and graph.samples[0] == X.shape[0]
        leaves = [graph.path(row)[-1] for row in X]
        np.testing.assert_array_equal(graph.apply(X), leaves)  # categories and missing values, all rows at once
        raw += graph.value[leaves, 0]
    np.testing.assert_allclose(raw, model.decision_function(X), atol=1e-9)

    regressor = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(DIABETES.data, DIABETES.target)
    forest = extract(regressor)
    raw = np.full(DIABETES.data.shape[0], float(np.ravel(regressor._baseline_prediction)[0]))
    for index in range(forest.n_trees):
        graph = forest.tree(index)
        raw += graph.value[[graph.path(row)[-1] for row in DIABETES.data], 0]
    np.testing.assert_allclose(raw, regressor.predict(DIABETES.data), atol=1e-9)


def test_a_records_path_in_words_and_the_view_bounds() -> None:
    model = DecisionTreeRegressor(max_depth=6, random_state=0).fit(DIABETES.data, DIABETES.target)
    names = list(DIABETES.feature_names)
    visualizer = ModelVisualizer(depth=2, max_nodes=100).fit(model, feature_names=names)
    record = DIABETES.data[5]
    view = visualizer.visualize(record=dict(zip(names, record.tolist(), strict=True)))
    assert view["kind"] == "tree" and view["root"] == 0 and view["truncated"]
    assert view["shownNodes"] == len(view["nodes"]) == 7  # two levels below the root
    assert view["totalNodes"] == model.tree_.node_count
    collapsed = [node for node in view["nodes"] if node["collapsed"]]
    assert len(collapsed) == 4 and all(node["descendants"] > 0 for node in collapsed)
    path = view["path"]
    assert path["nodes"] == model.decision_path(record[None].astype(np.float32)).indices.tolist()
    assert path["leaf"] == model.apply(record[None].astype(np.float32))[0]
    assert path["prediction"] == pytest.approx(model.predict(record[None])[0])
    assert path["modelPrediction"] == pytest.approx(model.predict(record[None])[0])
    for step in path["steps"]:
        assert step["wentLeft"] == (step["value"] <= step["threshold"])
        assert step["feature"] in names
    assert path["rule"].endswith(f"→ {path['prediction']:.4g}")
    assert all(rule.split()[0] in names or rule.split()[2] in names for rule in path["rules"])

    # a subtree by node, and a budget smaller than the window
    deep = visualizer.visualize(node=path["nodes"][3], depth=10, max_nodes=5)
    assert deep["root"] == path["nodes"][3] and deep["shownNodes"] <= 5
    assert visualizer.visualize(depth=64, max_nodes=10_000)["shownNodes"] <= 100
    json.dumps(view, allow_nan=False)  # plain JSON: no NaN or numpy values


def test_bad_requests_name_the_field() -> None:
    visualizer = ModelVisualizer().fit(DecisionTreeClassifier(max_depth=2).fit(IRIS.data, IRIS.target))
    with pytest.raises(InvalidInput, match="tree 3 does not exist") as error:
        visualizer.visualize(tree=3)
    assert error.value.field == "tree"
    with pytest.raises(InvalidInput) as error:
        visualizer.visualize(node=999)
    assert error.value.field == "node"
    with pytest.raises(InvalidInput, match="3 values; expected 4 features") as error:
        visualizer.visualize(record=[1.0, 2.0, 3.0])
    assert error.value.field == "record"
    with pytest.raises(InvalidInput, match="KNeighborsClassifier") as error:
        ModelVisualizer().fit(KNeighborsClassifier().fit(IRIS.data, IRIS.target))
    with pytest.raises(NotFitted):
        ModelVisualizer().visualize()


def test_node_data_from_a_sample_by_class_and_by_value() -> None:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(IRIS.data, IRIS.target)
    view = ModelVisualizer().fit(model, sample=IRIS.data, targets=IRIS.target).visualize()
    data = view["data"]
    assert data["rows"] == 150 and data["groupBy"] == "target" and data["groups"] == [0, 1, 2]
    for node in view["nodes"]:
        entry = data["nodes"][str(node["id"])]
        assert entry["rows"] == node["samples"]  # the sample is the training set
        if node["leaf"]:
            assert [entry["classCounts"][str(c)] for c in range(3)] == node["classCounts"]
        else:
            histogram = entry["histogram"]
            assert histogram["feature"] == node["feature"] and len(histogram["edges"]) == 11
            assert sum(sum(counts) for counts in histogram["counts"].values()) == entry["rows"]

    regressor = DecisionTreeRegressor(max_depth=3, random_state=0).fit(DIABETES.data, DIABETES.target)
    # the seed names a regressor's target in target_classes: no classes come of it
    view = ModelVisualizer().fit(regressor, target_classes=["progression"], sample=DIABETES.data[:100]).visualize()
    assert view["targetClasses"] is None
    assert view["data"]["groupBy"] == "prediction"
    root = view["data"]["nodes"]["0"]
    assert root["rows"] == 100 and len(root["scatter"]["x"]) == 100
    assert root["summary"]["mean"] == pytest.approx(regressor.predict(DIABETES.data[:100]).mean())


def test_pipelines_show_the_final_estimator_after_the_transforms() -> None:
    names = [name.replace(" (cm)", "").replace(" ", "_") for name in IRIS.feature_names]
    pipeline = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0))
    pipeline.fit(IRIS.data, IRIS.target)
    view = (
        ModelVisualizer()
        .fit(pipeline, feature_names=names, sample=IRIS.data)
        .visualize(tree=1, record=IRIS.data[70].tolist())
    )
    assert [step["name"] for step in view["pipeline"]] == ["standardscaler", "randomforestclassifier"]
    scaled = pipeline[:-1].transform(IRIS.data[70:71])[0]
    assert list(view["path"]["record"].values()) == pytest.approx(scaled)
    assert view["path"]["input"] == IRIS.data[70].tolist()
    assert view["path"]["leaf"] == pipeline[-1].estimators_[1].apply(scaled[None].astype(np.float32))[0]
    assert view["path"]["modelPrediction"] == pipeline.predict(IRIS.data[70:71])[0]
    assert view["data"]["nodes"]["0"]["rows"] == 150


@pytest.mark.parametrize(
    ("model", "data", "link"),
    [
        (LinearRegression(), DIABETES, "identity"),
        (Ridge(alpha=0.5), DIABETES, "identity"),
        (LogisticRegression(max_iter=5000), CANCER, "logistic"),
        (LogisticRegression(max_iter=1000), IRIS, "softmax"),
    ],
    ids=["linear", "ridge", "logistic-binary", "logistic-multinomial"],
)
def test_linear_models_coefficients_per_class_by_feature(model, data, link) -> None:
    model.fit(data.data, data.target)
    names = [str(name) for name in data.feature_names]
    extracted = extract(model, names)
    assert isinstance(extracted, LinearModel) and extracted.link == link
    np.testing.assert_array_equal(extracted.coefficients, np.atleast_2d(model.coef_))
    view = ModelVisualizer().fit(model, feature_names=names).visualize(record=data.data[3].tolist())
    assert view["kind"] == "linear"
    for row, coefficients in zip(np.atleast_2d(model.coef_), view["coefficients"], strict=True):
        assert list(coefficients["weights"]) == names
        assert list(coefficients["weights"].values()) == pytest.approx(row)
    assert [c["intercept"] for c in view["coefficients"]] == pytest.approx(np.atleast_1d(model.intercept_))
    scores = [output["score"] for output in view["record"]["outputs"]]
    expected = model.decision_function(data.data[3:4]) if hasattr(model, "classes_") else model.predict(data.data[3:4])
    assert scores == pytest.approx(np.ravel(expected))
    for output in view["record"]["outputs"]:
        assert sum(output["contributions"].values()) == pytest.approx(
            output["score"] - next(c["intercept"] for c in view["coefficients"] if c["output"] == output["output"])
        )


def test_apply_finds_every_rows_leaf_at_once() -> None:
    X = DIABETES.data.copy()
    X[::5, 2] = np.nan
    model = HistGradientBoostingRegressor(max_iter=3, random_state=0).fit(X, DIABETES.target)
    for index in range(3):
        graph = extract(model).tree(index)
        np.testing.assert_array_equal(graph.apply(X), [graph.path(row)[-1] for row in X])
    tree = DecisionTreeClassifier(random_state=0).fit(IRIS.data, IRIS.target)
    np.testing.assert_array_equal(extract(tree).tree(0).apply(IRIS.data), tree.apply(IRIS.data.astype(np.float32)))

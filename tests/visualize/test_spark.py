"""Spark ML models read from the files Spark saved (pyarrow only, no JVM on the reading side), checked against the
JVM's own trees: structure, thresholds, per-tree leaves and whole-model predictions, coefficients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    GBTClassifier,
    LogisticRegression,
    NaiveBayes,
    RandomForestClassifier,
)
from pyspark.ml.feature import VectorIndexer
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, LinearRegression, RandomForestRegressor
from pyspark.sql import DataFrame, SparkSession
from sklearn.datasets import load_diabetes, load_iris, make_classification

from genome.errors import InvalidInput
from genome.formats.bundle import extracted, pack, unpack
from genome.visualize import Forest, LinearModel, ModelVisualizer
from genome.visualize._spark import read_saved

RECORDS = 50  # records whose per-tree leaves are checked one by one against the JVM (one py4j call each)


def _with_category(X: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """X plus a column of 4 categories that follows ``groups`` loosely, so trees may split on it."""
    rng = np.random.default_rng(seed)
    return np.column_stack([X, (groups + rng.integers(0, 2, len(groups))) % 4])


def _frame(spark: SparkSession, X: np.ndarray, y: np.ndarray) -> DataFrame:
    """A DataFrame to train on; VectorIndexer marks the columns with few values categorical, as a Spark user would."""
    raw = spark.createDataFrame([(Vectors.dense(row), float(label)) for row, label in zip(X, y, strict=True)])
    raw = raw.toDF("raw", "label")
    indexer = VectorIndexer(inputCol="raw", outputCol="features", maxCategories=4).fit(raw)
    return indexer.transform(raw).select("features", "label").cache()


@pytest.fixture(scope="module")
def iris(spark: SparkSession) -> DataFrame:
    X, y = load_iris(return_X_y=True)
    return _frame(spark, _with_category(X, y, seed=0), y)


@pytest.fixture(scope="module")
def diabetes(spark: SparkSession) -> DataFrame:
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:200], y[:200]
    return _frame(spark, _with_category(X, np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75])), seed=1), y)


@pytest.fixture(scope="module")
def binary(spark: SparkSession) -> DataFrame:
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
    return _frame(spark, _with_category(X, y, seed=2), y)


def _table(frame: DataFrame) -> np.ndarray:
    """The training rows as the model sees them (after VectorIndexer)."""
    return np.asarray([row.features.toArray() for row in frame.select("features").collect()])


def _predictions(model: Any, frame: DataFrame) -> np.ndarray:
    return np.asarray([row.prediction for row in model.transform(frame).select("prediction").collect()])


def _saved(model: Any, feature_names: list[str] | None = None) -> Forest | LinearModel:
    """The model packed into a bundle with the spark-ml format, then read back from the bundle's files alone."""
    data, manifest = pack(model, {})
    assert manifest["format"] == "spark-ml" and manifest["modelFile"] == "model.spark"
    with extracted(data) as (folder, manifest):
        return read_saved(folder / manifest["modelFile"], manifest["modelClass"], feature_names)


def _java_nodes(tree: Any) -> list[dict[str, Any]]:
    """The JVM's nodes of one tree, depth-first with the left child first: the order a TreeGraph numbers them."""
    nodes, stack = [], [tree._java_obj.rootNode()]
    while stack:
        node = stack.pop()
        entry = {"prediction": node.prediction(), "impurity": node.impurity(), "feature": -1}
        entry["stats"] = list(node.impurityStats().stats())
        if node.getClass().getSimpleName() == "InternalNode":
            split = node.split()
            entry["feature"] = split.featureIndex()
            entry["gain"] = node.gain()
            if split.getClass().getSimpleName() == "ContinuousSplit":
                entry["threshold"] = split.threshold()
            else:
                entry["categories"] = frozenset(split.leftCategories())
            stack.extend((node.rightChild(), node.leftChild()))
        nodes.append(entry)
    return nodes


def _combined(forest: Forest, table: np.ndarray) -> np.ndarray:
    """The whole model's prediction from its leaves, as Spark joins its trees."""
    trees = [forest.tree(i) for i in range(forest.n_trees)]
    leaves = [graph.value[graph.apply(table)] for graph in trees]
    classification = forest.prediction_type == "classification"
    if forest.combine == "sum":  # GBT: weighted sum of raw scores; a classifier predicts 1 when the margin is > 0
        margin = sum(graph.scale * value[:, 0] for graph, value in zip(trees, leaves, strict=True))
        return (margin > 0).astype(float) if classification else margin
    if classification:  # one tree's counts, or a forest's mean of each tree's class proportions
        return np.mean([value / value.sum(axis=1, keepdims=True) for value in leaves], axis=0).argmax(axis=1)
    return np.mean([value[:, 0] for value in leaves], axis=0)


TREE_MODELS = [
    pytest.param(DecisionTreeClassifier, {"maxDepth": 4}, "iris", id="DecisionTreeClassifier"),
    pytest.param(
        RandomForestClassifier,
        {"numTrees": 3, "maxDepth": 3, "bootstrap": False, "seed": 0},
        "iris",
        id="RandomForestClassifier",
    ),
    pytest.param(DecisionTreeRegressor, {"maxDepth": 4}, "diabetes", id="DecisionTreeRegressor"),
    pytest.param(
        RandomForestRegressor,
        {"numTrees": 3, "maxDepth": 3, "bootstrap": False, "seed": 0},
        "diabetes",
        id="RandomForestRegressor",
    ),
    pytest.param(GBTRegressor, {"maxIter": 4, "maxDepth": 3, "seed": 0}, "diabetes", id="GBTRegressor"),
    pytest.param(GBTClassifier, {"maxIter": 4, "maxDepth": 3, "seed": 0}, "binary", id="GBTClassifier"),
]


@pytest.mark.parametrize(("estimator", "params", "dataset"), TREE_MODELS)
def test_tree_models_match_the_jvm_trees(
    estimator: Any, params: dict[str, Any], dataset: str, request: pytest.FixtureRequest
) -> None:
    frame: DataFrame = request.getfixturevalue(dataset)
    model = estimator(**params).fit(frame)
    table = _table(frame)
    forest = _saved(model)  # the bundle's folder is gone by now: trees come from the table read at once
    assert isinstance(forest, Forest) and forest.framework == "spark"
    assert forest.estimator_class == f"{type(model).__module__}.{type(model).__name__}"
    spark_trees = getattr(model, "trees", [model])
    single = len(spark_trees) == 1 and not hasattr(model, "trees")
    assert forest.n_trees == len(spark_trees) and forest.n_features == model.numFeatures == table.shape[1]
    assert forest.combine == ("single" if single else "sum" if "GBT" in estimator.__name__ else "mean")
    classification = forest.prediction_type == "classification"
    assert forest.classes == (list(range(getattr(model, "numClasses", 2))) if classification else None)
    assert forest.feature_names is None
    task = "raw" if forest.combine == "sum" else forest.prediction_type
    weights = model.treeWeights if forest.combine == "sum" else [1.0] * forest.n_trees
    records = table[:RECORDS]
    for index, spark_tree in enumerate(spark_trees):
        graph = forest.tree(index)
        assert graph.task == task and graph.scale == weights[index]
        assert graph.node_count == spark_tree.numNodes and graph.max_depth == spark_tree.depth
        # no bootstrap or subsampling: every training row reaches every root
        assert graph.samples is not None and graph.samples[0] == len(table)
        assert not graph.missing_left.any() and not graph.strict
        java = _java_nodes(spark_tree)
        assert graph.feature.tolist() == [node["feature"] for node in java]
        for node, expected in enumerate(java):
            if "threshold" in expected:
                assert graph.threshold[node] == expected["threshold"] and node not in graph.categories
            else:
                assert np.isnan(graph.threshold[node])
            assert graph.categories.get(node) == expected.get("categories")
            assert graph.impurity is not None and graph.gain is not None
            assert graph.impurity[node] == expected["impurity"]
            assert graph.gain[node] == pytest.approx(expected.get("gain", np.nan), nan_ok=True)  # nan at leaves
            if task == "classification":
                assert graph.value[node].tolist() == expected["stats"]
                assert np.argmax(graph.value[node]) == expected["prediction"]
            else:
                assert graph.value[node].tolist() == [expected["prediction"]]
                count, total, squares = expected["stats"]
                assert graph.value_std is not None
                assert graph.value_std[node] == pytest.approx(np.sqrt(max(squares / count - (total / count) ** 2, 0)))
        for record in records:
            leaf = graph.path(record)[-1]
            assert graph.is_leaf(leaf)
            expected_leaf = spark_tree.predict(Vectors.dense(record))
            if task == "classification":
                assert np.argmax(graph.value[leaf]) == expected_leaf
            else:
                assert graph.value[leaf, 0] == pytest.approx(expected_leaf)
    expected = _predictions(model, frame)
    np.testing.assert_allclose(_combined(forest, table), expected, rtol=1e-9, atol=1e-9)
    # the visualizer joins the trees itself for Spark models (no model object to ask): same answer
    grouped = ModelVisualizer().fit(forest, sample=table).groups_
    assert grouped is not None
    np.testing.assert_allclose(np.asarray(grouped, dtype=float), expected, rtol=1e-9, atol=1e-9)


def test_trees_split_on_categories_and_regression_stats_give_the_target_spread(diabetes: DataFrame) -> None:
    model = DecisionTreeRegressor(maxDepth=4).fit(diabetes)
    graph = _saved(model).tree(0)  # type: ignore[union-attr]
    assert graph.categories, "VectorIndexer's categorical columns should be split on"
    target = np.asarray([row.label for row in diabetes.select("label").collect()])
    assert graph.value[0, 0] == pytest.approx(target.mean())
    assert graph.value_std is not None and graph.value_std[0] == pytest.approx(target.std())
    table = _table(diabetes)
    for node, left in graph.categories.items():
        values = table[graph.reach(table, [node])[node], graph.feature[node]]
        went_left = np.isin(values, list(left))
        assert graph.samples is not None
        assert went_left.sum() == graph.samples[graph.left[node]]
        assert (~went_left).sum() == graph.samples[graph.right[node]]


def test_feature_names_given_are_kept(iris: DataFrame) -> None:
    model = DecisionTreeClassifier(maxDepth=2).fit(iris)
    names = ["sepal length", "sepal width", "petal length", "petal width", "city"]
    forest = _saved(model, names)
    assert forest.feature_names == names
    view = ModelVisualizer().fit(forest).visualize(record=_table(iris)[0].tolist())
    assert view["path"]["rule"].startswith("petal")


def test_linear_regression_coefficients(diabetes: DataFrame) -> None:
    model = LinearRegression().fit(diabetes)
    linear = _saved(model)
    assert isinstance(linear, LinearModel) and linear.framework == "spark" and linear.link == "identity"
    assert linear.prediction_type == "regression" and linear.outputs == ["prediction"] and linear.classes is None
    np.testing.assert_array_equal(linear.coefficients, [model.coefficients.toArray()])
    np.testing.assert_array_equal(linear.intercepts, [model.intercept])
    table = _table(diabetes)
    np.testing.assert_allclose(table @ linear.coefficients[0] + linear.intercepts[0], _predictions(model, diabetes))


def test_binary_logistic_regression_coefficients(binary: DataFrame) -> None:
    model = LogisticRegression().fit(binary)
    linear = _saved(model)
    assert isinstance(linear, LinearModel) and linear.link == "logistic" and linear.prediction_type == "classification"
    assert linear.classes == [0, 1] and linear.outputs == [1]
    np.testing.assert_array_equal(linear.coefficients, [model.coefficients.toArray()])
    np.testing.assert_array_equal(linear.intercepts, [model.intercept])
    margin = _table(binary) @ linear.coefficients[0] + linear.intercepts[0]
    np.testing.assert_array_equal((margin > 0).astype(float), _predictions(model, binary))


@pytest.mark.parametrize(
    "params",
    [pytest.param({}, id="dense"), pytest.param({"regParam": 0.05, "elasticNetParam": 1.0}, id="sparse-l1")],
)
def test_multinomial_logistic_regression_coefficients(params: dict[str, Any], iris: DataFrame) -> None:
    # L1 zeroes coefficients, and Spark then saves the matrix sparse (CSR)
    model = LogisticRegression(maxIter=50, **params).fit(iris)
    linear = _saved(model)
    assert isinstance(linear, LinearModel) and linear.link == "softmax"
    assert linear.classes == linear.outputs == [0, 1, 2]
    np.testing.assert_array_equal(linear.coefficients, model.coefficientMatrix.toArray())
    np.testing.assert_array_equal(linear.intercepts, model.interceptVector.toArray())
    scores = _table(iris) @ linear.coefficients.T + linear.intercepts
    np.testing.assert_array_equal(scores.argmax(axis=1), _predictions(model, iris))


def test_an_unsupported_spark_model_is_named(iris: DataFrame) -> None:
    model = NaiveBayes().fit(iris)
    with pytest.raises(InvalidInput, match="NaiveBayesModel") as caught:
        _saved(model)
    assert caught.value.field == "model"


@pytest.mark.parametrize(
    ("estimator", "params", "dataset", "described"),
    [
        pytest.param(
            RandomForestClassifier,
            {"numTrees": 3, "maxDepth": 3, "seed": 0},
            "iris",
            {"category": "ensemble", "predictionType": "classification", "numberOfEstimators": 3},
            id="RandomForestClassifier",
        ),
        pytest.param(
            DecisionTreeRegressor,
            {"maxDepth": 3},
            "diabetes",
            {"category": "tree", "predictionType": "regression"},
            id="DecisionTreeRegressor",
        ),
        pytest.param(
            GBTClassifier,
            {"maxIter": 2, "maxDepth": 2},
            "binary",
            {"category": "ensemble", "predictionType": "classification", "numberOfEstimators": 2},
            id="GBTClassifier",
        ),
        # a classifier, though its name says "Regression"
        pytest.param(
            LogisticRegression,
            {},
            "binary",
            {"category": "linear", "predictionType": "classification"},
            id="LogisticRegression",
        ),
        pytest.param(
            LinearRegression,
            {},
            "diabetes",
            {"category": "linear", "predictionType": "regression"},
            id="LinearRegression",
        ),
    ],
)
def test_bundle_round_trip_predicts_the_same(
    estimator: Any, params: dict[str, Any], dataset: str, described: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    frame: DataFrame = request.getfixturevalue(dataset)
    model = estimator(**params).fit(frame)
    data, manifest = pack(model, {"feature_names": None})
    loaded, _fields, manifest = unpack(data)
    assert type(loaded) is type(model) and loaded.uid == model.uid
    np.testing.assert_array_equal(_predictions(loaded, frame), _predictions(model, frame))
    parameters = manifest["parameters"]
    assert manifest["framework"] == parameters["framework"] == "spark"
    assert parameters["numberOfFeatures"] == model.numFeatures and "targetClasses" not in parameters
    assert described.items() <= parameters.items()
    assert "pyspark" in manifest["libraries"]


def test_loading_without_a_spark_session_says_to_start_one(binary: DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = pack(LinearRegression().fit(binary), {})
    # as in a fresh process: neither an active session for this thread nor a default one
    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    monkeypatch.setattr(SparkSession, "_instantiatedSession", None)
    with pytest.raises(RuntimeError, match="needs a running SparkSession"):
        unpack(data)


def test_a_saved_spark_forest_is_drawn_by_the_server(store, iris: DataFrame) -> None:
    from genome.modelstore.estimator import GenomeEstimator

    model = RandomForestClassifier(numTrees=3, maxDepth=3, seed=0).fit(iris)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "group"]
    saved = store.save_model(
        GenomeEstimator(model, feature_names=names, target_classes=["setosa", "versicolor", "virginica"]),
        {"application": "flowers", "canonicalName": "/iris/spark-forest", "inputModality": "tabular"},
    )
    assert saved["framework"] == "spark" and saved["parameters"]["category"] == "ensemble"
    table = _table(iris)
    expected = _predictions(model, iris)
    for index in (0, 60, 120):
        view = store.visualize(table[index], id=saved["id"], tree=1, depth=2)
        assert view["trees"] == 3 and view["featureNames"] == names and view["framework"] == "spark"
        assert view["path"]["modelPrediction"] == ["setosa", "versicolor", "virginica"][int(expected[index])]
        assert view["path"]["prediction"] in ("setosa", "versicolor", "virginica")
    assert store.visualize_svg(table[0], id=saved["id"]).count('class="node') >= 3


def test_reading_a_saved_spark_model_needs_no_pyspark(tmp_path, binary: DataFrame) -> None:
    import subprocess
    import sys

    model = GBTClassifier(maxIter=3, maxDepth=2, seed=0).fit(binary)
    data, _manifest = pack(model, {})
    (tmp_path / "bundle.zip").write_bytes(data)
    script = """
import sys
sys.modules["pyspark"] = None  # any import of pyspark now fails
from pathlib import Path
from genome.formats.bundle import extracted
from genome.visualize._spark import read_saved
with extracted(Path(sys.argv[1]).read_bytes()) as (folder, manifest):
    forest = read_saved(folder / manifest["modelFile"], manifest["modelClass"], None)
print(forest.n_trees, forest.tree(0).node_count)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "bundle.zip")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(model.trees)), str(model.trees[0].numNodes)]


def test_a_corrupt_saved_model_is_an_artifact_error(iris: DataFrame) -> None:
    model = DecisionTreeClassifier(maxDepth=2).fit(iris)
    data, _manifest = pack(model, {})
    with extracted(data) as (folder, manifest):
        saved = folder / manifest["modelFile"]
        for part in (saved / "data").glob("*.parquet"):
            part.write_bytes(b"not parquet")
        with pytest.raises(InvalidInput, match="not readable") as error:
            read_saved(saved, manifest["modelClass"], None)
    assert error.value.field == "artifact"

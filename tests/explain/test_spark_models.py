"""Spark ML models explained by the server from the files Spark saved: exact Tree SHAP and linear SHAP that add up to
the JVM's own predictions (trained and predicted here with a local SparkSession), with no JVM in the server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    GBTClassifier,
    LogisticRegression,
    RandomForestClassifier,
)
from pyspark.ml.feature import VectorIndexer
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, LinearRegression, RandomForestRegressor
from pyspark.sql import DataFrame, SparkSession
from sklearn.datasets import load_diabetes, load_iris, make_classification

from genome.config import Settings
from genome.explain import TabularExplainer
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from live import ADMIN_PASSWORD, FreshDatabase, LiveServer

EXPLAIN = f"{API_PREFIX}/routing/explain"
ROWS = 25  # rows explained per model, in one request


def _frame(spark: SparkSession, X: np.ndarray, y: np.ndarray, seed: int, categorical: bool = True) -> DataFrame:
    """A DataFrame to train on. With ``categorical``, X gains a column of 4 categories that follows y loosely and
    VectorIndexer marks it categorical, as a Spark user would, so trees split on categories too."""
    if categorical:
        groups = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75])) if len(np.unique(y)) > 4 else y
        rng = np.random.default_rng(seed)
        X = np.column_stack([X, (groups + rng.integers(0, 2, len(groups))) % 4])
    raw = spark.createDataFrame([(Vectors.dense(row), float(label)) for row, label in zip(X, y, strict=True)])
    raw = raw.toDF("raw", "label")
    indexer = VectorIndexer(inputCol="raw", outputCol="features", maxCategories=4).fit(raw)
    return indexer.transform(raw).select("features", "label").cache()


@pytest.fixture(scope="module")
def frames(spark: SparkSession) -> dict[str, DataFrame]:
    iris, diabetes = load_iris(return_X_y=True), load_diabetes(return_X_y=True)
    binary = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
    return {
        "iris": _frame(spark, *iris, seed=0),
        "binary": _frame(spark, *binary, seed=2),
        "diabetes": _frame(spark, diabetes[0][:200], diabetes[1][:200], seed=1),
    }


@pytest.fixture(scope="module")
def spark_server(tmp_path_factory: pytest.TempPathFactory, fresh_database: FreshDatabase) -> Iterator[LiveServer]:
    """One server on SQLite for the module's Spark models (``make_server`` starts one per test)."""
    settings = Settings(
        home=tmp_path_factory.mktemp("spark-home"),
        database_url=fresh_database.url("sqlite"),
        admin_password=ADMIN_PASSWORD,
    )
    server = LiveServer(settings).__enter__()
    yield server
    server.__exit__()


def _rows(frame: DataFrame) -> np.ndarray:
    return np.asarray([row.features.toArray() for row in frame.select("features").collect()])


def _jvm(model: Any, frame: DataFrame) -> dict[str, np.ndarray]:
    """The JVM's own outputs per row: prediction, and for classifiers rawPrediction and probability."""
    out = model.transform(frame)
    columns = [name for name in ("prediction", "rawPrediction", "probability") if name in out.columns]
    rows = out.select(*columns).collect()
    return {
        name: np.asarray([row[name].toArray() if hasattr(row[name], "toArray") else row[name] for row in rows])
        for name in columns
    }


def _sums(body: dict[str, Any]) -> np.ndarray:
    """expected + sum of SHAP over features: rows (one output) or rows x outputs."""
    values, expected = np.asarray(body["shapley"]), np.asarray(body["expected"])
    if body["number_labels"] == 1:
        return expected[0] + values.sum(axis=-1)
    return (expected[:, None] + values.sum(axis=-1)).T


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# kind, estimator, params, data set, output, what the SHAP sums must equal (from the JVM's columns)
KINDS = [
    ("DecisionTreeClassifier", DecisionTreeClassifier, {"maxDepth": 4}, "iris", "probability", "probability"),
    ("RandomForestClassifier", RandomForestClassifier, {"numTrees": 8, "maxDepth": 4, "seed": 0}, "iris",
     "probability", "probability"),
    ("GBTClassifier", GBTClassifier, {"maxIter": 5, "maxDepth": 3, "seed": 0}, "binary", "margin", "log-odds"),
    ("DecisionTreeRegressor", DecisionTreeRegressor, {"maxDepth": 4}, "diabetes", "value", "prediction"),
    ("RandomForestRegressor", RandomForestRegressor, {"numTrees": 8, "maxDepth": 4, "seed": 0}, "diabetes", "value",
     "prediction"),
    ("GBTRegressor", GBTRegressor, {"maxIter": 5, "maxDepth": 3, "seed": 0}, "diabetes", "value", "prediction"),
    ("LinearRegression", LinearRegression, {}, "diabetes", "value", "prediction"),
    ("LogisticRegression-binomial", LogisticRegression, {"maxIter": 20}, "binary", "margin", "rawPrediction[1]"),
    ("LogisticRegression-multinomial", LogisticRegression, {"maxIter": 20}, "iris", "margin", "rawPrediction"),
]  # fmt: skip
SPLIT_ON_CATEGORIES = {"DecisionTreeClassifier", "RandomForestClassifier", "DecisionTreeRegressor", "GBTRegressor"}


@pytest.mark.parametrize(
    ("kind", "estimator", "params", "dataset", "output", "truth"), KINDS, ids=[k[0] for k in KINDS]
)
def test_spark_models_are_explained_exactly_by_the_server(
    spark_server: LiveServer,
    frames: dict[str, DataFrame],
    kind: str,
    estimator: Any,
    params: dict[str, Any],
    dataset: str,
    output: str,
    truth: str,
) -> None:
    frame = frames[dataset]
    model = estimator(**params).fit(frame)
    if kind in SPLIT_ON_CATEGORIES:  # each record's way at such a split is decided per request
        assert " in {" in model.toDebugString, f"the {kind} does not split on the categorical column"
    table = _rows(frame)
    names = [f"x{i}" for i in range(table.shape[1])]
    genome_model = GenomeEstimator(model, feature_names=names)
    linear = kind.startswith("Linear") or kind.startswith("Logistic")
    if linear and dataset == "diabetes":
        genome_model.explainer.sampleExplanations(table[:100])  # the stored sample is the linear background
    name = f"/spark/{kind}"
    spark_server.store().save_model(genome_model, {"application": "spark", "canonicalName": name})
    picked = np.linspace(0, len(table) - 1, ROWS).astype(int)
    response = spark_server.http.post(
        EXPLAIN, json={"application": "spark", "canonicalName": name, "entries": table[picked].tolist()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == output and body["feature_names"] == names
    assert body["explainer"] == (
        ("linear (background: given sample)" if dataset == "diabetes" else "linear (zero baseline: no background "
         "sample given)") if linear else "tree"
    )  # fmt: skip
    jvm = {column: values[picked] for column, values in _jvm(model, frame).items()}
    expected = {
        "probability": lambda: jvm["probability"],
        "log-odds": lambda: _logit(jvm["probability"][:, 1]),
        "prediction": lambda: jvm["prediction"],
        "rawPrediction[1]": lambda: jvm["rawPrediction"][:, 1],
        "rawPrediction": lambda: jvm["rawPrediction"],
    }[truth]()
    labels = 1 if expected.ndim == 1 else expected.shape[1]
    assert body["number_labels"] == labels and len(body["expected"]) == labels
    assert np.asarray(body["shapley"]).shape == ((ROWS, len(names)) if labels == 1 else (labels, ROWS, len(names)))
    # local accuracy against the JVM (the GBT's log-odds go through a logit of its probability: looser)
    np.testing.assert_allclose(_sums(body), expected, rtol=1e-9, atol=1e-7 if truth == "log-odds" else 1e-9)
    if "probability" in jvm:
        np.testing.assert_allclose(body["prediction"], jvm["probability"], rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(body["prediction"], jvm["prediction"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("estimator", "params", "factor"),
    [
        (RandomForestClassifier, {"numTrees": 5, "maxDepth": 4, "seed": 0}, 1.0),
        (GBTClassifier, {"maxIter": 5, "maxDepth": 3, "seed": 0}, 2.0),  # shap's Spark support explains the margin
    ],
    ids=["RandomForestClassifier", "GBTClassifier"],
)
def test_tree_shap_from_the_saved_files_equals_shaps_own_spark_support(
    spark: SparkSession, shap: Any, estimator: Any, params: dict[str, Any], factor: float
) -> None:
    """On continuous features (shap's Spark support refuses categorical splits), the SHAP values computed from the
    saved files are the ones shap computes by walking the JVM's trees; a live pyspark model is explained too, as
    training code explains a sample, by saving it and reading the files back."""
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=1)
    model = estimator(**params).fit(_frame(spark, X, y, seed=0, categorical=False))
    ours = TabularExplainer().fit(model).explain(X[:20])
    theirs = shap.TreeExplainer(model)
    values = np.asarray(theirs.shap_values(X[:20], check_additivity=False))
    if values.ndim == 3:
        values = np.moveaxis(values, -1, 0)
    np.testing.assert_allclose(np.asarray(ours.shapley), factor * values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.expected, factor * np.atleast_1d(theirs.expected_value), rtol=1e-9, atol=1e-12)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NO_PYSPARK_SERVER = """
import sys
sys.modules["pyspark"] = None  # any import of pyspark in the server now fails
from genome.cli import app
app()
"""


def test_the_server_explains_spark_models_without_a_jvm(tmp_path: Path, frames: dict[str, DataFrame]) -> None:
    """A server that cannot import pyspark nor find java explains a Spark forest exactly and starts no process."""
    model = RandomForestClassifier(numTrees=5, maxDepth=4, seed=0).fit(frames["iris"])
    table = _rows(frames["iris"])
    java_dirs = {str(Path(found).resolve().parent) for found in [shutil.which("java")] if found}
    path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and entry not in java_dirs
    )
    port = _port()
    environment = {
        **os.environ,
        "PATH": path,
        "JAVA_HOME": str(tmp_path / "no-java"),
        "SPARK_HOME": str(tmp_path / "no-spark"),
        "GENOME_HOME": str(tmp_path / "home"),
    }
    server = subprocess.Popen(
        [sys.executable, "-c", _NO_PYSPARK_SERVER, "serve", "--port", str(port), "--no-auth"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}{API_PREFIX}/healthz")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "genome serve did not answer within 60 s"
                time.sleep(0.2)
        with ModelStore(url) as store:
            store.save_model(GenomeEstimator(model), {"application": "spark", "canonicalName": "/iris/forest"})
        response = httpx.post(
            f"{url}{EXPLAIN}",
            json={"application": "spark", "canonicalName": "/iris/forest", "entries": table[::15].tolist()},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["explainer"] == "tree" and body["number_labels"] == 3
        np.testing.assert_allclose(_sums(body), _jvm(model, frames["iris"])["probability"][::15], atol=1e-9)
        spawned = psutil.Process(server.pid).children(recursive=True)
        assert not [process for process in spawned if "java" in process.name()], spawned
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.stdout is not None
        server.stdout.close()

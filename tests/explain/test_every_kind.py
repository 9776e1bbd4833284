"""No stored version makes an explanation or a visualization answer 5xx: one version of every kind of model the
Model Store accepts (each framework and format of ``tests/zoo.py``, Spark ML models, image CNNs) is explained and
visualized (JSON and SVG) with a valid payload, through one live server. Each answer is a 200, or a 400 that names
the model's type and says what would make it explainable or drawable."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_diabetes, load_iris, make_classification
from torch import nn

from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from live import LiveServer
from pictures import spotted_cnn, spotted_images
from zoo import CASES, DIABETES_X, TEXTS

EXPLAIN = f"{API_PREFIX}/routing/explain"
MODELS = f"{API_PREFIX}/modelstore/models"

# scikit-learn 1.9 deprecates SVC(probability=True) (removed in 1.11); the seed's models still use it.
_SVC_DEPRECATION = pytest.mark.filterwarnings("ignore:The `probability` parameter was deprecated:FutureWarning")


class _SpotNet(nn.Module):
    """A small untrained CNN: the routes' answers, not the explanation's quality, are under test."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def _torch_cnn() -> tuple[Any, Any]:
    torch.manual_seed(0)
    return _SpotNet().eval(), None


def _keras_cnn() -> tuple[Any, Any]:
    return spotted_cnn(count=8, epochs=1), None


def _spark(name: str) -> Callable[[Any], tuple[Any, np.ndarray]]:
    """A Spark ML model of ``name``, trained on the JVM, with the rows it was trained on."""

    def build(spark: Any) -> tuple[Any, np.ndarray]:
        from pyspark.ml import classification, regression
        from pyspark.ml.linalg import Vectors

        if name.endswith("Regressor") or name == "LinearRegression":
            X, y = load_diabetes(return_X_y=True)
            X, y = X[:120], y[:120]
        elif name.startswith(("GBT", "Logistic")) and name != "LogisticRegressionMultinomial":
            X, y = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=0)
        else:
            X, y = load_iris(return_X_y=True)
        frame = spark.createDataFrame([(Vectors.dense(row), float(label)) for row, label in zip(X, y, strict=True)])
        frame = frame.toDF("features", "label")
        estimators = {
            "DecisionTreeClassifier": lambda: classification.DecisionTreeClassifier(maxDepth=3),
            "RandomForestClassifier": lambda: classification.RandomForestClassifier(numTrees=3, maxDepth=3, seed=0),
            "GBTClassifier": lambda: classification.GBTClassifier(maxIter=3, maxDepth=2, seed=0),
            "LogisticRegression": lambda: classification.LogisticRegression(maxIter=20),
            "LogisticRegressionMultinomial": lambda: classification.LogisticRegression(maxIter=20),
            "DecisionTreeRegressor": lambda: regression.DecisionTreeRegressor(maxDepth=3),
            "RandomForestRegressor": lambda: regression.RandomForestRegressor(numTrees=3, maxDepth=3, seed=0),
            "GBTRegressor": lambda: regression.GBTRegressor(maxIter=3, maxDepth=2, seed=0),
            "LinearRegression": lambda: regression.LinearRegression(),
        }
        return estimators[name]().fit(frame), X

    return build


SPARK = [
    "DecisionTreeClassifier",
    "RandomForestClassifier",
    "GBTClassifier",
    "LogisticRegression",
    "LogisticRegressionMultinomial",
    "DecisionTreeRegressor",
    "RandomForestRegressor",
    "GBTRegressor",
    "LinearRegression",
]
IMAGES = {"torch-cnn": (_torch_cnn, "pytorch"), "keras-cnn": (_keras_cnn, "keras")}
KINDS = [
    *(pytest.param(name, marks=[_SVC_DEPRECATION] if name == "svc" else []) for name in CASES),
    *(f"spark-{name}" for name in SPARK),
    *IMAGES,
]


def _png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _rows(data: Any) -> np.ndarray:
    """The data a zoo model predicts on, as a plain table (from a booster's DMatrix, a tensor...)."""
    if isinstance(data, torch.Tensor):
        data = data.numpy()
    if type(data).__name__ == "DMatrix":
        data = DIABETES_X
    return np.asarray(data, dtype=float)


def _first_row(data: Any) -> list[float]:
    return [float(value) for value in _rows(data)[0]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fresh_database: Any) -> Iterator[LiveServer]:
    from genome.config import Settings
    from live import ADMIN_PASSWORD

    home = tmp_path_factory.mktemp("every-kind-home")
    settings = Settings(home=home, database_url=fresh_database.url("sqlite"), admin_password=ADMIN_PASSWORD)
    with LiveServer(settings) as live:
        yield live


def _save(
    server: LiveServer, request: pytest.FixtureRequest, kind: str, *, sample: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Save one version of ``kind`` (``sample``: with sample explanations of 5 rows); returns its record and the
    payloads that explain and visualize it."""
    meta: dict[str, Any] = {"application": "every-kind", "canonicalName": f"/kinds/{kind}"}
    if kind in IMAGES:
        build, framework = IMAGES[kind]
        model, _ = build()
        estimator = GenomeEstimator(model, target_classes=["plain", "spotted"], modality="image")
        meta |= {"framework": framework, "inputModality": "image"}
        payload: dict[str, Any] = {"image": _png(spotted_images(1, seed=3)[0][0])}
        record = None
    elif kind.startswith("spark-"):
        model, X = _spark(kind.removeprefix("spark-"))(request.getfixturevalue("spark"))
        estimator = GenomeEstimator(model)
        meta |= {"inputModality": "tabular"}
        record = X[0].tolist()
        payload = {"entries": [record]}
    else:
        case = CASES[kind]
        model, data = case.build()
        estimator = GenomeEstimator(model, modality=case.modality)
        if sample:
            estimator.explainer.sampleExplanations(_rows(data)[:5])
        meta |= {"inputModality": case.modality}
        if case.modality == "text":
            payload, record = {"text": TEXTS[0]}, None
        else:
            record = _first_row(data)
            payload = {"entries": [record]}
    saved = server.store().save_model(estimator, meta)
    options = {"record": json.dumps(record)} if record is not None else {}
    return saved, {"explain": payload, "visualize": options}


def _check(response: Any, model_class: str, what: str) -> str:
    """A 200, or a 400 naming the model's type; returns how it answered."""
    assert response.status_code in (200, 400), f"{what}: {response.status_code} {response.text[:2000]}"
    if response.status_code == 400:
        message = response.json()["error"]["message"]
        named = model_class.rpartition(".")[2]
        assert named in message, f"{what} does not name the model's type {named}: {message}"
        return f"400 {message}"
    return "200"


@pytest.mark.parametrize("kind", KINDS)
def test_explaining_and_visualizing_any_stored_version_is_never_a_server_error(
    server: LiveServer, request: pytest.FixtureRequest, kind: str
) -> None:
    saved, payloads = _save(server, request, kind)
    model_class = saved["parameters"]["estimatorClass"]
    answers = {
        "explain": server.http.post(EXPLAIN, json={"id": saved["id"], **payloads["explain"]}),
        "visualize": server.http.get(f"{MODELS}/{saved['id']}/visualization", params=payloads["visualize"]),
        "svg": server.http.get(f"{MODELS}/{saved['id']}/visualization.svg", params=payloads["visualize"]),
    }
    said = {what: _check(response, model_class, f"{kind} {what}") for what, response in answers.items()}
    if answers["svg"].status_code == 200:
        assert answers["svg"].text.lstrip().startswith("<svg")
    assert said["visualize"][:3] == said["svg"][:3]  # a view that exists can be drawn
    if "sampleExplanations" in said["explain"]:  # the advice works: saved with a sample, it is explained
        again = _save(server, request, kind, sample=True)[0]
        response = server.http.post(EXPLAIN, json={"id": again["id"], **payloads["explain"]})
        assert response.status_code == 200, f"{kind} with a sample: {response.text[:2000]}"
        assert response.json()["explainer"].startswith("permutation")

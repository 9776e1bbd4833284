"""Small trained models of every kind the Model Store accepts (each framework and format, pipelines, code carried by
value), for the tests that go over all of them: round trips (``tests/formats``) and the routes that must never
answer 5xx (``tests/explain/test_every_kind.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import numpy as np
import torch
import xgboost
from sklearn.datasets import load_diabetes, load_digits, load_iris, make_classification
from sklearn.decomposition import TruncatedSVD
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from torch import nn

# Keras picks its backend once, when it is first imported (in the Keras case below).
os.environ["KERAS_BACKEND"] = "torch"

IRIS = load_iris()
IRIS_X, IRIS_Y = IRIS.data, IRIS.target
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)
DIGITS_X, DIGITS_Y = load_digits(return_X_y=True)
BINARY_X, BINARY_Y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)

_TOPICS = {
    "sport": "match goal team score coach league player season win referee",
    "cooking": "recipe oven flour butter sauce garlic simmer taste bake salt",
    "weather": "rain cloud storm wind forecast sunny cold snow humid thunder",
}


def _sentences(count: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    topics = sorted(_TOPICS)
    texts, labels = [], []
    for index in range(count):
        topic = topics[index % len(topics)]
        own = rng.choice(_TOPICS[topic].split(), size=5)
        noise = rng.choice(" ".join(_TOPICS.values()).split(), size=2)
        texts.append(" ".join([*own, *noise]))
        labels.append(topic)
    return texts, labels


TEXTS, TOPICS = _sentences(90, seed=0)


class TinyNet(nn.Module):
    """A classifier defined in the test module, as a training script would define its own."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 16)
        self.out = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def _predictions(*methods: str) -> Callable[[Any, Any], list[Any]]:
    def outputs(model: Any, data: Any) -> list[Any]:
        return [getattr(model, method)(data) for method in methods]

    return outputs


@dataclass(frozen=True)
class Case:
    """A trained model, the data to predict on, and what its saved record must say."""

    build: Callable[[], tuple[Any, Any]]
    format: str
    framework: str
    category: str
    prediction_type: str | None = None
    outputs: Callable[[Any, Any], list[Any]] = field(default=_predictions("predict"))
    modality: str = "tabular"
    n_estimators: int | None = None


def classifier(make: Callable[[], Any], x: Any = IRIS_X, y: Any = IRIS_Y) -> Callable[[], tuple[Any, Any]]:
    return lambda: (make().fit(x, y), x)


def regressor(make: Callable[[], Any]) -> Callable[[], tuple[Any, Any]]:
    return lambda: (make().fit(DIABETES_X, DIABETES_Y), DIABETES_X)


def sklearn_case(build: Callable[[], tuple[Any, Any]], category: str, prediction_type: str, **kwargs: Any) -> Case:
    outputs = _predictions("predict", "predict_proba") if prediction_type == "classification" else None
    return Case(
        build, "cloudpickle", "sklearn", category, prediction_type, outputs or _predictions("predict"), **kwargs
    )


def _lambda_pipeline() -> tuple[Any, Any]:
    # A lambda is never importable, so cloudpickle must carry it by value.
    shift = FunctionTransformer(lambda x: np.log1p(x) - 1.0)
    model = make_pipeline(shift, DecisionTreeClassifier(max_depth=6, random_state=0))
    return model.fit(DIGITS_X[:400], DIGITS_Y[:400]), DIGITS_X[:400]


def text_pipeline() -> tuple[Any, Any]:
    model = Pipeline(
        [
            ("tfidf", TfidfVectorizer()),
            ("svd", TruncatedSVD(n_components=5, random_state=0)),
            ("forest", RandomForestClassifier(n_estimators=10, random_state=0)),
        ]
    )
    return model.fit(TEXTS, TOPICS), TEXTS


def _xgboost_booster() -> tuple[Any, Any]:
    params = {"objective": "reg:squarederror", "max_depth": 3, "seed": 0}
    booster = xgboost.train(params, xgboost.DMatrix(DIABETES_X, DIABETES_Y), num_boost_round=10)
    return booster, xgboost.DMatrix(DIABETES_X)


def _lightgbm_booster() -> tuple[Any, Any]:
    params = {"objective": "regression", "num_leaves": 7, "seed": 0, "deterministic": True, "verbose": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(DIABETES_X, DIABETES_Y), num_boost_round=10)
    return booster, DIABETES_X


def torch_net() -> tuple[Any, Any]:
    torch.manual_seed(0)
    net = TinyNet()
    x, y = torch.tensor(IRIS_X, dtype=torch.float32), torch.tensor(IRIS_Y)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net.eval(), x


def _script_torch_net() -> tuple[Any, Any]:
    class ScriptNet(nn.Module):
        # Defined inside a function, so unimportable, like a class in a training script's __main__: the
        # bundle must carry its code.
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(self.layers(x / 16.0), dim=1)

    torch.manual_seed(0)
    return ScriptNet().eval(), torch.tensor(DIGITS_X[:200], dtype=torch.float32)


def _torch_outputs(model: Any, data: Any) -> list[Any]:
    with torch.no_grad():
        return [model.eval()(data).numpy()]


def _keras_net() -> tuple[Any, Any]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(IRIS_X, IRIS_Y, epochs=3, batch_size=32, verbose=0)
    return model, IRIS_X.astype("float32")


def _keras_lambda_net() -> tuple[Any, Any]:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    scaled = keras.layers.Lambda(lambda x: x / 16.0 - 0.5)(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(12, activation="tanh")(scaled))
    return keras.Model(inputs, outputs), DIGITS_X[:200].astype("float32")


def _keras_outputs(model: Any, data: Any) -> list[Any]:
    return [model.predict(data, verbose=0), model(data).detach().cpu().numpy()]


CASES = {
    "decision-tree-classifier": sklearn_case(
        classifier(lambda: DecisionTreeClassifier(max_depth=4, random_state=0)), "tree", "classification"
    ),
    "decision-tree-regressor": sklearn_case(
        regressor(lambda: DecisionTreeRegressor(max_depth=4, random_state=0)), "tree", "regression"
    ),
    "random-forest-classifier": sklearn_case(
        classifier(lambda: RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)),
        "ensemble",
        "classification",
        n_estimators=10,
    ),
    "random-forest-regressor": sklearn_case(
        regressor(lambda: RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)),
        "ensemble",
        "regression",
        n_estimators=10,
    ),
    "extra-trees-classifier": sklearn_case(
        classifier(lambda: ExtraTreesClassifier(n_estimators=10, max_depth=4, random_state=0)),
        "ensemble",
        "classification",
        n_estimators=10,
    ),
    "extra-trees-regressor": sklearn_case(
        regressor(lambda: ExtraTreesRegressor(n_estimators=10, max_depth=4, random_state=0)),
        "ensemble",
        "regression",
        n_estimators=10,
    ),
    "gradient-boosting-classifier": sklearn_case(
        classifier(lambda: GradientBoostingClassifier(n_estimators=10, random_state=0)),
        "ensemble",
        "classification",
        n_estimators=10,
    ),
    "gradient-boosting-regressor": sklearn_case(
        regressor(lambda: GradientBoostingRegressor(n_estimators=10, random_state=0)),
        "ensemble",
        "regression",
        n_estimators=10,
    ),
    "hist-gradient-boosting-classifier": sklearn_case(
        classifier(lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0)),
        "ensemble",
        "classification",
        n_estimators=10,
    ),
    "hist-gradient-boosting-regressor": sklearn_case(
        regressor(lambda: HistGradientBoostingRegressor(max_iter=10, random_state=0)),
        "ensemble",
        "regression",
        n_estimators=10,
    ),
    "linear-regression": sklearn_case(regressor(LinearRegression), "linear", "regression"),
    "logistic-regression": sklearn_case(
        classifier(lambda: LogisticRegression(max_iter=1000)), "linear", "classification"
    ),
    "svc": sklearn_case(classifier(lambda: SVC(probability=True, random_state=0)), "svm", "classification"),
    "scaled-pipeline": sklearn_case(
        classifier(lambda: make_pipeline(StandardScaler(), LogisticRegression()), BINARY_X, BINARY_Y),
        "pipeline",
        "classification",
    ),
    "text-pipeline": sklearn_case(text_pipeline, "pipeline", "classification", modality="text"),
    "lambda-pipeline": sklearn_case(_lambda_pipeline, "pipeline", "classification"),
    "xgboost-classifier": Case(
        classifier(lambda: xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0)),
        "xgboost-json",
        "xgboost",
        "ensemble",
        "classification",
        _predictions("predict", "predict_proba"),
        n_estimators=10,
    ),
    "xgboost-regressor": Case(  # n_estimators left to XGBoost's default, 100 rounds
        regressor(lambda: xgboost.XGBRegressor(max_depth=2, random_state=0)),
        "xgboost-json",
        "xgboost",
        "ensemble",
        "regression",
        n_estimators=100,
    ),
    "xgboost-booster": Case(_xgboost_booster, "xgboost-json", "xgboost", "ensemble", n_estimators=10),
    "lightgbm-classifier": Case(
        classifier(lambda: lightgbm.LGBMClassifier(n_estimators=10, num_leaves=7, random_state=0, verbose=-1)),
        "cloudpickle",
        "lightgbm",
        "ensemble",
        "classification",
        _predictions("predict", "predict_proba"),
        n_estimators=10,
    ),
    "lightgbm-booster": Case(_lightgbm_booster, "lightgbm-text", "lightgbm", "ensemble", n_estimators=10),
    "torch-module": Case(torch_net, "torch", "pytorch", "neural-network", outputs=_torch_outputs),
    "torch-script-module": Case(_script_torch_net, "torch", "pytorch", "neural-network", outputs=_torch_outputs),
    "keras-sequential": Case(_keras_net, "keras", "keras", "neural-network", outputs=_keras_outputs),
    "keras-lambda-layer": Case(_keras_lambda_net, "keras", "keras", "neural-network", outputs=_keras_outputs),
}


# Bundles that carry code or types outside Genome's trusted list: loaded only with trust=True (the server serves
# them from its isolated worker).
UNTRUSTED = {
    "gradient-boosting-classifier",
    "gradient-boosting-regressor",
    "hist-gradient-boosting-classifier",
    "hist-gradient-boosting-regressor",
    "svc",
    "lambda-pipeline",
    "lightgbm-classifier",
    "torch-module",
    "torch-script-module",
    "keras-lambda-layer",
}

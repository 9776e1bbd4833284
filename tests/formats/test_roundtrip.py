"""Every framework round-trips through a live server: same predictions, bit for bit, and the right metadata."""

from __future__ import annotations

import importlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xgboost
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from torch import nn

from bundles import rebuild
from genome.errors import InvalidInput
from genome.formats.bundle import pack, read_manifest, unpack
from genome.formats.registry import class_path
from genome.formats.trust import UntrustedContent
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from zoo import CASES, DIABETES_X, DIABETES_Y, IRIS, IRIS_X, IRIS_Y, UNTRUSTED, TinyNet, text_pipeline, torch_net


def assert_same_hyperparameters(loaded: Any, model: Any) -> None:
    """Every scalar hyperparameter the model was built with is set on the loaded one, so a refit or ``clone``
    trains the same model."""
    if not hasattr(model, "get_params"):
        return
    scalars = (str, int, float, bool)
    built = {key: value for key, value in model.get_params(deep=False).items() if isinstance(value, scalars)}
    got = loaded.get_params(deep=False)
    np.testing.assert_equal({key: got[key] for key in built}, built)  # NaN-aware: XGBoost's missing=nan


# scikit-learn 1.9 deprecates SVC(probability=True) (removed in 1.11); the seed's models still use it.
_SVC_DEPRECATION = pytest.mark.filterwarnings("ignore:The `probability` parameter was deprecated:FutureWarning")


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[_SVC_DEPRECATION] if name == "svc" else []) for name in CASES]
)
def test_model_round_trips_with_identical_predictions(make_server: Callable[..., Any], name: str) -> None:
    case = CASES[name]
    model, data = case.build()
    expected = case.outputs(model, data)
    meta = {"application": "roundtrip", "canonicalName": f"/frameworks/{name}"}
    trust = name in UNTRUSTED
    with make_server("sqlite").store() as store:
        record = store.save_model(GenomeEstimator(model, modality=case.modality), meta)
        if trust:
            with pytest.raises(UntrustedContent, match="trust=True"):
                store.load_model(record["id"])
        by_id = store.load_model(record["id"], trust=trust)
        by_name = store.load_model(application="roundtrip", canonical_name=f"/frameworks/{name}", trust=trust)

    assert record["artifact"]["isolated"] is trust
    assert record["artifact"]["format"] == case.format
    assert record["framework"] == case.framework
    assert record["parameters"]["framework"] == case.framework
    assert record["parameters"]["category"] == case.category
    assert record["predictionType"] == case.prediction_type
    assert record["inputModality"] == case.modality
    if case.n_estimators is not None:
        assert record["parameters"]["numberOfEstimators"] == case.n_estimators
    if case.framework == "keras":  # what the UI tells a reader to upload
        assert record["parameters"]["inputShape"] == list(model.input_shape[1:])
    for loaded in (by_id, by_name):
        assert class_path(loaded.estimator) == class_path(model)
        assert_same_hyperparameters(loaded.estimator, model)
        assert loaded.modality == case.modality
        outputs = case.outputs(loaded.estimator, data)
        assert len(outputs) == len(expected)
        for got, want in zip(outputs, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_pipeline_records_its_steps_and_final_estimator(make_server: Callable[..., Any]) -> None:
    model, _ = text_pipeline()
    with make_server("sqlite").store() as store:
        record = store.save_model(GenomeEstimator(model, modality="text"), {"application": "a", "canonicalName": "/t"})
    parameters = record["parameters"]
    assert parameters["estimatorClass"] == "sklearn.pipeline.Pipeline"
    assert [step["name"] for step in parameters["steps"]] == ["tfidf", "svd", "forest"]
    assert parameters["finalEstimator"] == {
        "estimatorClass": "sklearn.ensemble._forest.RandomForestClassifier",
        "category": "ensemble",
    }
    assert parameters["numberOfEstimators"] == 10
    assert parameters["targetClasses"] == ["cooking", "sport", "weather"]


@pytest.mark.parametrize("kind", ["sklearn-pipeline", "xgboost"])
def test_feature_names_of_a_dataframe_fit_are_recorded_and_kept(make_server: Callable[..., Any], kind: str) -> None:
    frame = load_iris(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    if kind == "xgboost":
        model = xgboost.XGBClassifier(n_estimators=5, max_depth=2, random_state=0).fit(x, y)
    else:
        model = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0)).fit(x, y)
    with make_server("sqlite").store() as store:
        record = store.save_model(GenomeEstimator(model), {"application": "roundtrip", "canonicalName": f"/{kind}"})
        loaded = store.load_model(record["id"]).estimator
    assert record["parameters"]["featureNames"] == list(x.columns)
    assert record["parameters"]["numberOfFeatures"] == 4
    assert list(loaded.feature_names_in_) == list(x.columns)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_wrapper_fields_travel_with_the_model(store: ModelStore) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(IRIS_X, IRIS_Y)
    centre = IRIS_X.mean(axis=0)

    def centred(raw: Any) -> Any:
        # Defined inside the test, so cloudpickle carries its code and the array it closes over.
        return np.asarray(raw, dtype=float) - centre

    names = [name.replace(" (cm)", "") for name in IRIS.feature_names]
    classes = list(IRIS.target_names)
    wrapped = GenomeEstimator(
        model,
        estimator_predict="predict_proba",
        data_preprocessor=centred,
        explainer={"kind": "kernel", "samples": 50, "classes": (0, 2), 7: "int key"},
        feature_names=names,
        target_classes=np.array(classes),
        target_name="species",
        modality="tabular",
    )
    record = store.save_model(wrapped, {"application": "roundtrip", "canonicalName": "/iris/fields"})
    assert record["parameters"]["featureNames"] == names
    assert record["parameters"]["targetClasses"] == classes
    assert record["parameters"]["numberOfFeatures"] == 4
    assert record["inputModality"] == "tabular"

    assert record["artifact"]["isolated"] is True  # the preprocessing function is code
    for loaded in (
        store.load_model(record["id"], trust=True),
        store.load_model(application="roundtrip", canonical_name="/iris/fields", trust=True),
    ):
        assert loaded.estimator_predict == "predict_proba"
        assert loaded.feature_names == names
        assert loaded.target_classes == classes
        assert loaded.target_name == "species"
        assert loaded.modality == "tabular"
        # A tuple and an int key would not survive JSON, so this field travels pickled, unchanged.
        assert loaded.explainer == {"kind": "kernel", "samples": 50, "classes": (0, 2), 7: "int key"}
        prepared = loaded.data_preprocessor(IRIS_X)
        np.testing.assert_array_equal(prepared, centred(IRIS_X))
        predict = getattr(loaded.estimator, loaded.estimator_predict)
        np.testing.assert_array_equal(predict(prepared), model.predict_proba(centred(IRIS_X)))


def test_a_wrapper_field_that_cannot_travel_is_named() -> None:
    model = LinearRegression().fit(DIABETES_X, DIABETES_Y)
    lock = threading.Lock()

    def guarded(raw: Any) -> Any:
        with lock:  # a lock cannot be pickled, so neither can this closure
            return raw

    with pytest.raises(InvalidInput, match="data_preprocessor cannot be serialized") as caught:
        pack(model, GenomeEstimator(model, data_preprocessor=guarded).bundle_fields())
    assert caught.value.field == "data_preprocessor"


def test_the_same_model_saved_twice_is_stored_once(
    make_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(DIABETES_X, DIABETES_Y)
    server = make_server("sqlite")
    meta = {"application": "roundtrip", "canonicalName": "/dedupe"}
    with server.store() as store:
        first = store.save_model(GenomeEstimator(model), meta)
        # A day later, as far as any timestamp written into the bundle could tell.
        real_localtime = time.localtime
        monkeypatch.setattr(
            time, "localtime", lambda secs=None: real_localtime((time.time() if secs is None else secs) + 86_400)
        )
        second = store.save_model(GenomeEstimator(model), meta)
    assert second["versionNumber"] == 2
    assert second["artifact"] == first["artifact"]
    blobs = [path for path in Path(server.settings.resolved_artifact_root).rglob("*") if path.is_file()]
    assert [path.name for path in blobs] == [first["artifact"]["sha256"]]


@pytest.mark.parametrize(
    ("name", "libraries"),
    [
        ("xgboost-classifier", ["sklearn", "xgboost"]),
        ("lightgbm-booster", ["lightgbm"]),
        ("torch-module", ["torch"]),  # not the test module its class comes from
        ("keras-sequential", ["keras", "torch"]),
    ],
)
def test_bundle_records_the_versions_of_the_libraries_the_model_needs(name: str, libraries: list[str]) -> None:
    model, _ = CASES[name].build()
    data, manifest = pack(model, GenomeEstimator(model).bundle_fields())
    assert read_manifest(data) == manifest
    assert sorted(manifest["libraries"]) == sorted(["python", *libraries])
    for library in libraries:
        assert manifest["libraries"][library] == importlib.import_module(library).__version__


class _Marker:
    """Unpickling this writes a file: what an attacker would put in weights.pt."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_a_pytorch_module_loads_without_trust_into_a_module_of_the_callers_code(
    make_server: Callable[..., Any], tmp_path: Any
) -> None:
    net, data = torch_net()
    with torch.no_grad():
        expected = net(data).numpy()
    with make_server("sqlite").store() as store:
        record = store.save_model(GenomeEstimator(net), {"application": "roundtrip", "canonicalName": "/weights"})
        assert record["artifact"]["isolated"] is True
        with pytest.raises(UntrustedContent, match="into="):
            store.load_model(record["id"])
        loaded = store.load_model(record["id"], into=TinyNet())
        with torch.no_grad():
            np.testing.assert_array_equal(loaded.estimator(data).numpy(), expected)
        assert loaded.estimator.training is False

        class Wider(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.hidden = nn.Linear(4, 32)

        with pytest.raises(InvalidInput, match="do not fit") as caught:
            store.load_model(record["id"], into=Wider())
        assert caught.value.field == "into"
        with pytest.raises(InvalidInput, match="into= is for PyTorch") as caught:
            forest = RandomForestRegressor(n_estimators=2).fit(DIABETES_X, DIABETES_Y)
            saved = store.save_model(GenomeEstimator(forest), {"application": "roundtrip", "canonicalName": "/rf"})
            store.load_model(saved["id"], into=TinyNet())
        assert caught.value.field == "into"

    # weights.pt that is not only weights: refused by weights_only, nothing runs
    bundle, _ = pack(net, GenomeEstimator(net).bundle_fields())
    marker = tmp_path / "ran"
    hostile = io.BytesIO()
    torch.save({"hidden.weight": _Marker(str(marker))}, hostile)
    with pytest.raises(UntrustedContent, match="more than weights"):
        unpack(rebuild(bundle, replace={"weights.pt": hostile.getvalue()}), into=TinyNet())
    assert not marker.exists()

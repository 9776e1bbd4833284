"""The tabular explainer: algorithm choice, SHAP local accuracy, sample explanations and the explainer cache."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genome.errors import InvalidInput, NotFitted
from genome.explain import SampleExplanations, TabularExplainer
from genome.formats.bundle import pack, unpack
from genome.modelstore.estimator import GenomeEstimator, SampleExplainerHandle
from genome.serving.cache import LoadedCache

X_REG, Y_REG = load_diabetes(return_X_y=True)
X_CLS, Y_CLS = load_iris(return_X_y=True)


def _outputs_from_shap(result) -> np.ndarray:
    """expected + sum of SHAP over features, per row (and per output)."""
    values = np.asarray(result.shapley)
    if result.number_labels == 1:
        return result.expected[0] + values.sum(axis=-1)
    return (np.asarray(result.expected)[:, None] + values.sum(axis=-1)).T


@pytest.mark.parametrize(
    ("model", "output"),
    [
        (RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0), lambda m, X: m.predict(X)),
        (GradientBoostingRegressor(n_estimators=20, random_state=0), lambda m, X: m.predict(X)),
        (xgboost.XGBRegressor(n_estimators=20), lambda m, X: m.predict(X, output_margin=True)),
    ],
    ids=["random-forest", "gradient-boosting", "xgboost-margin"],
)
def test_regressors_are_locally_accurate(model, output) -> None:
    y = (Y_REG - Y_REG.mean()) / Y_REG.std()  # unit scale, so float32 boosters meet the tolerance too
    model.fit(X_REG, y)
    result = TabularExplainer().fit(model).explain(X_REG[:6])
    assert result.explainer == "tree" and result.number_labels == 1
    assert np.asarray(result.shapley).shape == (6, X_REG.shape[1])
    np.testing.assert_allclose(_outputs_from_shap(result), output(model, X_REG[:6]), atol=1e-6)


def test_classifier_has_one_list_per_class_adding_up_to_predict_proba() -> None:
    model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X_CLS, Y_CLS)
    result = TabularExplainer().fit(model).explain(X_CLS[:5])
    assert result.number_labels == 3 and len(result.expected) == 3
    assert np.asarray(result.shapley).shape == (3, 5, 4)
    assert result.output == "probability"
    np.testing.assert_allclose(_outputs_from_shap(result), model.predict_proba(X_CLS[:5]), atol=1e-6)
    np.testing.assert_allclose(result.prediction, model.predict_proba(X_CLS[:5]), atol=1e-9)


def test_a_target_of_feature_zero_only_puts_the_attribution_there() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    model = RandomForestRegressor(n_estimators=20, max_depth=5, random_state=0).fit(X, 3 * X[:, 0])
    shapley = np.abs(TabularExplainer().fit(model).explain(X[:20]).shapley)
    assert shapley[:, 0].sum() / shapley.sum() > 0.95


def test_linear_models_use_the_background_or_say_they_use_a_zero_baseline() -> None:
    model = LinearRegression().fit(X_REG, Y_REG)
    zero = TabularExplainer().fit(model).explain(X_REG[:3])
    assert "zero baseline" in zero.explainer
    sampled = TabularExplainer().fit(model, X_REG[:50]).explain(X_REG[:3])
    assert "given sample" in sampled.explainer
    for result in (zero, sampled):
        np.testing.assert_allclose(_outputs_from_shap(result), model.predict(X_REG[:3]), atol=1e-6)
    logistic = LogisticRegression(max_iter=500).fit(X_CLS, Y_CLS)
    result = TabularExplainer().fit(logistic, X_CLS).explain(X_CLS[:2])
    assert result.number_labels == 3 and result.output == "margin"


@pytest.mark.parametrize(
    "model",
    [KNeighborsRegressor(), make_pipeline(StandardScaler(), KNeighborsRegressor())],
    ids=["knn", "pipeline"],
)
def test_other_models_get_the_permutation_explainer_over_a_summarised_background(model) -> None:
    X, y = X_REG[:120, :5], Y_REG[:120]
    model.fit(X, y)
    explainer = TabularExplainer(background_size=10).fit(model, X)
    result = explainer.explain(X[:2])
    assert result.explainer.startswith("permutation") and "10" in result.explainer
    np.testing.assert_allclose(_outputs_from_shap(result), model.predict(X[:2]), atol=1e-6)
    with pytest.raises(InvalidInput, match="sampleExplanations") as error:
        TabularExplainer().fit(model)
    assert error.value.field == "background"


def test_results_are_plain_json_and_deterministic() -> None:
    model = KNeighborsRegressor().fit(X_REG[:100, :4], Y_REG[:100])
    first = TabularExplainer(background_size=5).fit(model, X_REG[:100, :4]).explain(X_REG[:2, :4]).to_dict()
    second = TabularExplainer(background_size=5).fit(model, X_REG[:100, :4]).explain(X_REG[:2, :4]).to_dict()
    assert json.loads(json.dumps(first)) == first == second


def test_explain_before_fit_is_not_fitted_and_bad_settings_name_themselves() -> None:
    with pytest.raises(NotFitted, match="fit"):
        TabularExplainer().explain(X_REG[:1])
    with pytest.raises(AttributeError):  # NotFitted is also an AttributeError, as in scikit-learn
        TabularExplainer().explain(X_REG[:1])
    model = LinearRegression().fit(X_REG, Y_REG)
    with pytest.raises(InvalidInput) as error:
        TabularExplainer(algorithm="magic").fit(model)
    assert error.value.field == "algorithm"
    with pytest.raises(InvalidInput, match="expects 10") as error:
        TabularExplainer().fit(model).explain(X_REG[:2, :3])
    assert error.value.field == "X"


def test_sample_explanations_work_without_explainer_settings_and_travel_without_pickle() -> None:
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X_REG, Y_REG)
    names = [f"f{i}" for i in range(10)]
    genome_model = GenomeEstimator(model, target_classes=["price"], feature_names=names, modality="tabular")
    assert vars(genome_model).get("samples_") is None  # the constructor only stores its arguments
    assert isinstance(genome_model.explainer, SampleExplainerHandle)
    samples = genome_model.explainer.sampleExplanations(X_REG[:250])  # over 200 rows: chunks behind a bar
    assert genome_model.samples_ is samples
    assert samples.shapley.shape == (250, 10) and samples.rows == 250
    np.testing.assert_allclose(samples.expected[0] + samples.shapley.sum(axis=1), model.predict(X_REG[:250]))
    assert max(samples.importance, key=samples.importance.get) == names[np.argmax(np.abs(samples.shapley).mean(0))]

    data, manifest = pack(model, genome_model.bundle_fields(), samples=genome_model.bundle_samples())
    assert manifest["samples"]["rows"] == 250 and set(manifest["samples"]["featureImportance"]) == set(names)
    names_in_zip = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "samples.npz" in names_in_zip and "fields.pkl" not in names_in_zip
    np.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("samples.npz")), allow_pickle=False)

    model_back, fields, _ = unpack(data)
    restored = GenomeEstimator.from_bundle_fields(model_back, fields).samples_
    assert isinstance(restored, SampleExplanations)
    np.testing.assert_array_equal(restored.shapley, samples.shapley)
    assert restored.feature_names == names and restored.importance == pytest.approx(samples.importance)


def test_explainer_settings_given_to_the_estimator_are_what_explainer_returns() -> None:
    settings = TabularExplainer(algorithm="permutation")
    genome_model = GenomeEstimator(LinearRegression(), explainer=settings)
    assert genome_model.explainer is settings
    with pytest.raises(InvalidInput, match="tabular") as error:
        GenomeEstimator(LinearRegression(), modality="text").explainer.sampleExplanations([[1.0]])
    assert error.value.field == "modality"


def test_cache_loads_each_key_once_under_concurrent_first_requests_and_evicts_the_oldest() -> None:
    cache = LoadedCache[str](max_entries=2)
    calls: list[str] = []

    def load(key: str):
        def run() -> str:
            calls.append(key)
            time.sleep(0.05)
            return key.upper()

        return run

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("a", load("a")))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["A"] * 8 and calls == ["a"]
    cache.get("b", load("b"))
    cache.get("a", load("a"))  # a is now the most recent
    cache.get("c", load("c"))
    assert "a" in cache and "c" in cache and "b" not in cache and len(cache) == 2
    with pytest.raises(RuntimeError):
        cache.get("d", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert "d" not in cache

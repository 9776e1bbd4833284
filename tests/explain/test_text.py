"""LIME explanations of text classifiers: a planted word, determinism, and the seed's flow through a live server."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from genome.errors import InvalidInput, NotFitted
from genome.explain.text import TextExplainer
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX

EXPLAIN = f"{API_PREFIX}/routing/explain"
CLASSES = ["alert", "calm"]
WORDS = [
    "river",
    "stone",
    "cloud",
    "morning",
    "garden",
    "quiet",
    "window",
    "paper",
    "light",
    "table",
    "music",
    "forest",
    "road",
    "bread",
]
TEXT = "the garden was quiet until a zebra walked past the window and the zebra stopped"


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    """A classifier decided by one word: class "alert" (0) contains "zebra", class "calm" (1) does not."""
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(300):
        words = list(rng.choice(WORDS, size=8))
        if i % 2 == 0:
            words.insert(int(rng.integers(0, 9)), "zebra")
        texts.append(" ".join(words))
        labels.append(i % 2)
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(texts, labels)


def _meta(canonical_name: str = "/classifier/text/zebra") -> dict:
    return {
        "canonicalName": canonical_name,
        "application": "search",
        "pipelineName": "pipeline-text-test",
        "pipelineRunId": "run-1-text",
        "pipelineStage": "model",
        "framework": "sklearn",
        "inputModality": "text",
        "versionName": "sklearn-text.1.2.2",
        "predictionType": "classification",
    }


def _save(store, pipe: Pipeline, canonical_name: str = "/classifier/text/zebra") -> dict:
    genome_model = GenomeEstimator(pipe, estimator_predict="predict_proba", target_classes=CLASSES, modality="text")
    return store.save_model(genome_model, _meta(canonical_name))


def _target(result: dict, name: str) -> dict:
    return next(target for target in result["textExplanation"]["targets"] if target["target"] == name)


def test_the_planted_word_leads_the_alert_class_with_exact_char_spans(pipe) -> None:
    result = TextExplainer(num_samples=100, num_features=5).fit(pipe, CLASSES).explain(TEXT).to_dict()
    alert = _target(result, "alert")
    word, spans, weight = alert["weighted_spans"]["spans"][0]
    assert word == "zebra" and weight > 0
    assert len(spans) == 2 and all(TEXT[start:end] == "zebra" for start, end in spans)
    assert [start for start, _ in spans] == [i for i in range(len(TEXT)) if TEXT.startswith("zebra", i)]
    calm = _target(result, "calm")
    assert calm["weighted_spans"]["spans"][0][0] == "zebra" and calm["weighted_spans"]["spans"][0][2] < 0
    probabilities = pipe.predict_proba([TEXT])[0]
    assert alert["proba"] == pytest.approx(probabilities[0]) and calm["proba"] == pytest.approx(probabilities[1])
    assert all(len(target["weighted_spans"]["spans"]) <= 5 for target in result["textExplanation"]["targets"])
    assert 0.5 < result["metrics"]["score"] <= 1.0 and result["metrics"]["mean_KL_divergence"] >= 0.0
    assert result["textExplanation"]["estimator"] == "Ridge"
    assert result["textExplanation"]["method"] == "linear model"


def test_the_same_seed_gives_the_same_explanation(pipe) -> None:
    first = TextExplainer(num_samples=60, seed=3).fit(pipe, CLASSES).explain(TEXT)
    second = TextExplainer(num_samples=60, seed=3).fit(pipe, CLASSES).explain(TEXT)
    assert first == second
    other = TextExplainer(num_samples=60, seed=4).fit(pipe, CLASSES).explain(TEXT)
    assert other != first


def test_class_names_default_to_the_models_classes_and_misuse_is_named(pipe) -> None:
    result = TextExplainer(num_samples=50).fit(pipe).explain(TEXT)
    assert [target["target"] for target in result.textExplanation["targets"]] == ["0", "1"]
    with pytest.raises(NotFitted):
        TextExplainer().explain(TEXT)
    with pytest.raises(InvalidInput) as caught:
        TextExplainer().fit(pipe, CLASSES, method="transform_nothing")
    assert caught.value.field == "estimator_predict"
    with pytest.raises(InvalidInput) as caught:
        TextExplainer(num_samples=50).fit(pipe, CLASSES).explain("  ... !!")
    assert caught.value.field == "text"
    with pytest.raises(InvalidInput) as caught:
        TextExplainer(num_samples=50).fit(pipe, ["only-one"]).explain(TEXT)
    assert caught.value.field == "target_classes"


def test_seed_text_flow_through_the_live_route(server, store, pipe) -> None:
    saved = _save(store, pipe)
    body = {"application": "search", "canonicalName": "/classifier/text/zebra", "text": TEXT, "num_samples": 80}
    response = server.http.post(EXPLAIN, json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"metrics", "textExplanation", "model"}
    assert set(result["metrics"]) == {"score", "mean_KL_divergence"}
    assert set(result["textExplanation"]) == {"estimator", "method", "targets"}
    assert [target["target"] for target in result["textExplanation"]["targets"]] == CLASSES
    for target in result["textExplanation"]["targets"]:
        assert set(target) == {"proba", "score", "target", "weighted_spans"}
        for word, spans, weight in target["weighted_spans"]["spans"]:
            assert isinstance(weight, float) and all(TEXT[start:end] == word for start, end in spans)
    assert _target(result, "alert")["weighted_spans"]["spans"][0][0] == "zebra"
    assert result["model"] == {"id": saved["id"], "canonicalName": "/classifier/text/zebra", "versionNumber": 1}
    # the explainer is deterministic, and num_samples is the request's to choose
    assert server.http.post(EXPLAIN, json=body).json() == result
    assert store.explain(text=TEXT, id=saved["id"], num_samples=80) == result
    expected = TextExplainer(num_samples=80).fit(pipe, CLASSES).explain(TEXT)
    assert result["metrics"] == pytest.approx(expected.metrics)
    fewer = server.http.post(EXPLAIN, json={**body, "num_samples": 50}).json()
    assert fewer["metrics"] == pytest.approx(TextExplainer(num_samples=50).fit(pipe, CLASSES).explain(TEXT).metrics)
    assert fewer["metrics"] != result["metrics"]


def test_text_requests_that_do_not_fit_the_model_are_clear_errors(make_server, pipe) -> None:
    server = make_server("sqlite")
    store = server.store()
    _save(store, pipe)
    name = {"application": "search", "canonicalName": "/classifier/text/zebra"}

    response = server.http.post(EXPLAIN, json={**name, "entries": [[0.0, 1.0]]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "entries" and "text model" in error["message"]
    response = server.http.post(EXPLAIN, json=name)
    assert response.status_code == 400 and response.json()["error"]["field"] == "text"
    response = server.http.post(EXPLAIN, json={**name, "text": "zebra " * 20_000})
    assert response.status_code == 413 and response.json()["error"]["field"] == "text"
    for bad in (10, 10_000):
        response = server.http.post(EXPLAIN, json={**name, "text": TEXT, "num_samples": bad})
        assert 400 <= response.status_code < 500 and response.status_code != 413, response.text

"""LIME explanations of text classifiers: a planted word, determinism, and the seed's flow through a live server."""

from __future__ import annotations

import math
import string

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from genome.config import Settings
from genome.errors import InvalidInput, NotFitted, PayloadTooLarge
from genome.explain.text import TEXT_BUDGET, TextExplainer, check_text_budget
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


def _document(distinct: int) -> str:
    """A text of ``distinct`` different 6-letter words, as in ordinary prose (7 characters a word)."""
    letters = string.ascii_lowercase
    return " ".join(f"wor{letters[i // 676 % 26]}{letters[i // 26 % 26]}{letters[i % 26]}" for i in range(distinct))


LONG = _document(14_286)[:100_000]  # the most characters a request may send, all different words
BOMB = "a " * 3000 + "b" * 6000  # LIME's tokens are a fixed-width array: 6001 tokens x 6000 characters took 280 MB


def test_check_text_budget_passes_the_seeds_document_and_refuses_what_costs_too_much() -> None:
    seed_document = _document(200)  # the seed's 200-word document
    check_text_budget(seed_document, 250, TEXT_BUDGET)
    check_text_budget(seed_document, 5000, TEXT_BUDGET)  # even at the most samples a request may ask for

    with pytest.raises(PayloadTooLarge) as caught:  # 100k characters x 5000 samples took 2.3 GB and minutes
        check_text_budget(LONG, 5000, TEXT_BUDGET)
    error = caught.value
    assert error.field == "num_samples" and error.status == 413
    for words in ("14286 distinct words", "100000 characters", "num_samples=5000", f"budget of {TEXT_BUDGET}"):
        assert words in error.message
    assert "at most 73" in error.message and "shorter text" in error.message
    check_text_budget(LONG, 73, TEXT_BUDGET)  # the longest text a request may send still has enough samples


def test_check_text_budget_names_num_samples_when_fewer_would_do() -> None:
    text = _document(1000)
    per_sample = 1000 + math.ceil(len(text) / 8)  # distinct words + characters / 8
    tokenizing = math.ceil((2 * 1000 - 1) * 6 / 4)  # tokens (words and spaces) x longest token / 4
    most = (1_000_000 - tokenizing) // per_sample
    with pytest.raises(PayloadTooLarge) as caught:
        check_text_budget(text, 5000, 1_000_000)
    assert caught.value.field == "num_samples"
    assert f"at most {most}" in caught.value.message and "1000 distinct words" in caught.value.message
    check_text_budget(text, most, 1_000_000)
    with pytest.raises(PayloadTooLarge):
        check_text_budget(text, most + 1, 1_000_000)
    with pytest.raises(PayloadTooLarge) as caught:  # not even the fewest samples a request may ask for fit
        check_text_budget(text, 5000, 49 * per_sample + tokenizing)
    assert caught.value.field == "text"


def test_check_text_budget_counts_lime_tokenizing_a_long_word_among_short_ones() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        check_text_budget(BOMB, 50, TEXT_BUDGET)
    assert caught.value.field == "text" and "12000 characters" in caught.value.message
    assert "no very long words" in caught.value.message


def test_the_explainer_enforces_its_budget_and_the_setting_defaults_to_it(pipe) -> None:
    assert Settings().explain_text_budget == TEXT_BUDGET == TextExplainer().budget
    explainer = TextExplainer(num_samples=100, budget=2000).fit(pipe, CLASSES)
    with pytest.raises(PayloadTooLarge) as caught:
        explainer.explain(TEXT)  # 12 distinct words and 80 characters: 22 units a sample, 51 to tokenize
    assert caught.value.field == "num_samples" and "at most 88" in caught.value.message
    assert explainer.explain(TEXT, num_samples=50).metrics  # within the budget
    with pytest.raises(PayloadTooLarge) as caught:
        TextExplainer().fit(pipe, CLASSES).explain(BOMB, num_samples=50)
    assert caught.value.field == "text"
    with pytest.raises(InvalidInput) as caught:
        TextExplainer(budget=0).fit(pipe, CLASSES)
    assert caught.value.field == "budget"
    # An explainer pickled before budgets existed has none of its own, and gets the default.
    old = TextExplainer.__new__(TextExplainer)
    old.__dict__.update(num_samples=250, num_features=20, seed=0)
    assert old.budget == TEXT_BUDGET and f"budget={TEXT_BUDGET}" in repr(old)


def test_an_explanation_over_the_budget_is_413_through_the_live_route(server, store, pipe) -> None:
    _save(store, pipe)
    name = {"application": "search", "canonicalName": "/classifier/text/zebra"}
    response = server.http.post(EXPLAIN, json={**name, "text": _document(2000), "num_samples": 5000})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["field"] == "num_samples" and "2000 distinct words" in error["message"]
    response = server.http.post(EXPLAIN, json={**name, "text": BOMB, "num_samples": 50})
    assert response.status_code == 413 and response.json()["error"]["field"] == "text"
    response = server.http.post(EXPLAIN, json={**name, "text": _document(200), "num_samples": 5000})
    assert response.status_code == 200, response.text

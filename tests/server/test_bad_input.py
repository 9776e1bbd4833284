"""Bad input gets a 4xx naming the field and the problem, and leaves nothing behind."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from genome.errors import InvalidInput
from genome.formats.bundle import pack
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

X, Y = load_iris(return_X_y=True)
MODEL = LogisticRegression(max_iter=300).fit(X, Y)
BUNDLE, _ = pack(MODEL, GenomeEstimator(MODEL, modality="tabular").bundle_fields())
META = {"application": "search", "canonicalName": "/iris", "framework": "sklearn", "inputModality": "tabular"}


def post_model(server, meta: object = META, artifact: bytes | None = BUNDLE) -> httpx.Response:
    data = {} if meta is None else {"meta": meta if isinstance(meta, str) else json.dumps(meta)}
    files = {} if artifact is None else {"artifact": ("m.zip", artifact, "application/zip")}
    return server.http.post(f"{server.url}/v1.0/genome/modelstore/models", data=data, files=files or None)


def assert_nothing_stored(server) -> None:
    listing = server.http.get(f"{server.url}/v1.0/genome/modelstore/models").json()
    assert listing["items"] == []
    blobs = Path(server.settings.resolved_artifact_root)
    assert not [path for path in blobs.rglob("*") if path.is_file()]


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    return error


@pytest.mark.parametrize(
    ("meta", "field", "words"),
    [
        (None, "meta", "required"),
        ("{not json", "meta", "not valid JSON"),
        ("[1, 2]", "meta", "object"),
        ({**META, "application": None}, "meta.application", ""),
        ({k: v for k, v in META.items() if k != "canonicalName"}, "meta.canonicalName", "required"),
        ({**META, "versionName": 5}, "meta.versionName", "string"),
        ({**META, "inputModality": "audio"}, "meta.inputModality", "tabular"),
        ({**META, "framework": "caffe"}, "meta.framework", "sklearn"),
        ({**META, "predictionType": "ranking"}, "meta.predictionType", "classification"),
        ({**META, "canonicalname": "/typo"}, "meta.canonicalname", "not a known field"),
        ({**META, "tags": {"team": 3}}, "meta.tags.team", "string"),
        ({**META, "metrics": {"auc": "high"}}, "meta.metrics.auc", "number"),
        ({**META, "inputModality": "text"}, "inputModality", "disagrees"),
    ],
)
def test_bad_metadata(server, meta: object, field: str, words: str) -> None:
    error = error_of(post_model(server, meta=meta), 400)
    assert error["field"] == field
    assert words in str(error["message"])
    assert_nothing_stored(server)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_metric_that_is_not_a_finite_number_is_refused_naming_it(server, literal: str) -> None:
    meta = json.dumps({**META, "metrics": {"auc": 0.9, "rmse": "REPLACE"}}).replace('"REPLACE"', literal)
    error = error_of(post_model(server, meta=meta), 400)
    assert error["field"] == "meta.metrics.rmse" and "finite" in str(error["message"])
    assert_nothing_stored(server)


def test_the_sdk_refuses_a_nan_metric_before_sending(store: ModelStore) -> None:
    with pytest.raises(InvalidInput, match="rmse") as caught:
        store.save_model(GenomeEstimator(MODEL), {**META, "metrics": {"rmse": float("nan")}})
    assert caught.value.field == "meta.metrics.rmse"
    assert store.search_models()["items"] == []


@pytest.mark.parametrize(
    ("artifact", "words"),
    [(None, "required"), (b"definitely not a zip", "not a Genome model bundle"), (b"", "not a Genome model bundle")],
)
def test_bad_artifact(server, artifact: bytes | None, words: str) -> None:
    error = error_of(post_model(server, artifact=artifact), 400)
    assert error["field"] == "artifact"
    assert words in str(error["message"])
    assert_nothing_stored(server)


def test_non_json_bodies(server) -> None:
    url = f"{server.url}/v1.0/genome/modelstore/models/search"
    error = error_of(server.http.post(url, content=b"{oops", headers={"content-type": "application/json"}), 400)
    assert "not valid JSON" in str(error["message"])
    error = error_of(server.http.post(url, content=b"plain words"), 400)
    assert "JSON object" in str(error["message"])
    error = error_of(server.http.post(url, json={"filter": {"field": "framework", "op": "like"}}), 400)
    assert str(error["field"]).startswith("filter")


def test_unknown_routes_and_methods_use_the_envelope(server) -> None:
    error_of(server.http.get(f"{server.url}/v1.0/genome/nothing-here"), 404)
    error_of(server.http.delete(f"{server.url}/v1.0/genome/modelstore/search"), 405)


def test_oversize_upload_is_413_and_leaves_nothing(make_server) -> None:
    server = make_server("sqlite", max_request_bytes=20_000)
    big = BUNDLE + b"\0" * 30_000
    error = error_of(post_model(server, artifact=big), 413)
    assert "20000" in str(error["message"])

    form = httpx.Request(
        "POST", server.url, data={"meta": json.dumps(META)}, files={"artifact": ("m", big, "application/zip")}
    )
    payload = form.read()
    # Without Content-Length the limit must still hold while the body streams in.
    streamed = httpx.Request(
        "POST",
        f"{server.url}/v1.0/genome/modelstore/models",
        content=(payload[i : i + 4096] for i in range(0, len(payload), 4096)),
        headers={"content-type": form.headers["content-type"], "Authorization": f"Bearer {server.token}"},
    )
    error_of(server.http.send(streamed), 413)
    assert_nothing_stored(server)


def test_sdk_checks_the_estimator_fields_before_sending(store: ModelStore) -> None:
    cases = [
        (GenomeEstimator(MODEL, modality="audio"), "modality"),
        (GenomeEstimator(MODEL, feature_names=["a", "b"]), "feature_names"),
        (GenomeEstimator(MODEL, estimator_predict="predict_banana"), "estimator_predict"),
        (GenomeEstimator(MODEL, data_preprocessor="not callable"), "data_preprocessor"),
        (GenomeEstimator(MODEL, target_classes="abc"), "target_classes"),
    ]
    for estimator, field in cases:
        with pytest.raises(InvalidInput) as caught:
            store.save_model(estimator, META)
        assert caught.value.field == field
    with pytest.raises(InvalidInput, match="GenomeEstimator") as caught:
        store.save_model(MODEL, META)  # type: ignore[arg-type]
    assert caught.value.field == "genome_estimator"
    assert store.search_models()["items"] == []


def test_feature_names_length_mismatch_names_both_counts(store: ModelStore) -> None:
    with pytest.raises(InvalidInput, match=r"2 names .* 4 features"):
        store.save_model(GenomeEstimator(MODEL, feature_names=["a", "b"]), META)


def test_unpicklable_model_is_a_clear_error(store: ModelStore) -> None:
    with pytest.raises(InvalidInput, match="cannot be serialized") as caught:
        store.save_model(GenomeEstimator(threading.Lock()), META)
    assert caught.value.field == "estimator"


def test_values_the_database_refuses_are_400_not_500(server, backend: str) -> None:
    """PostgreSQL refuses NUL characters in text (SQLite stores them); found by fuzzing the API."""
    created = server.http.post("/v1.0/genome/auth/tokens", json={"name": "bad\u0000name"})
    params = {"application": "a\u0000", "canonicalName": "/x"}
    resolved = server.http.get("/v1.0/genome/modelstore/resolve", params=params)
    if backend == "sqlite":
        assert (created.status_code, resolved.status_code) == (201, 404)
        return
    for response in (created, resolved):
        assert "cannot be stored or searched" in error_of(response, 400)["message"]


def test_integers_beyond_64_bits_are_400_not_500(server) -> None:
    huge = 10**30
    prefix = f"{server.url}/v1.0/genome"
    step = {"stepName": "s", "command": "true"}
    run = server.http.post(
        f"{prefix}/compute/sequencer/run", json={"application": "a", "pipelineName": "p", "steps": [step]}
    )
    requests = [
        ("GET", f"{prefix}/modelstore/models", {"params": {"createdAfter": huge}}),
        (
            "POST",
            f"{prefix}/modelstore/models/search",
            {"json": {"filter": {"field": "created", "op": "gt", "value": huge}}},
        ),
        ("GET", f"{prefix}/evaluations/runs", {"params": {"createdAfter": huge}}),
        (
            "GET",
            f"{prefix}/evaluations/history",
            {"params": {"application": "a", "name": "b", "canonicalName": "c", "cursor": huge}},
        ),
        ("GET", f"{prefix}/compute/runs/{run.json()['id']}/steps/s/attempts/{huge}/log", {"params": {"offset": huge}}),
    ]
    for method, url, options in requests:
        response = server.http.request(method, url, **options)
        assert response.status_code in (200, 400, 404), (url, response.text)

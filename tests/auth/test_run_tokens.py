"""A pipeline run's token through a live server: it reaches the Model Store, the Evaluation Store, explanations,
visualizations, its own run and ``/auth/me`` in its own application, and every other route refuses it."""

from __future__ import annotations

import re
import sys
import time

import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from genome.auth.service import mint_run_token
from genome.errors import NotFound, PermissionDenied
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from seed_evaluation import TrainTestEvaluation

X, Y = load_iris(return_X_y=True)
MODEL = GenomeEstimator(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, Y))
REFUSED = "a pipeline run's token cannot"

# What a step may call. Kept here by hand, so widening what run tokens reach is a visible change to this test.
ALLOWED = {
    ("GET", "/auth/me"),
    ("POST", "/modelstore/models"),
    ("GET", "/modelstore/models"),
    ("POST", "/modelstore/models/search"),
    ("POST", "/modelstore/search"),
    ("GET", "/modelstore/resolve"),
    ("GET", "/modelstore/alias-history"),
    ("GET", "/modelstore/compare"),
    ("GET", "/modelstore/models/{version_id}"),
    ("GET", "/modelstore/models/{version_id}/artifact"),
    ("PUT", "/modelstore/models/{version_id}/aliases/{alias}"),
    ("DELETE", "/modelstore/models/{version_id}/aliases/{alias}"),
    ("PATCH", "/modelstore/models/{version_id}/tags"),
    ("GET", "/modelstore/models/{version_id}/card"),
    ("GET", "/modelstore/models/{model_id}/visualization"),
    ("GET", "/modelstore/models/{model_id}/visualization.svg"),
    ("POST", "/routing/explain"),
    ("POST", "/routing/explanation/samples"),
    ("POST", "/routing/visualization"),
    ("POST", "/evaluations/runs"),
    ("GET", "/evaluations/runs"),
    ("GET", "/evaluations/runs/{run_id}"),
    ("GET", "/evaluations/runs/{run_id}/diff/{base_id}"),
    ("GET", "/evaluations/history"),
    ("GET", "/compute/runs/{run_id}"),
    ("GET", "/compute/runs/{run_id}/steps/{step_name}/attempts/{number}/log"),
    ("GET", "/compute/runs/{run_id}/steps/{step_name}/attempts/{number}/log/search"),
    ("GET", "/compute/runs/{run_id}/steps/{step_name}/attempts/{number}/log/download"),
}


def pipeline(application: str = "search") -> dict:
    step = {"stepName": "train", "stepType": "model", "command": [sys.executable, "-c", "print('trained')"]}
    return {"pipelineName": "train", "application": application, "steps": [step]}


def finished_run(server, http) -> dict:
    """A run of ``pipeline()`` queued by ``http``'s user, once the server has driven it to the end."""
    run = http.post(f"{API_PREFIX}/compute/sequencer/run", json=pipeline()).json()
    for _ in range(600):
        run = http.get(f"{API_PREFIX}/compute/runs/{run['id']}").json()
        if run["finished"]:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run['id']} did not finish: {run['status']}")


def run_token(server, username: str, application: str = "search", run_id: str = "run-under-test") -> str:
    token, _ = mint_run_token(server.app.state.runtime.db, username, application, run_id, ttl_seconds=600)
    return token


def test_a_run_token_cannot_mint_an_unscoped_token_or_manage_accounts(server) -> None:
    server.token_for("ann", {"*": "admin"})
    step = server.client(run_token(server, "ann"))
    for method, path, body in (
        ("POST", "/auth/tokens", {"name": "escape"}),
        ("GET", "/auth/tokens", None),
        ("POST", "/auth/users", {"username": "mallory", "password": "mallory-password", "roles": {"*": "admin"}}),
        ("PUT", "/auth/users/ann/roles/ads", {"role": "admin"}),
        ("PUT", "/auth/users/admin/password", {"password": "taken-over-1"}),
        ("POST", "/auth/logout", None),
        ("POST", "/compute/sequencer/run", pipeline()),
        ("PUT", "/compute/deployments/search/prod", {"parameters": {"a": 1}}),
        ("DELETE", "/modelstore/models/any-id", None),
    ):
        response = step.request(method, f"{API_PREFIX}{path}", json=body)
        assert response.status_code == 403, f"{method} {path} answered {response.status_code}: {response.text}"
        error = response.json()["error"]
        assert error["type"] == "PermissionDenied" and REFUSED in error["message"], error
    assert step.get(f"{API_PREFIX}/auth/me").json() == {
        "username": "ann",
        "roles": {"search": "editor"},
        "csrfToken": None,
        "expires": None,
    }


def test_every_route_outside_the_allow_list_refuses_run_tokens(server) -> None:
    """Walks every operation in the OpenAPI document, so a route added later is refused to run tokens unless it
    is allowed on purpose (and this test's list is updated with it)."""
    server.token_for("ann", {"*": "admin"})
    step = server.client(run_token(server, "ann"))
    paths = step.get(f"{API_PREFIX}/openapi.json").json()["paths"]
    operations = {(method.upper(), path.removeprefix(API_PREFIX)) for path, item in paths.items() for method in item}
    public = {("GET", "/healthz"), ("POST", "/auth/login")}
    assert operations >= ALLOWED, f"allowed but gone: {ALLOWED - operations}"
    for method, path in sorted(operations - public):
        response = step.request(method, API_PREFIX + re.sub(r"\{[^}]+\}", "x", path))
        refused = response.status_code == 403 and REFUSED in response.json()["error"]["message"]
        if (method, path) in ALLOWED:
            assert not refused, f"{method} {path} refused a run token: {response.text}"
            assert response.status_code in (200, 400, 404, 422), f"{method} {path} answered {response.status_code}"
        else:
            assert refused, f"{method} {path} answered {response.status_code} to a run token: {response.text}"


def test_allowed_routes_work_in_the_run_application_and_nowhere_else(server) -> None:
    admin = server.store()
    ann_token = server.token_for("ann", {"search": "editor", "ads": "editor"})
    ads_model = admin.save_model(MODEL, {"application": "ads", "canonicalName": "/ads/tree"})
    run = finished_run(server, server.client(ann_token))
    assert run["status"] == "succeeded", run["steps"][0]["attempts"]
    token = run_token(server, "ann", "search", run["id"])
    store, evaluations, step = server.store(token), server.evaluations(token), server.client(token)

    saved = store.save_model(MODEL, {"application": "search", "canonicalName": "/search/tree"})
    assert saved["createdBy"] == "ann"
    assert (store.load_model(saved["id"]).estimator.predict(X[:2]) == MODEL.estimator.predict(X[:2])).all()
    assert store.find_model("search", "/search/tree")["id"] == saved["id"]
    assert [item["id"] for item in store.search_models()["items"]] == [saved["id"]]
    assert "production" in store.set_alias(saved["id"], "production")["aliases"]
    assert store.set_tags(saved["id"], {"trained-by": "pipeline"})["tags"]["trained-by"] == "pipeline"
    assert store.model_card(saved["id"])["model"]["id"] == saved["id"]
    assert store.explain(X[:1].tolist(), id=saved["id"])["shapley"]
    assert store.visualize(id=saved["id"])["kind"] == "tree"
    stored = TrainTestEvaluation(evaluations, target=saved["id"]).to_run()
    assert evaluations.get_run(stored["id"])["id"] == stored["id"]
    assert step.get(f"{API_PREFIX}/compute/runs/{run['id']}").json()["id"] == run["id"]
    log = step.get(f"{API_PREFIX}/compute/runs/{run['id']}/steps/train/attempts/1/log").json()
    assert "trained" in log["text"]
    assert step.get(f"{API_PREFIX}/auth/me").json()["roles"] == {"search": "editor"}

    # Another application: its records are as missing as unknown ones, and writes there are refused.
    for call in (
        lambda: store.get_model(ads_model["id"]),
        lambda: store.load_model(ads_model["id"]),
        lambda: store.find_model("ads", "/ads/tree"),
        lambda: store.model_card(ads_model["id"]),
        lambda: store.explain(X[:1].tolist(), id=ads_model["id"]),
        lambda: store.visualize(id=ads_model["id"]),
        lambda: store.set_alias(ads_model["id"], "production"),
        lambda: TrainTestEvaluation(evaluations, target=ads_model["id"]).to_run(),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(PermissionDenied):
        store.save_model(MODEL, {"application": "ads", "canonicalName": "/ads/tree"})
    assert store.search_models({"field": "application", "value": "ads"})["items"] == []
    # Another run, even of the same owner in the same application, is not this token's to read.
    other = finished_run(server, server.client(ann_token))
    assert step.get(f"{API_PREFIX}/compute/runs/{other['id']}").status_code == 404
    assert step.get(f"{API_PREFIX}/compute/runs/{other['id']}/steps/train/attempts/1/log").status_code == 404

"""The UI's forms and pages as an attacker would use them: CSRF, open redirects, escaping, roles, lockouts."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator

PASSWORD = "a-long-enough-password"


def browser(server, username: str | None = None, password: str = PASSWORD) -> httpx.Client:
    """A client that keeps cookies, logged in through the form when ``username`` is given."""
    client = server._keep(httpx.Client(base_url=server.url, timeout=60))  # closed with the server
    if username:
        response = client.post("/login", data={"username": username, "password": password, "next": "/"})
        assert response.status_code == 303, response.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return client.cookies["genome_csrf"]


def save_tiny(server, application: str, name: str) -> str:
    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    meta = {"application": application, "canonicalName": name, "inputModality": "tabular"}
    return server.store().save_model(GenomeEstimator(model, modality="tabular"), meta)["id"]


def test_login_goes_back_only_to_a_page_of_this_site(make_server) -> None:
    server = make_server("sqlite")
    client = browser(server)
    for target, expected in [
        ("/models?q=x", "/models?q=x"),
        ("https://evil.example/", "/"),
        ("//evil.example/path", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ]:
        response = client.post("/login", data={"username": "admin", "password": server.admin_password, "next": target})
        assert response.status_code == 303 and response.headers["location"] == expected, target


def test_a_wrong_password_and_a_lockout_are_shown_on_the_form(make_server) -> None:
    server = make_server("sqlite", login_max_failures=2)
    client = browser(server)
    wrong = client.post("/login", data={"username": "admin", "password": "nope-nope-nope"})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    assert 'value="admin"' in wrong.text  # the username stays in the form
    client.post("/login", data={"username": "admin", "password": "nope-nope-nope"})
    locked = client.post("/login", data={"username": "admin", "password": server.admin_password})
    assert locked.status_code == 429 and "try again in" in locked.text and int(locked.headers["retry-after"]) > 0
    assert "genome_session" not in client.cookies


def test_a_form_without_its_csrf_token_changes_nothing(make_server) -> None:
    server = make_server("sqlite")
    version = save_tiny(server, "search", "/tiny")
    client = browser(server, "admin", server.admin_password)
    forged = client.post(f"/models/{version}/aliases", data={"csrf": "guessed", "alias": "production"})
    assert forged.status_code == 403 and "another site" in forged.text
    missing = client.post(f"/models/{version}/aliases", data={"alias": "production"})
    assert missing.status_code == 400
    assert server.store().load_model  # the store still answers
    assert server.http.get(f"/v1.0/genome/modelstore/models/{version}").json()["aliases"] == []
    done = client.post(f"/models/{version}/aliases", data={"csrf": csrf_of(client), "alias": "production"})
    assert done.status_code == 303
    assert server.http.get(f"/v1.0/genome/modelstore/models/{version}").json()["aliases"] == ["production"]
    ledger = client.get(f"/models/{version}").text
    assert re.search(r"production</span>\s*set on v1", ledger) and "by admin" in ledger
    assert "no aliases" in client.get(f"/models/{version}?asOf=2000-01-01").text
    assert client.get(f"/models/{version}?asOf=yesterday").status_code == 400
    logged_out = client.post("/logout", data={"csrf": csrf_of(client)})
    assert logged_out.status_code == 303 and client.get("/models").status_code == 303


def test_viewers_get_no_edit_controls_and_their_posts_are_refused(make_server) -> None:
    server = make_server("sqlite")
    version = save_tiny(server, "search", "/tiny")
    server.accounts().create_user("vera", PASSWORD, {"search": "viewer"})
    client = browser(server, "vera")
    page = client.get(f"/models/{version}")
    assert page.status_code == 200 and "/tiny" in page.text
    assert 'data-testid="edit-controls"' not in page.text
    refused = client.post(f"/models/{version}/aliases", data={"csrf": csrf_of(client), "alias": "production"})
    assert refused.status_code == 403
    deleted = client.post(f"/models/{version}/delete", data={"csrf": csrf_of(client), "confirm": "/tiny v1"})
    assert deleted.status_code == 403
    assert server.http.get(f"/v1.0/genome/modelstore/models/{version}").status_code == 200


def test_a_role_in_one_application_shows_nothing_of_another(make_server) -> None:
    server = make_server("sqlite")
    secret = save_tiny(server, "payroll", "/salaries-predictor")
    save_tiny(server, "search", "/ranker")
    server.accounts().create_user("sam", PASSWORD, {"search": "editor"})
    client = browser(server, "sam")
    for path in ("/", "/models"):
        assert "payroll" not in client.get(path).text, path
    for path in ("/models?q=salaries", "/models?application=payroll", "/models?q=predictor"):
        assert "salaries-predictor" not in client.get(path).text, path
    assert "/ranker" in client.get("/models").text
    missing = client.get(f"/models/{secret}")
    assert missing.status_code == 404 and "payroll" not in missing.text


def test_names_are_escaped_and_bad_filters_are_named_not_crashes(make_server) -> None:
    server = make_server("sqlite")
    save_tiny(server, "search", "/<script>alert(1)</script>")
    client = browser(server, "admin", server.admin_password)
    page = client.get("/models")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    for query in ("tag=nocolon", "createdFrom=31/12/2024", "sort=password"):
        bad = client.get(f"/models?{query}")
        assert bad.status_code == 400 and 'data-testid="search-error"' in bad.text, query
        assert re.search(r"must|not|one of|should", bad.text), query
    assert client.get("/models?cursor=garbage").status_code == 400
    assert client.get("/models/nonexistent").status_code == 404
    assert client.get(f"/models/{'x' * 40}?tab=nope").status_code in (400, 404)


def test_pages_need_a_session_and_the_seed_address_leads_to_them(make_server) -> None:
    server = make_server("sqlite")
    client = browser(server)
    first = client.get("/models?q=forest")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2Fmodels%3Fq%3Dforest"
    assert client.get("/static/index.html").headers["location"] == "/"
    assert client.get("/static/ui/genome.css").status_code == 200
    assert client.get("/login").status_code == 200


def test_a_binary_classifier_explained_in_log_odds_also_states_its_probability(make_server) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    x = data.data[:, :4] / data.data[:, :4].max(axis=0)
    model = LogisticRegression().fit(x, data.target)
    server = make_server("sqlite")
    estimator = GenomeEstimator(model, feature_names=["a", "b", "c", "d"], modality="tabular")
    estimator.explainer.sampleExplanations(x[:50])
    meta = {"application": "search", "canonicalName": "/cancer", "inputModality": "tabular"}
    version = server.store().save_model(estimator, meta)["id"]
    client = browser(server, "admin", server.admin_password)
    page = client.get(f"/models/{version}", params=[("tab", "explain"), *(("x", str(v)) for v in x[3])])
    assert page.status_code == 200, page.text
    shown = float(re.search(r'data-testid="probability">([^<]+)<', page.text).group(1))
    assert shown == pytest.approx(model.predict_proba(x[3:4])[0, 1], rel=1e-3)
    assert ">probability</text>" in page.text and "log-odds" in page.text

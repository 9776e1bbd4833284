"""The Evaluation Store's pages: runs found, a failed expectation and an error's traceback read, two runs compared,
an evaluation's history drawn, and nothing of another application shown."""

from __future__ import annotations

import re

import httpx
import numpy as np
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task


def quality(threshold: float, broken: bool = False) -> type[GenomeEvaluationRun]:
    @evaluation(name="quality/r2", versionName="1")
    class Quality(GenomeEvaluationRun):
        @task(dataset={"ref": "mllake://holdout"})
        def fit(self, t, dataset):
            t.add_metric("r2", threshold)
            t.expect(threshold, var="r2").toBeGreaterOrEqual(0.8)

        @task()
        def features(self, t, dataset):
            if broken:
                raise KeyError("column 'bmi' is missing")
            t.add_metric("count", 10)

    return Quality


def browser(server) -> httpx.Client:
    client = server._keep(httpx.Client(base_url=server.url, timeout=60))
    login = {"username": "admin", "password": server.admin_password, "next": "/"}
    assert client.post("/login", data=login).status_code == 303
    return client


def test_runs_are_found_read_compared_and_charted(make_server) -> None:
    server = make_server("sqlite")
    store, evaluations = server.store(), server.evaluations()
    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    meta = {"application": "search", "canonicalName": "/ranker", "inputModality": "tabular"}
    first = store.save_model(GenomeEstimator(model, modality="tabular"), meta)
    second = store.save_model(GenomeEstimator(model, modality="tabular"), meta)
    good = quality(0.9)(evaluations, target=first["id"]).to_run()
    bad = quality(0.6, broken=True)(evaluations, target=second["id"]).to_run()
    client = browser(server)

    listing = client.get("/evaluations", params={"status": "error"})
    assert listing.status_code == 200 and f"/evaluations/runs/{bad['id']}" in listing.text
    assert f"/evaluations/runs/{good['id']}" not in listing.text
    assert client.get("/evaluations", params={"status": "maybe"}).status_code == 400

    page = client.get(f"/evaluations/runs/{bad['id']}")
    assert page.status_code == 200 and f'href="/models/{second["id"]}"' in page.text
    failed = re.search(r'<tr class="failed"><td>r2</td><td><code>(\w+)</code></td><td>0.8</td><td>0.6</td>', page.text)
    assert failed and failed.group(1) == "toBeGreaterOrEqual"
    assert 'data-testid="traceback"' in page.text and "KeyError" in page.text and "raise KeyError" in page.text
    # The number beside the verdict: the previous run's r2, and a small line of the earlier runs' and this one's.
    trend = re.search(r'<td data-testid="previous">([^<]*)</td><td><svg[^>]*aria-label="([^"]*)"', page.text)
    assert trend and trend.group(1) == "0.9" and trend.group(2) == "r2 over runs: 0.9, 0.6"
    first_page = client.get(f"/evaluations/runs/{good['id']}").text
    assert 'data-testid="previous"><span class="muted">—</span>' in first_page and "over runs" not in first_page

    compared = client.get(f"/evaluations/runs/{bad['id']}", params={"base": good["id"]})
    flipped = re.findall(r'data-testid="flipped">(\w+)', compared.text)
    assert sorted(flipped) == ["features", "fit"]
    assert "-0.3" in compared.text  # r2 moved from 0.9 to 0.6

    history = client.get(
        "/evaluations/history", params={"application": "search", "name": "quality/r2", "canonicalName": "/ranker"}
    )
    assert history.status_code == 200
    verdicts = re.findall(r'data-version="(\d+)" data-status="(\w+)"', history.text)
    assert verdicts == [("1", "passed"), ("2", "error")]
    assert f'href="/evaluations/runs/{good["id"]}"' in history.text and "fit · r2" in history.text

    home = client.get("/").text
    assert f"/evaluations/runs/{bad['id']}" in home and f"/evaluations/runs/{good['id']}" not in home
    assert "<title>Home · Genome</title>" in home

    version_page = client.get(f"/models/{second['id']}", params={"tab": "evaluations"})
    assert f"/evaluations/runs/{bad['id']}" in version_page.text


def test_another_applications_runs_stay_hidden(make_server) -> None:
    server = make_server("sqlite")
    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    meta = {"application": "payroll", "canonicalName": "/salaries", "inputModality": "tabular"}
    saved = server.store().save_model(GenomeEstimator(model, modality="tabular"), meta)
    run = quality(0.9)(server.evaluations(), target=saved["id"]).to_run()
    server.accounts().create_user("sam", "a-long-enough-password", {"search": "viewer"})
    client = server._keep(httpx.Client(base_url=server.url, timeout=60))
    client.post("/login", data={"username": "sam", "password": "a-long-enough-password", "next": "/"})
    assert "quality/r2" not in client.get("/evaluations").text
    assert client.get(f"/evaluations/runs/{run['id']}").status_code == 404
    hidden = client.get(
        "/evaluations/history", params={"application": "payroll", "name": "quality/r2", "canonicalName": "/salaries"}
    )
    assert hidden.status_code == 404 and "salaries" not in hidden.text.split("</h1>")[-1]

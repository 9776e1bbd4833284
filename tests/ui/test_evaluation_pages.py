"""The Evaluation Store's pages: runs found, a failed expectation and an error's traceback read, two runs compared,
an evaluation's history drawn, and nothing of another application shown. One test walks that path in a real browser
by clicks; the others read the pages' HTML with httpx."""

from __future__ import annotations

import re

import httpx
import numpy as np
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task
from live import LiveServer


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


def test_a_failing_run_is_found_read_compared_and_charted_in_a_browser(ui, live_server: LiveServer) -> None:
    store, evaluations = live_server.store(), live_server.evaluations()
    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    meta = {"application": "browse", "canonicalName": "/scorer", "inputModality": "tabular"}
    versions = [store.save_model(GenomeEstimator(model, modality="tabular"), meta) for _ in range(3)]
    first = quality(0.9)(evaluations, target=versions[0]["id"]).to_run()
    quality(0.85)(evaluations, target=versions[1]["id"]).to_run()
    bad = quality(0.6, broken=True)(evaluations, target=versions[2]["id"]).to_run()
    ui.login_admin()

    # Find the failing run: the search form's status filter, then its link.
    ui.goto("/evaluations", "evaluations")
    ui.page.get_by_label("Status").select_option("error")
    ui.submit(ui.page.get_by_role("button", name="Search"), "status-error")
    assert "status=error" in ui.path()
    rows = ui.page.locator("[data-testid=evaluation-runs] tbody tr")
    assert rows.count() == 1 and "/scorer v3" in rows.first.inner_text()
    with ui.page.expect_navigation():
        rows.first.get_by_role("link", name="quality/r2").click()
    assert ui.path() == f"/evaluations/runs/{bad['id']}"
    ui.shot("failing-run")

    # The error's traceback is folded until its summary is clicked.
    features = ui.page.locator('[data-testid=task][data-status="error"]')
    assert "column 'bmi' is missing" in features.get_by_test_id("task-error").inner_text()
    traceback = features.get_by_test_id("traceback")
    assert not traceback.locator("pre").is_visible()
    traceback.locator("summary").click()
    assert traceback.locator("pre").is_visible() and "raise KeyError" in traceback.locator("pre").inner_text()
    ui.shot("traceback-open")

    # The failed expectation: what was expected, what came, and the previous run's value beside it.
    failed = ui.page.locator('[data-testid=task][data-status="failed"] tr.failed')
    assert failed.count() == 1
    cells = failed.locator("td").all_inner_texts()
    assert cells[:5] == ["r2", "toBeGreaterOrEqual", "0.8", "0.6", "0.85"] and cells[6] == "✗ no"
    assert failed.locator("svg").get_attribute("aria-label") == "r2 over runs: 0.9, 0.85, 0.6"

    # Compared with the first version's run: both tasks flipped.
    ui.page.get_by_label("Compare with").select_option(first["id"])
    ui.submit(ui.page.get_by_role("button", name="Compare"), "compared")
    assert ui.path() == f"/evaluations/runs/{bad['id']}?base={first['id']}"
    flipped = ui.page.get_by_test_id("flipped").all_inner_texts()
    assert sorted(flipped) == ["features: empty → ! error", "fit: ✓ passed → ✗ failed"]

    # The history across the model's versions: a verdict marker per version, each leading to its run.
    with ui.page.expect_navigation():
        ui.page.get_by_test_id("history-link").click()
    assert ui.path().startswith("/evaluations/history?")
    ui.shot("history")
    markers = ui.page.locator("[data-testid=history-chart] a.verdict")
    assert [(m.get_attribute("data-version"), m.get_attribute("data-status")) for m in markers.all()] == [
        ("1", "passed"),
        ("2", "passed"),
        ("3", "error"),
    ]
    with ui.page.expect_navigation():
        markers.first.click()
    assert ui.path() == f"/evaluations/runs/{first['id']}"
    ui.shot("first-version-run")
    assert "/scorer v1" in ui.page.get_by_test_id("target").inner_text()


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

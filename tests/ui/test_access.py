"""Who sees what: a viewer gets no edit controls, and a user of another application sees nothing of this one, not
even that it exists."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator

USERS = {
    "vera": ("vera-password-1", {"alpha": "viewer"}),  # reads alpha only
    "ed": ("ed-password-12", {"alpha": "editor"}),  # edits alpha
    "bob": ("bob-password-1", {"beta": "editor"}),  # nothing in alpha
}


@pytest.fixture(scope="module")
def versions(live_server) -> dict[str, list[dict[str, Any]]]:
    accounts = live_server.accounts()
    for name, (password, roles) in USERS.items():
        accounts.create_user(name, password, roles)
    x = np.random.default_rng(0).normal(size=(20, 2))
    model = GenomeEstimator(LinearRegression().fit(x, x.sum(axis=1)), feature_names=["u", "v"], modality="tabular")
    store = live_server.store()
    saved: dict[str, list[dict[str, Any]]] = {"alpha": [], "beta": []}
    for application, name, count in (("alpha", "/alpha/secret-scorer", 2), ("beta", "/beta/ranker", 1)):
        for _ in range(count):
            meta = {"canonicalName": name, "application": application, "framework": "sklearn"}
            saved[application].append(store.save_model(model, {**meta, "inputModality": "tabular"}))
    return saved


def login(ui, name: str) -> None:
    ui.login(name, USERS[name][0])


def test_an_editor_gets_the_edit_controls(ui, versions) -> None:
    login(ui, "ed")
    ui.goto(f"/models/{versions['alpha'][0]['id']}", "editor-overview")
    assert ui.page.get_by_test_id("edit-controls").is_visible()
    assert ui.page.get_by_role("button", name="Set alias").is_visible()


def test_a_viewer_gets_no_edit_controls(ui, versions) -> None:
    login(ui, "vera")
    for tab in ("overview", "explain", "visualize", "evaluations"):
        ui.goto(f"/models/{versions['alpha'][1]['id']}?tab={tab}", f"viewer-{tab}")
        assert ui.page.locator("h1").inner_text().startswith("/alpha/secret-scorer v2")
        assert ui.page.get_by_test_id("edit-controls").count() == 0
        assert ui.page.locator("form[action$='/aliases'], form[action$='/tags'], form[action$='/delete']").count() == 0
    # the list shows alpha's versions to its viewer
    ui.goto("/models", "viewer-models")
    assert ui.page.locator("[data-testid=models] tbody tr").count() == 2


def test_a_user_of_another_application_sees_nothing_of_this_one(ui, versions, live_server) -> None:
    login(ui, "bob")
    assert ui.path() == "/"
    applications = ui.page.get_by_test_id("applications")
    assert applications.inner_text().split() == ["beta", "1", "version"]
    assert "alpha" not in ui.page.locator("main").inner_text()
    assert "secret-scorer" not in ui.page.content()

    ui.goto("/models", "models")
    names = ui.page.locator("[data-testid=models] tbody tr td:first-child a").all_inner_texts()
    assert names == ["/beta/ranker"]
    options = ui.page.locator("select[name=application] option").all_inner_texts()
    assert options == ["any", "beta"]
    assert "alpha" not in ui.page.locator("main").inner_text()

    ui.goto("/models?q=secret", "keyword-search")
    assert ui.page.get_by_test_id("no-results").is_visible()
    ui.goto("/models?application=alpha", "application-filter")
    assert ui.page.get_by_test_id("no-results").is_visible()

    for version in versions["alpha"]:
        for tab in ("overview", "explain"):
            ui.goto(f"/models/{version['id']}?tab={tab}", f"alpha-{tab}-v{version['versionNumber']}", status=404)
            assert ui.page.locator("h1").inner_text() == "Not found"
            assert ui.page.get_by_role("alert").is_visible()
            body = ui.page.locator("main").inner_text()
            assert "secret-scorer" not in body and "alpha" not in body
            assert ui.page.get_by_test_id("edit-controls").count() == 0

    # a form post to alpha's version is refused the same way
    ui.goto(f"/models/{versions['beta'][0]['id']}", "own-version")
    csrf = ui.page.get_by_test_id("edit-controls").locator("input[name=csrf]").first.get_attribute("value")
    answer = ui.page.request.post(
        ui.url(f"/models/{versions['alpha'][0]['id']}/aliases"), form={"csrf": csrf, "alias": "stolen"}
    )
    assert answer.status == 404
    record = live_server.http.get(f"/v1.0/genome/modelstore/models/{versions['alpha'][0]['id']}").json()
    assert record["aliases"] == []

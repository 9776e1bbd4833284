"""The deployment pages in a real browser: an editor edits a deployment's JSON, sees bad JSON refused beside the
text (kept as typed), saves a good version and compares it with the first; a viewer reads without edit controls,
and a post of theirs is refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from genome.server.app import API_PREFIX
from live import LiveServer

USERS = {"ed": ("ed-password-12", {"shop": "editor"}), "vic": ("vic-password-1", {"shop": "viewer"})}
PAGE = "/deployments/shop/prod"


@pytest.fixture(scope="module")
def deployment(live_server: LiveServer) -> dict[str, Any]:
    accounts = live_server.accounts()
    for name, (password, roles) in USERS.items():
        accounts.create_user(name, password, roles)
    response = live_server.http.put(
        f"{API_PREFIX}/compute/deployments/shop/prod", json={"parameters": {"region": "eu", "db": {"host": "a"}}}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_an_editor_edits_sees_bad_json_refused_saves_and_compares(ui, deployment) -> None:
    ui.login("ed", USERS["ed"][0])
    ui.goto("/deployments", "applications")
    ui.page.get_by_test_id("applications").get_by_role("link", name="shop").click()
    ui.page.wait_for_load_state()
    rows = ui.page.locator("[data-testid=deployments] tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").nth(1).inner_text() == "v1"
    ui.shot("shop-deployments")

    rows.first.get_by_role("link", name="prod").click()
    ui.page.wait_for_load_state()
    assert ui.path() == PAGE
    editor = ui.page.get_by_label("Parameters (a JSON object)")
    assert json.loads(editor.input_value()) == {"region": "eu", "db": {"host": "a"}}
    bad = '{"region": "us",\n  "db": {"host": "b"}'
    editor.fill(bad)
    ui.submit(ui.page.get_by_role("button", name="Save as a new version"), "bad-json", status=400)
    alert = ui.page.get_by_test_id("parameters-error")
    assert alert.get_attribute("role") == "alert" and "not valid JSON" in alert.inner_text()
    editor = ui.page.get_by_label("Parameters (a JSON object)")
    assert editor.get_attribute("aria-invalid") == "true" and editor.input_value() == bad
    assert "parameters-error" in (editor.get_attribute("aria-describedby") or "")

    editor.fill(json.dumps({"region": "us", "db": {"host": "b"}, "workers": 4}, indent=2))
    ui.submit(ui.page.get_by_role("button", name="Save as a new version"), "saved")
    assert ui.page.get_by_test_id("saved").inner_text() == "Saved as version 2."
    assert ui.page.get_by_test_id("current-version").inner_text() == "v2"
    history = ui.page.locator("[data-testid=history] tbody tr")
    assert [history.nth(i).get_attribute("data-version") for i in range(history.count())] == ["2", "1"]
    assert history.first.locator("td").nth(2).inner_text() == "ed"
    assert history.nth(1).locator("td").nth(2).inner_text() == "admin"

    history.first.get_by_role("link", name="compare with v1").click()
    ui.page.wait_for_load_state()
    assert "from=1&to=2" in ui.path()
    changes = ui.page.locator("[data-testid=diff] tbody tr")
    seen = {
        changes.nth(i).locator("th").inner_text(): changes.nth(i).locator("td").first.inner_text()
        for i in range(changes.count())
    }
    assert seen == {"db.host": "~ changed", "region": "~ changed", "workers": "+ added"}
    assert "1 added, 0 removed, 2 changed" in ui.page.get_by_test_id("diff-summary").inner_text()
    ui.page.get_by_test_id("compare").scroll_into_view_if_needed()
    ui.shot("diff-v1-v2")


def test_a_viewer_reads_without_edit_controls_and_cannot_post(ui, deployment) -> None:
    ui.login("vic", USERS["vic"][0])
    ui.goto(f"{PAGE}?version=1", "viewer-version-1")
    assert "Parameters of version 1" in ui.page.get_by_test_id("parameters").inner_text()
    assert ui.page.get_by_test_id("edit-controls").count() == 0
    assert ui.page.locator("textarea, form[method=post][action^='/deployments']").count() == 0
    assert ui.page.get_by_text("Delete this deployment").count() == 0
    ui.goto("/deployments?application=shop", "viewer-list")
    assert ui.page.get_by_test_id("new-deployment").count() == 0

    csrf = next(cookie["value"] for cookie in ui.page.context.cookies() if cookie["name"] == "genome_csrf")
    for path in (PAGE, f"{PAGE}/delete", "/deployments/shop"):
        response = ui.page.request.post(
            ui.url(path), form={"csrf": csrf, "parameters": "{}", "name": "sneaky"}, max_redirects=0
        )
        assert response.status == 403 and "Not allowed" in response.text(), path
    versions = ui.page.request.get(ui.url(f"{API_PREFIX}/compute/deployments/shop/prod/versions")).json()
    assert {item["createdBy"] for item in versions["items"]} <= {"admin", "ed"}


def test_an_editor_creates_deletes_and_reads_the_past_through_the_forms(live_server: LiveServer, deployment) -> None:
    """The forms without a browser: a new deployment's name checked, the same parameters making no version, a
    deletion leaving the history readable, the parameters at the end of a day, a diff with a missing version."""
    client = live_server._keep(httpx.Client(base_url=live_server.url, timeout=60))
    login = client.post("/login", data={"username": "ed", "password": USERS["ed"][0], "next": "/"})
    assert login.status_code == 303, login.text
    csrf = client.cookies["genome_csrf"]

    bad = client.post("/deployments/shop", data={"csrf": csrf, "name": "a/b", "parameters": '{"n": 1}'})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text and "&#34;n&#34;: 1" in bad.text
    taken = client.post("/deployments/shop", data={"csrf": csrf, "name": "prod", "parameters": "{}"})
    assert taken.status_code == 409 and "exists already" in taken.text
    created = client.post("/deployments/shop", data={"csrf": csrf, "name": "staging", "parameters": '{"n": 1}'})
    assert created.status_code == 303 and created.headers["location"] == "/deployments/shop/staging?saved=1"
    assert "Saved as version 1." in client.get(created.headers["location"]).text
    same = client.post("/deployments/shop/staging", data={"csrf": csrf, "parameters": '{ "n" : 1 }'})
    assert same.headers["location"].endswith("saved=unchanged")

    deleted = client.post("/deployments/shop/staging/delete", data={"csrf": csrf})
    assert deleted.status_code == 303
    page = client.get("/deployments/shop/staging")
    assert page.status_code == 200 and "Create it again" in page.text and "deleted" in page.text
    assert "&#34;n&#34;: 1" in page.text  # the editor starts from the last parameters
    listing = client.get("/deployments?application=shop").text
    assert 'data-testid="deleted-deployments"' in listing and "staging" in listing

    today = dt.datetime.now(dt.UTC).date()
    gone = client.get(f"/deployments/shop/staging?asOf={today}").text
    assert "had been deleted" in gone and "version 2" in gone
    before = client.get(f"/deployments/shop/staging?asOf={today - dt.timedelta(days=1)}").text
    assert "did not exist yet" in before
    prod = client.get(f"/deployments/shop/prod?asOf={today}").text
    assert "runs got" in prod
    missing = client.get("/deployments/shop/staging?from=1&to=9").text
    assert 'id="compare-error"' in missing and "has no version 9" in missing
    assert client.get("/deployments/shop/never-was").status_code == 404

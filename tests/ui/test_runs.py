"""The run pages in a real browser: the seed's parallel pipeline started from the form, its DAG turning green live
without a reload (unchanged polls answered 304), a step's log read; a long run cancelled by an editor; a viewer
without the cancel button; errors shown in place on the form; a retry on the time line, a log searched and linked by
line, and "run again"; a running step's log growing on the page."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from genome.server.app import API_PREFIX
from live import LiveServer

START = f"{API_PREFIX}/compute/sequencer/run"


def step(name: str, seconds: float, text: str) -> dict:
    code = f"import time; print({text!r}, flush=True); time.sleep({seconds})"
    return {"stepName": name, "stepType": "model", "command": [sys.executable, "-c", code]}


def start(server: LiveServer, steps: list) -> dict:
    body = {"pipelineName": "pipe-ui", "canonicalName": "/search/pipe-ui", "application": "search", "steps": steps}
    response = server.http.post(START, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def finish(server: LiveServer, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = server.http.get(f"{API_PREFIX}/compute/runs/{run_id}").json()
        if run["finished"]:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_a_parallel_run_from_the_form_turns_green_live_and_its_log_reads(ui, live_server: LiveServer) -> None:
    ui.login_admin()
    # The seed's shape: a step, then a parallel group of two (a nested list), deployment and all.
    seed = {
        "deployment": "deploy-1",
        "pipelineName": "pipe-ui",
        "canonicalName": "/search/pipe-ui",
        "application": "search",
        "steps": [step("prepare", 2.5, "preparing"), [step("left", 1, "left"), step("right", 1, "right")]],
    }
    polls: list[int] = []
    ui.page.on("response", lambda response: polls.append(response.status) if "/compute/runs/" in response.url else None)
    ui.goto("/runs/new", "new-run")
    ui.page.get_by_test_id("spec").fill(json.dumps(seed, indent=2))
    ui.submit(ui.page.get_by_role("button", name="Start the run"), "run-started")
    run = {"id": ui.path().removeprefix("/runs/")}
    assert ui.page.locator("a.step").count() == 3
    ui.page.wait_for_selector('a.step[data-step="right"][data-status="succeeded"]', timeout=60_000)
    ui.page.wait_for_selector('[data-testid=run-status][data-status="succeeded"]', timeout=10_000)
    assert ui.path() == f"/runs/{run['id']}"  # the same page, updated in place
    assert "ended" in ui.page.locator(".freshness").inner_text()
    assert 304 in polls, f"an unchanged run costs a 304: {polls}"
    ui.shot("run-finished-live")

    ui.page.locator('a.step[data-step="left"]').click()
    ui.page.wait_for_load_state()
    assert "left" in ui.page.locator("[data-testid=log] pre").inner_text()
    ui.shot("step-log")
    ui.goto("/runs", "runs-list")
    assert ui.page.locator(f'a[href="/runs/{run["id"]}"]').count() == 1


def test_an_editor_cancels_a_long_run_and_a_viewer_cannot(ui, live_server: LiveServer) -> None:
    run = start(live_server, [step("long", 120, "waiting")])
    accounts = live_server.accounts()
    accounts.create_user("vic", "vic-password-1", {"search": "viewer"})
    ui.login("vic", "vic-password-1", step="viewer")
    ui.goto(f"/runs/{run['id']}", "viewer-run")
    assert ui.page.locator("[data-testid=cancel]").count() == 0
    ui.page.context.clear_cookies()
    ui.login_admin()
    ui.goto(f"/runs/{run['id']}", "editor-run")
    ui.submit(ui.page.get_by_role("button", name="Cancel this run"), "cancelled")
    assert finish(live_server, run["id"])["status"] == "cancelled"


def test_a_run_from_the_form_shows_its_retry_and_a_searchable_log(ui, live_server: LiveServer) -> None:
    ui.login_admin()
    ui.goto("/runs", "runs-before")
    with ui.page.expect_navigation():
        ui.page.get_by_test_id("new-run-link").click()
    spec = ui.page.get_by_test_id("spec")
    assert '"pipelineName": "pipe-1"' in spec.input_value(), "the form starts from the seed's pipeline"
    ui.shot("new-run-form")

    spec.fill('{"application": "search",')
    ui.submit(ui.page.get_by_role("button", name="Start the run"), "not-json", status=400)
    assert "line 1" in ui.page.get_by_test_id("spec-error").inner_text()
    assert ui.page.get_by_test_id("spec").get_attribute("aria-invalid") == "true"
    assert ui.page.get_by_test_id("spec").input_value() == '{"application": "search",', "what was typed stays"

    body = {"application": "search", "pipelineName": "pipe-form", "steps": [{**step("s", 0, "x"), "timeout": "never"}]}
    ui.page.get_by_test_id("spec").fill(json.dumps(body))
    ui.submit(ui.page.get_by_role("button", name="Start the run"), "bad-field", status=400)
    assert "steps[0].timeout" in ui.page.get_by_test_id("spec-error").inner_text()

    folder = Path(tempfile.mkdtemp(prefix="genome-ui-steps-"))
    folder.chmod(0o1777)
    counter = folder / "count"
    flaky = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) if p.exists() else 0; "
        "p.write_text(str(n + 1)); [print(f'attempt {n + 1} line {i}' + (' needle' if i % 10 == 0 else '')) "
        "for i in range(1, 301)]; sys.exit(0 if n >= 1 else 3)"
    )
    body = {
        "application": "search",
        "pipelineName": "pipe-form",
        "steps": [{"stepName": "flaky", "stepType": "model", "command": [sys.executable, "-c", flaky], "retry": 1}],
    }
    ui.page.get_by_test_id("spec").fill(json.dumps(body))
    ui.submit(ui.page.get_by_role("button", name="Start the run"), "started")
    run_id = ui.path().removeprefix("/runs/")
    assert finish(live_server, run_id)["status"] == "succeeded"

    ui.goto(f"/runs/{run_id}", "retried")
    segments = ui.page.locator('[data-testid=timeline] a.attempt[data-step="flaky"]')
    assert segments.count() == 2
    assert [segments.nth(i).get_attribute("data-status") for i in range(2)] == ["failed", "succeeded"]
    assert "after 1 failed" in ui.page.get_by_test_id("after-retry").inner_text()

    with ui.page.expect_navigation():
        segments.nth(0).click()
    assert "attempt=1" in ui.path()
    assert "attempt 1 line 1" in ui.page.get_by_test_id("log-lines").inner_text()
    ui.page.get_by_test_id("log-search").fill("needle")
    ui.submit(ui.page.get_by_role("button", name="Search", exact=True), "log-search")
    assert ui.page.get_by_test_id("log-matches").inner_text().startswith("30 lines")
    assert ui.page.locator("[data-testid=log] pre.lines mark").count() == 30, "each match is marked"
    assert "q=needle" in ui.path()
    with ui.page.expect_navigation():
        ui.page.locator("[data-testid=log] pre.lines a").first.click()
    assert "line=10" in ui.path() and ui.page.locator("#L10").count() == 1
    ui.shot("line-permalink")
    download = ui.page.get_by_test_id("log-download").get_attribute("href")
    assert ui.page.request.get(live_server.url + download).text().count("\n") == 300

    with ui.page.expect_navigation():
        ui.page.get_by_test_id("run-again").click()
    again = json.loads(ui.page.get_by_test_id("spec").input_value())
    assert again["pipelineName"] == "pipe-form" and again["steps"][0]["stepName"] == "flaky"
    ui.shot("run-again")


def test_a_running_steps_log_grows_on_the_page(ui, live_server: LiveServer) -> None:
    ui.login_admin()
    code = "import time\nfor i in range(1, 13):\n    print(f'tick {i}', flush=True); time.sleep(0.25)"
    run = start(live_server, [{"stepName": "ticker", "stepType": "model", "command": [sys.executable, "-c", code]}])
    deadline = time.monotonic() + 30
    while not live_server.http.get(f"{API_PREFIX}/compute/runs/{run['id']}").json()["steps"][0]["attempts"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ui.goto(f"/runs/{run['id']}?step=ticker", "log-following")
    ui.page.wait_for_function(
        "document.querySelector('[data-testid=log-lines]').textContent.includes('tick 12')", timeout=20_000
    )
    assert ui.path() == f"/runs/{run['id']}?step=ticker", "the log grew in place"
    lines = ui.page.get_by_test_id("log-lines").inner_text().splitlines()
    assert [line.split()[-1] for line in lines if "tick" in line] == [str(i) for i in range(1, 13)]
    ui.shot("log-followed")

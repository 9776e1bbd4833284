"""The run pages in a real browser: the seed's parallel pipeline started, its DAG turning green live without a
reload, a step's log read; a long run cancelled by an editor; a viewer without the cancel button."""

from __future__ import annotations

import sys
import time

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


def test_a_parallel_run_turns_green_live_and_its_log_reads(ui, live_server: LiveServer) -> None:
    ui.login_admin()
    run = start(live_server, [step("prepare", 2.5, "preparing"), [step("left", 1, "left"), step("right", 1, "right")]])
    ui.goto(f"/runs/{run['id']}", "run-started")
    assert ui.page.locator("a.step").count() == 3
    ui.page.wait_for_selector('a.step[data-step="right"][data-status="succeeded"]', timeout=60_000)
    ui.page.wait_for_selector('[data-testid=run-status][data-status="succeeded"]', timeout=10_000)
    assert ui.path() == f"/runs/{run['id']}"  # the same page, updated in place
    assert "ended" in ui.page.locator(".freshness").inner_text()
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

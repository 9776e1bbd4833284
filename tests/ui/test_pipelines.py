"""The pipeline pages in a real browser: a scheduled pipeline stored through the API is found by name, its page says
its schedule in words with the next five runs in the reader's time zone and draws its DAG with the parallel group
side by side; an editor pauses and resumes it, runs it now and deletes another; a viewer sees no controls and a
viewer's form post is refused. Also the DAG built from a spec, without a browser."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime

from genome.sequencer.spec import parse_pipeline
from genome.server.app import API_PREFIX
from genome.ui.pipelines import spec_dag
from live import LiveServer

STORE = f"{API_PREFIX}/compute/sequencer"
PIPELINES = f"{API_PREFIX}/compute/pipelines"
RUNS = f"{API_PREFIX}/compute/runs"


def step(name: str, **fields: object) -> dict:
    return {"stepName": name, "command": [sys.executable, "-c", f"print({name!r})"], **fields}


SPEC = {
    "pipelineName": "nightly-ui-pipe",
    "canonicalName": "/search/nightly-ui-pipe",
    "application": "search",
    "deployment": "deploy-1",
    "versionName": "1.2.3",
    "parameters": {"CA_TRAIN": True, "rows": 500},
    "schedule": "30 2 * * mon-fri",
    "steps": [
        step("prepare", stepType="data", timeout="5m", retry=2),
        [step("left", timeout="90s"), step("right", stepType="evaluation")],
        step("report", stepType="report", retry="1"),
    ],
}


def store(server: LiveServer, body: dict) -> dict:
    response = server.http.post(STORE, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def finish(server: LiveServer, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = server.http.get(f"{RUNS}/{run_id}").json()
        if run["finished"]:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_the_dag_of_a_spec_puts_a_parallel_group_in_one_column() -> None:
    svg = str(spec_dag(parse_pipeline(SPEC, container_runtime=False).to_dict()))  # as stored
    boxes = re.findall(r'<g class="step" data-step="([^"]+)" data-group="(\d)">.*?<rect x="(\d+)" y="(\d+)"', svg)
    places = {name: (int(group), int(x), int(y)) for name, group, x, y in boxes}
    assert [name for name, _, _, _ in boxes] == ["prepare", "left", "right", "report"]
    assert places["left"][:2] == places["right"][:2] and places["left"][2] < places["right"][2]
    assert places["prepare"][1] < places["left"][1] < places["report"][1]
    assert "timeout 5m · retry 2" in svg and "timeout 1m30s · no retry" in svg and "no timeout · retry 1" in svg
    assert svg.count("marker-end=") == 4  # arrows from prepare to both, from both to report


def test_an_editor_finds_a_pipeline_pauses_resumes_runs_and_deletes(ui, live_server: LiveServer) -> None:
    stored = store(live_server, SPEC)
    other = store(live_server, {**SPEC, "pipelineName": "adhoc-ui-pipe", "schedule": None})
    ui.login_admin()

    ui.goto("/pipelines?name=NIGHTLY-ui", "found-by-name")
    rows = ui.page.locator("[data-testid=pipelines] tbody tr")
    assert rows.count() == 1
    row = rows.first
    assert "at 02:30 UTC on Monday to Friday" in row.inner_text()
    assert row.locator("[data-testid=state]").inner_text() == "▶ scheduled"
    assert "none yet" in row.inner_text()
    ui.goto("/pipelines?status=unscheduled", "unscheduled")
    assert ui.page.locator("[data-testid=pipelines] tbody tr").all_inner_texts()[0].startswith("adhoc-ui-pipe")
    ui.goto("/pipelines?status=sleeping", "bad-status", status=400)
    assert "status must be one of" in ui.page.locator("[data-testid=search-error]").inner_text()

    ui.goto("/pipelines?name=nightly", "list")
    with ui.page.expect_navigation():
        ui.page.get_by_role("link", name="nightly-ui-pipe").click()
    assert ui.path() == f"/pipelines/{stored['id']}"
    ui.shot("pipeline-page")
    assert "at 02:30 UTC on Monday to Friday" in ui.page.locator("[data-testid=schedule-words]").inner_text()
    times = ui.page.locator("[data-testid=upcoming] time")
    assert times.count() == 5
    first = datetime.fromisoformat(times.first.get_attribute("datetime").replace("Z", "+00:00"))
    assert first.timestamp() * 1000 == stored["nextRun"] and (first.hour, first.minute) == (2, 30)
    assert first.astimezone(UTC).weekday() < 5
    assert "UTC" not in times.first.inner_text()  # the script wrote it in the reader's zone
    assert '"rows": 500' in ui.page.locator("[data-testid=parameters]").inner_text()

    # The DAG: groups in order, the parallel pair in one column, each box with its type, command, timeout, retry.
    boxes = ui.page.locator("[data-testid=dag] g.step")
    assert boxes.count() == 4
    left, right = (ui.page.locator(f'g.step[data-step="{name}"] rect') for name in ("left", "right"))
    assert left.get_attribute("x") == right.get_attribute("x") and left.get_attribute("y") != right.get_attribute("y")
    prepare = ui.page.locator('g.step[data-step="prepare"]')
    assert int(prepare.locator("rect").get_attribute("x")) < int(left.get_attribute("x"))
    assert "data" in prepare.text_content() and "timeout 5m · retry 2" in prepare.text_content()
    assert "print('prepare')" in prepare.text_content()
    assert left.bounding_box()["x"] == right.bounding_box()["x"]  # side by side as drawn, not only in the SVG

    # The same times in another reader's zone: 02:30 UTC is 08:00 in Kolkata.
    context = ui.page.context.browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB")
    context.add_cookies(ui.page.context.cookies())
    elsewhere = context.new_page()
    elsewhere.goto(ui.url(f"/pipelines/{stored['id']}"))
    assert "08:00" in elsewhere.locator("[data-testid=upcoming] time").first.inner_text()
    context.close()

    ui.submit(ui.page.get_by_role("button", name="Pause the schedule"), "paused")
    assert ui.page.locator("h1 [data-testid=state]").inner_text() == "‖ paused"
    assert ui.page.locator("[data-testid=upcoming]").count() == 0
    assert ui.page.locator("[data-testid=paused-note]").is_visible()
    assert live_server.http.get(f"{PIPELINES}/{stored['id']}").json()["paused"] is True
    ui.goto("/pipelines?name=nightly", "list-paused")
    assert ui.page.locator("[data-testid=pipelines] tbody tr [data-testid=state]").inner_text() == "‖ paused"
    assert "none while paused" in ui.page.locator("[data-testid=pipelines] tbody tr").inner_text()
    ui.goto(f"/pipelines/{stored['id']}", "before-resume")
    ui.submit(ui.page.get_by_role("button", name="Resume the schedule"), "resumed")
    assert ui.page.locator("h1 [data-testid=state]").inner_text() == "▶ scheduled"
    assert live_server.http.get(f"{PIPELINES}/{stored['id']}").json()["paused"] is False

    ui.submit(ui.page.get_by_role("button", name="Run now"), "run-now")
    run_id = ui.path().removeprefix("/runs/")
    assert re.fullmatch(r"[0-9a-f]{32}", run_id), ui.path()
    assert finish(live_server, run_id)["status"] == "succeeded"
    assert ui.page.locator("[data-testid=run-pipeline]").get_attribute("href") == f"/pipelines/{stored['id']}"
    ui.goto("/pipelines?name=nightly", "list-with-run")
    badge = ui.page.locator("td.recent-runs a.badge")
    assert badge.count() == 1 and badge.get_attribute("href") == f"/runs/{run_id}"
    assert badge.get_attribute("data-status") == "succeeded" and badge.inner_text() == "✓"
    ui.goto(f"/pipelines/{stored['id']}", "recent-runs")
    assert ui.page.locator(f'[data-testid=runs] a[href="/runs/{run_id}"]').count() == 1

    ui.goto(f"/pipelines/{other['id']}", "other")
    assert "No schedule" in ui.page.locator("[data-testid=schedule-words]").inner_text()
    assert ui.page.get_by_role("button", name="Pause the schedule").count() == 0
    ui.page.get_by_text("Delete this pipeline").click()
    ui.page.get_by_label("to confirm").fill("adhoc-ui-pipe")
    ui.submit(ui.page.get_by_role("button", name="Delete", exact=True), "deleted")
    assert ui.path() == "/pipelines"
    assert live_server.http.get(f"{PIPELINES}/{other['id']}").status_code == 404


def test_a_viewer_sees_no_controls_and_cannot_post(ui, live_server: LiveServer) -> None:
    stored = store(live_server, {**SPEC, "pipelineName": "viewed-ui-pipe"})
    live_server.accounts().create_user("val", "val-password-1", {"search": "viewer"})
    ui.login("val", "val-password-1", step="viewer")
    ui.goto(f"/pipelines/{stored['id']}", "viewer-pipeline")
    assert ui.page.locator("[data-testid=upcoming] time").count() == 5
    assert ui.page.locator("[data-testid=controls]").count() == 0
    assert ui.page.locator("form[action^='/pipelines/']").count() == 0

    # A form post made by hand, with the viewer's own CSRF token: refused with a page saying why.
    ui.expect_status(403)
    with ui.page.expect_navigation() as navigation:
        ui.page.evaluate(
            """(action) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                const csrf = document.querySelector("input[name=csrf]").cloneNode();
                form.append(csrf);
                document.body.append(form);
                form.submit();
            }""",
            f"/pipelines/{stored['id']}/pause",
        )
    assert navigation.value.status == 403
    ui.shot("viewer-post-refused")
    assert "editor" in ui.page.locator(".problem .error").inner_text()
    assert live_server.http.get(f"{PIPELINES}/{stored['id']}").json()["paused"] is False

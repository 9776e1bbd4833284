"""Listing stored pipelines: by application, by text in the name (any case, LIKE's wildcards taken literally) and by
status, with cursor paging that stays right under filters; each pipeline with its latest runs' statuses, read in
one statement for the whole page."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
from sqlalchemy import event

from genome.auth.principal import LOCAL_ADMIN
from genome.sequencer import service
from genome.server.app import API_PREFIX
from genome.store.db import Database

STORE = f"{API_PREFIX}/compute/sequencer"
RUN = f"{API_PREFIX}/compute/sequencer/run"
PIPELINES = f"{API_PREFIX}/compute/pipelines"
RUNS = f"{API_PREFIX}/compute/runs"


def body(name: str, schedule: str | None = "1d", application: str = "search") -> dict[str, Any]:
    step = {"stepName": "step-1", "command": [sys.executable, "-c", "pass"]}
    spec = {"pipelineName": name, "application": application, "steps": [step]}
    return {**spec, "schedule": schedule} if schedule else spec


def names(server, **params: Any) -> list[str]:
    response = server.http.get(PIPELINES, params=params)
    assert response.status_code == 200, response.text
    return [item["pipelineName"] for item in response.json()["items"]]


def test_pipelines_are_found_by_name_application_and_status(server) -> None:
    stored = {}
    for name, schedule, application in [
        ("nightly-train", "1d", "search"),
        ("Nightly_Eval", "0 2 * * *", "search"),
        ("adhoc", None, "search"),
        ("night%ly", "6h", "search"),
        ("nightly-other", "1d", "ads"),
    ]:
        response = server.http.post(STORE, json=body(name, schedule, application))
        assert response.status_code == 201, response.text
        stored[name] = response.json()
    assert server.http.post(f"{PIPELINES}/{stored['Nightly_Eval']['id']}/pause").json()["status"] == "paused"
    assert stored["adhoc"]["status"] == "unscheduled" and stored["nightly-train"]["status"] == "scheduled"

    newest_first = ["nightly-other", "night%ly", "adhoc", "Nightly_Eval", "nightly-train"]
    assert names(server) == newest_first
    assert names(server, name="NIGHTLY") == ["nightly-other", "Nightly_Eval", "nightly-train"]
    assert names(server, name="%") == ["night%ly"]  # a wildcard is only itself
    assert names(server, name="y_") == ["Nightly_Eval"]
    assert names(server, status="scheduled") == ["nightly-other", "night%ly", "nightly-train"]
    assert names(server, status="paused") == ["Nightly_Eval"]
    assert names(server, status="unscheduled") == ["adhoc"]
    assert names(server, application="search", name="nightly", status="scheduled") == ["nightly-train"]
    assert names(server, name="nothing like it") == []
    listed = server.http.get(PIPELINES, params={"status": "paused"}).json()["items"][0]
    assert listed["paused"] and listed["status"] == "paused" and listed["schedule"] == "0 2 * * *"

    # Paging under a filter: every match once, in order, whatever the page size.
    for limit in (1, 2):
        seen, cursor = [], None
        while True:
            params = {"name": "night", "limit": limit, **({"cursor": cursor} if cursor else {})}
            page = server.http.get(PIPELINES, params=params).json()
            assert len(page["items"]) <= limit
            seen += [item["pipelineName"] for item in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == [name for name in newest_first if "night" in name.lower()]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"name": ""}, "name"),
        ({"name": "x" * 501}, "name"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_filters_are_400_naming_the_field(server, params: dict[str, Any], field: str) -> None:
    response = server.http.get(PIPELINES, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_each_pipeline_lists_its_latest_runs(server) -> None:
    busy = server.http.post(STORE, json=body("busy", None)).json()
    idle = server.http.post(STORE, json=body("idle", "1d")).json()
    assert busy["recentRuns"] == [] and idle["recentRuns"] == []
    started = []
    for _ in range(7):
        response = server.http.post(RUN, json={"pipelineId": busy["id"]})
        assert response.status_code == 201, response.text
        started.append(response.json()["id"])
        time.sleep(0.002)  # distinct creation times, so "newest" is plain

    items = {item["pipelineName"]: item for item in server.http.get(PIPELINES).json()["items"]}
    recent = items["busy"]["recentRuns"]
    assert [run["id"] for run in recent] == started[::-1][:5]
    assert all(run["status"] in ("queued", "running", "succeeded") for run in recent)
    assert items["idle"]["recentRuns"] == []
    runs = server.http.get(RUNS, params={"pipelineId": busy["id"]}).json()["items"]
    assert [run["id"] for run in runs][:5] == [run["id"] for run in recent]
    alone = server.http.get(f"{PIPELINES}/{busy['id']}").json()
    assert [run["id"] for run in alone["recentRuns"]] == started[::-1][:5]
    # The server stops only once its runs are over: a run cut off mid-way would leave its connection behind.
    deadline = time.monotonic() + 60
    while any(
        run["finished"] is None for run in server.http.get(RUNS, params={"pipelineId": busy["id"]}).json()["items"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    listed = server.http.get(PIPELINES, params={"name": "busy"}).json()["items"][0]["recentRuns"]
    assert [run["status"] for run in listed] == ["succeeded"] * 5


def test_a_page_reads_every_pipeline_s_runs_in_one_statement(db: Database) -> None:
    ids = [
        service.create_pipeline(db, LOCAL_ADMIN, body(f"pipe-{index}", None), container_runtime=False).id
        for index in range(4)
    ]
    for pipeline_id in ids[:3]:
        for _ in range(6):
            service.create_run(db, LOCAL_ADMIN, {"pipelineId": pipeline_id}, container_runtime=False)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = service.list_pipelines(db, LOCAL_ADMIN, limit=50, page_size_max=500)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    selects = [text for text in statements if text.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects  # the page, then the runs of all its pipelines
    counts = {item.id: len(item.recentRuns) for item in page.items}
    assert counts == {ids[0]: 5, ids[1]: 5, ids[2]: 5, ids[3]: 0}
    for item in page.items:
        created = [run.created for run in item.recentRuns]
        assert created == sorted(created, reverse=True)

"""Stored pipelines and schedules: the seed's scheduled body, pause/resume/delete, runs of a stored pipeline,
exactly one run per firing with two servers on one database, and a missed schedule firing once after downtime."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from genome.clock import now_ms
from genome.server.app import API_PREFIX

# Timing matters here (schedules fire on the clock, several servers race): run alone, not beside other tests.
pytestmark = pytest.mark.serial

STORE = f"{API_PREFIX}/compute/sequencer"
PIPELINES = f"{API_PREFIX}/compute/pipelines"
RUNS = f"{API_PREFIX}/compute/runs"


def scheduled(schedule: str | None, **fields: Any) -> dict[str, Any]:
    step = {"stepName": "step-1", "stepType": "model", "command": [sys.executable, "-c", "pass"], "retry": "3"}
    body = {"pipelineName": "pipe-1", "canonicalName": "/search/pipe-1", "application": "search", "steps": [step]}
    return {**body, **({"schedule": schedule} if schedule else {}), **fields}


def runs_of(server, pipeline_id: str) -> list[dict]:
    return server.http.get(RUNS, params={"pipelineId": pipeline_id, "limit": 500}).json()["items"]


def test_seed_scheduled_pipeline_first_runs_one_period_after_creation(server) -> None:
    before = now_ms()
    response = server.http.post(STORE, json=scheduled("6h", deployment="deploy-1"))
    assert response.status_code == 201, response.text
    stored = response.json()
    six_hours = 6 * 3600 * 1000
    assert before + six_hours <= stored["nextRun"] <= now_ms() + six_hours
    assert stored["schedule"] == "6h" and not stored["paused"] and stored["deployment"] == "deploy-1"
    assert server.http.get(f"{PIPELINES}/{stored['id']}").json() == stored

    paused = server.http.post(f"{PIPELINES}/{stored['id']}/pause").json()
    assert paused["paused"] and server.http.post(f"{PIPELINES}/{stored['id']}/resume").json()["paused"] is False
    assert [item["id"] for item in server.http.get(PIPELINES).json()["items"]] == [stored["id"]]

    cron = server.http.post(STORE, json=scheduled("*/5 * * * *")).json()
    assert cron["nextRun"] % (5 * 60 * 1000) == 0 and cron["nextRun"] > before
    error = server.http.post(STORE, json=scheduled("every tuesday")).json()["error"]
    assert error["field"] == "schedule"

    unscheduled = server.http.post(STORE, json=scheduled(None)).json()
    assert unscheduled["nextRun"] is None
    assert server.http.post(f"{PIPELINES}/{unscheduled['id']}/pause").status_code == 400
    run = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json={"pipelineId": unscheduled["id"]})
    assert run.status_code == 201 and run.json()["pipelineId"] == unscheduled["id"]

    assert server.http.delete(f"{PIPELINES}/{stored['id']}").status_code == 204
    assert server.http.get(f"{PIPELINES}/{stored['id']}").status_code == 404


@pytest.mark.postgres
def test_two_servers_fire_each_scheduled_run_exactly_once(make_server) -> None:
    first = make_server("postgresql")
    second = make_server("postgresql", database_url=first.settings.database_url)
    stored = first.http.post(STORE, json=scheduled("1s")).json()
    time.sleep(5.5)
    second.http.post(f"{PIPELINES}/{stored['id']}/pause").raise_for_status()
    time.sleep(1.2)  # a tick already past its pause check may still fire once
    fired = sorted(run["scheduledFor"] for run in runs_of(first, stored["id"]))
    assert len(fired) >= 4
    assert fired == [stored["nextRun"] + 1000 * index for index in range(len(fired))]


def test_a_schedule_missed_during_downtime_fires_once(make_server) -> None:
    first = make_server("sqlite")
    stored = first.http.post(STORE, json=scheduled("1s")).json()
    first.__exit__()  # the only server stops before the first firing
    time.sleep(2.5)  # two firings (at +1 s and +2 s) are missed
    restarted = now_ms()
    second = make_server("sqlite", database_url=first.settings.database_url, home=first.settings.home)
    deadline = time.monotonic() + 10
    while not runs_of(second, stored["id"]):
        assert time.monotonic() < deadline, "the missed schedule never fired"
        time.sleep(0.1)
    missed = [run for run in runs_of(second, stored["id"]) if run["scheduledFor"] < restarted]
    assert [run["scheduledFor"] for run in missed] == [stored["nextRun"]]
    pipeline = second.http.get(f"{PIPELINES}/{stored['id']}").json()
    assert pipeline["nextRun"] > restarted and (pipeline["nextRun"] - stored["nextRun"]) % 1000 == 0


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_schedule_fires_only_while_its_owner_holds_the_editor_role(server, step_dir) -> None:
    marker = step_dir / "ran"
    step = {"stepName": "touch", "stepType": "model", "command": [sys.executable, "-c", f"open({str(marker)!r}, 'a')"]}
    accounts = server.accounts()
    stored = {}
    for owner in ("alice", "bob"):
        http = server.client(server.token_for(owner, {"search": "editor"}))
        body = scheduled("2s", pipelineName=f"{owner}-pipe", steps=[step])
        stored[owner] = http.post(STORE, json=body).json()
    accounts.set_role("alice", "search", "viewer")  # both before their first firing
    accounts.delete_user("bob")
    # Someone else gets the name, with the editor role: bob's schedule is not theirs.
    accounts.create_user("bob", "another-bob-password", {"search": "editor"})
    time.sleep(5)
    assert not marker.exists(), "a step ran for an owner without the editor role"
    for owner, reason in (
        ("alice", "alice no longer holds the editor role in application search"),
        ("bob", "the account bob was created after this was stored, by an earlier account of that name"),
    ):
        fired = runs_of(server, stored[owner]["id"])
        # Each firing is recorded once, as skipped, with why; the schedule keeps its phase rather than retrying.
        assert 1 <= len(fired) <= 3, fired
        for run in fired:
            assert (run["status"], run["reason"], run["createdBy"]) == ("skipped", reason, owner)
            assert run["finished"] is not None and run["started"] is None
            assert {step["status"] for step in run["steps"]} == {"skipped"}
        assert sorted(run["scheduledFor"] for run in fired) == [
            stored[owner]["nextRun"] + 2000 * index for index in range(len(fired))
        ]
        assert server.http.get(f"{PIPELINES}/{stored[owner]['id']}").json()["nextRun"] > now_ms() - 2000
    skipped = server.http.get(RUNS, params={"status": "skipped"}).json()["items"]
    assert len(skipped) == len(runs_of(server, stored["alice"]["id"])) + len(runs_of(server, stored["bob"]["id"]))

    accounts.set_role("alice", "search", "editor")  # the role back: the next firing runs
    wait_for(marker.exists)


def test_a_queued_run_does_not_start_once_its_creator_lost_the_role(make_server, step_dir) -> None:
    server = make_server("sqlite", sequencer_max_runs=1)
    marker = step_dir / "ran"
    blocker = {"stepName": "wait", "stepType": "model", "command": [sys.executable, "-c", "import time; time.sleep(3)"]}
    touch = {"stepName": "touch", "stepType": "model", "command": [sys.executable, "-c", f"open({str(marker)!r}, 'a')"]}
    first = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=scheduled(None, steps=[blocker])).json()
    wait_for(lambda: server.http.get(f"{RUNS}/{first['id']}").json()["status"] == "running")
    carol = server.client(server.token_for("carol", {"search": "editor"}))
    queued = carol.post(f"{API_PREFIX}/compute/sequencer/run", json=scheduled(None, steps=[touch])).json()
    server.accounts().remove_role("carol", "search")
    wait_for(lambda: server.http.get(f"{RUNS}/{queued['id']}").json()["finished"] is not None)
    run = server.http.get(f"{RUNS}/{queued['id']}").json()
    assert run["status"] == "failed"
    assert run["reason"] == "not started: carol no longer holds the editor role in application search"
    assert {step["status"] for step in run["steps"]} == {"cancelled"}
    assert not marker.exists()

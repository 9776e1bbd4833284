"""Pipeline runs through a live server: order and parallel groups, the step environment, retries, timeouts,
cancellation, logs, failure handling and a real training step that saves a model with the SDK."""

from __future__ import annotations

import json
import os
import pwd
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from genome.server.app import API_PREFIX

RUN = f"{API_PREFIX}/compute/sequencer/run"
RUNS = f"{API_PREFIX}/compute/runs"
PYTHON = sys.executable
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def python(code: str) -> list[str]:
    return [PYTHON, "-c", code]


def step(name: str, code: str = "pass", **fields: Any) -> dict[str, Any]:
    return {"stepName": name, "stepType": "model", "command": python(code), **fields}


def pipeline(*steps: Any, **fields: Any) -> dict[str, Any]:
    return {
        "application": "search",
        "pipelineName": "pipe-1",
        "canonicalName": "/search/pipe-1",
        "steps": list(steps),
        **fields,
    }


def wait_for(
    server, run_id: str, statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout: float = 60
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = server.http.get(f"{RUNS}/{run_id}").json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run stayed {run['status']}: {json.dumps(run, indent=1)[:3000]}"
        time.sleep(0.05)


def start(server, body: dict) -> dict:
    response = server.http.post(RUN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def log_of(server, run_id: str, step_name: str, number: int = 1) -> str:
    chunk = server.http.get(f"{RUNS}/{run_id}/steps/{step_name}/attempts/{number}/log").json()
    return chunk["text"]


def steps_by_name(run: dict) -> dict[str, dict]:
    return {entry["stepName"]: entry for entry in run["steps"]}


@pytest.fixture
def sequencer_server(make_server, backend):
    return make_server(backend, sequencer_retry_backoff_seconds=0.05)


def test_seed_sequence_runs_in_order_with_the_step_environment(sequencer_server, step_dir) -> None:
    server = sequencer_server
    trace = step_dir / "trace.jsonl"
    record = (
        "import json, os, time; keys = ['DEPLOYMENT', 'DEPLOYMENT_PARAMETERS', 'APPLICATION', 'PIPELINE_RUNID', "
        "'PIPELINE_NAME', 'STEP_NAME', 'STEP_TYPE', 'PARAMETERS', 'DATASETS', 'GENOME_URL', 'GENOME_TOKEN', "
        "'GENOME_DATABASE_URL']; entry = {k: os.environ.get(k) for k in keys}; entry['t'] = time.time(); "
        f"open({str(trace)!r}, 'a').write(json.dumps(entry) + '\\n'); time.sleep(0.2)"
    )
    assert (
        server.http.put(
            f"{API_PREFIX}/compute/deployments/search/deploy-1", json={"parameters": {"region": "eu"}}
        ).status_code
        == 200
    )
    body = pipeline(
        step(
            "step-1",
            record,
            parameters={"CA_TRAIN": True},
            datasets=["s3://lake/ca.csv"],
            timeout="360s",
            retry="3",
            image="ensemble-training:local.3",
        ),
        [step("step-2a", record, parameters={"TEXT_TRAIN_1": True}), step("step-2b", record)],
        step("step-3", record, parameters={"IMAGE_TRAIN": True}),
        deployment="deploy-1",
    )
    created = start(server, body)
    assert created["status"] == "queued" and set(created) >= {"id", "steps"}
    run = wait_for(server, created["id"])
    assert run["status"] == "succeeded", run
    assert [(s["stepName"], s["group"], s["status"]) for s in run["steps"]] == [
        ("step-1", 0, "succeeded"),
        ("step-2a", 1, "succeeded"),
        ("step-2b", 1, "succeeded"),
        ("step-3", 2, "succeeded"),
    ]
    entries = {entry["STEP_NAME"]: entry for entry in map(json.loads, trace.read_text().splitlines())}
    first = entries["step-1"]
    assert first["DEPLOYMENT"] == "deploy-1" and json.loads(first["DEPLOYMENT_PARAMETERS"]) == {"region": "eu"}
    assert first["APPLICATION"] == "search" and first["PIPELINE_RUNID"] == run["id"]
    assert first["PIPELINE_NAME"] == "pipe-1" and first["STEP_TYPE"] == "model"
    assert json.loads(first["PARAMETERS"]) == {"CA_TRAIN": True} and json.loads(first["DATASETS"]) == [
        "s3://lake/ca.csv"
    ]
    assert first["GENOME_URL"] == server.url and first["GENOME_TOKEN"].startswith("gnm_")
    assert first["GENOME_DATABASE_URL"] is None  # the server's settings stay with the server
    # groups run in order; the two steps of the parallel group overlap
    assert entries["step-1"]["t"] + 0.2 <= min(entries["step-2a"]["t"], entries["step-2b"]["t"])
    assert abs(entries["step-2a"]["t"] - entries["step-2b"]["t"]) < 0.2
    assert max(entries["step-2a"]["t"], entries["step-2b"]["t"]) + 0.2 <= entries["step-3"]["t"]
    attempt = run["steps"][0]["attempts"][0]
    assert attempt["number"] == 1 and attempt["exitCode"] == 0 and attempt["end"] >= attempt["start"]
    # the run's token stops working when the run ends
    response = server.client(first["GENOME_TOKEN"]).get(f"{API_PREFIX}/auth/me")
    assert response.status_code == 401


def test_a_failing_step_is_retried_then_fails_the_run_and_cancels_the_rest(sequencer_server, step_dir) -> None:
    server = sequencer_server
    counter = step_dir / "count"
    flaky = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) if p.exists() else 0; "
        "p.write_text(str(n + 1)); print('attempt', n + 1); sys.exit(0 if n >= 1 else 3)"
    )
    run = wait_for(server, start(server, pipeline(step("flaky", flaky, retry=1), step("after")))["id"])
    assert run["status"] == "succeeded"
    attempts = steps_by_name(run)["flaky"]["attempts"]
    assert [(a["status"], a["reason"], a["exitCode"]) for a in attempts] == [
        ("failed", "failed", 3),
        ("succeeded", None, 0),
    ]
    assert log_of(server, run["id"], "flaky", 1).strip() == "attempt 1"
    assert log_of(server, run["id"], "flaky", 2).strip() == "attempt 2"

    broken = pipeline(
        step("broken", "import sys; print('boom', file=sys.stderr); sys.exit(2)", retry="2"), step("never")
    )
    run = wait_for(server, start(server, broken)["id"])
    assert run["status"] == "failed" and "broken" in run["reason"]
    assert len(steps_by_name(run)["broken"]["attempts"]) == 3
    assert steps_by_name(run)["never"] == {**steps_by_name(run)["never"], "status": "cancelled", "attempts": []}
    assert "boom" in log_of(server, run["id"], "broken", 3)


def test_timeout_and_cancel_kill_the_whole_process_tree(sequencer_server, step_dir) -> None:
    server = sequencer_server
    pids = step_dir / "pids"
    # The step starts a grandchild that would outlive a kill of the step's own process.
    tree = (
        "import subprocess, sys, time; "
        f"child = subprocess.Popen([{PYTHON!r}, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pids)!r}, 'a').write(str(child.pid) + '\\n'); time.sleep(60)"
    )
    run = wait_for(server, start(server, pipeline(step("slow", tree, timeout="1s")))["id"])
    attempt = steps_by_name(run)["slow"]["attempts"][0]
    assert run["status"] == "failed" and attempt["reason"] == "timed out" and "timeout" in attempt["message"]

    created = start(server, pipeline(step("long", tree), step("next")))
    wait_for(server, created["id"], ("running",))
    deadline = time.monotonic() + 10
    while len(pids.read_text().split()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = server.http.post(f"{RUNS}/{created['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelRequested"]
    run = wait_for(server, created["id"])
    assert run["status"] == "cancelled"
    steps = steps_by_name(run)
    assert steps["long"]["status"] == "cancelled" and steps["long"]["attempts"][0]["reason"] == "cancelled"
    assert steps["next"]["status"] == "cancelled"
    time.sleep(0.2)
    for pid in map(int, pids.read_text().split()):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert server.http.post(f"{RUNS}/{created['id']}/cancel").status_code == 409


def test_running_log_can_be_followed(sequencer_server) -> None:
    server = sequencer_server
    code = "import sys, time\nfor i in range(3):\n    print('line', i, flush=True); time.sleep(0.3)"
    created = start(server, pipeline(step("talk", code)))
    wait_for(server, created["id"], ("running",))
    route = f"{RUNS}/{created['id']}/steps/talk/attempts/1/log"
    text, offset, deadline = "", 0, time.monotonic() + 20
    while True:
        response = server.http.get(route, params={"offset": offset})
        if response.status_code == 404:  # the attempt has not started yet
            time.sleep(0.05)
            continue
        chunk = response.json()
        text += chunk["text"]
        offset = chunk["nextOffset"]
        if chunk["complete"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert text.split() == ["line", "0", "line", "1", "line", "2"]


def test_a_training_step_saves_its_model_with_the_sdk(sequencer_server) -> None:
    server = sequencer_server
    train = step(
        "step-housing",
        timeout="360s",
        retry="3",
        command=[PYTHON, str(EXAMPLES / "housing_forest.py"), "--offline", "--canonical-name", "/housing/ca/forest-1"],
        image="housing-ca-forest-model:local.1",
    )
    run = wait_for(server, start(server, pipeline(train, pipelineName="pipe-housing"))["id"], timeout=180)
    assert run["status"] == "succeeded", log_of(server, run["id"], "step-housing")
    saved = server.store().find_model("search", "/housing/ca/forest-1")
    assert saved["pipelineRunId"] == run["id"] and saved["pipelineName"] == "pipe-housing"
    assert saved["pipelineStage"] == "step-housing" and saved["createdBy"] == "admin"


def test_bad_specs_are_refused_whole_naming_step_and_field(sequencer_server) -> None:
    server = sequencer_server

    def error(body: dict) -> dict:
        response = server.http.post(RUN, json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]

    found = error(pipeline(step("a"), [step("b"), step("a")]))
    assert "a" in found["message"] and found["field"].startswith("steps")
    found = error(pipeline(step("a", timeout="10x")))
    assert found["field"] == "steps[0].timeout" and "'a'" in found["message"]
    found = error(pipeline({"stepName": "only-image", "image": "ensemble-training:local.3"}))
    assert "container runtime" in found["message"] and found["field"].startswith("steps[0]")
    assert error(pipeline(step("a"), []))["field"] == "steps[1]"
    assert error(pipeline(step("a", retry="often")))["field"] == "steps[0].retry"
    assert server.http.get(RUNS).json()["items"] == []
    found = server.http.post(RUN, json={"pipelineId": "f" * 32})
    assert found.status_code == 404 and found.json()["error"]["field"] == "pipelineId"


def test_permissions(sequencer_server) -> None:
    server = sequencer_server
    run = start(server, pipeline(step("a")))
    viewer = server.client(server.token_for("vera", {"search": "viewer"}))
    assert viewer.get(f"{RUNS}/{run['id']}").status_code == 200
    assert viewer.post(RUN, json=pipeline(step("a"))).status_code == 403
    assert viewer.post(f"{RUNS}/{run['id']}/cancel").status_code == 403
    outsider = server.client(server.token_for("olga", {"ads": "editor"}))
    hidden = outsider.get(f"{RUNS}/{run['id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"] == {**hidden.json()["error"], "message": f"pipeline run {run['id']!r} does not exist"}
    assert outsider.get(RUNS).json()["items"] == []


def test_a_failed_step_cancels_the_steps_of_its_group_not_started_yet(make_server) -> None:
    server = make_server("sqlite", executor_concurrency=1)
    group = [step("bad", "import sys; sys.exit(1)"), step("waiting-1", "import time; time.sleep(5)"), step("waiting-2")]
    run = wait_for(server, start(server, pipeline(group, step("later")))["id"])
    assert run["status"] == "failed"
    assert {s["stepName"]: (s["status"], len(s["attempts"])) for s in run["steps"]} == {
        "bad": ("failed", 1),
        "waiting-1": ("cancelled", 0),
        "waiting-2": ("cancelled", 0),
        "later": ("cancelled", 0),
    }


def test_a_server_that_lost_its_run_stops_driving_it(make_server, step_dir) -> None:
    from sqlalchemy import update

    from genome.store.tables import PipelineRun

    server = make_server("sqlite", sequencer_lease_seconds=2, sequencer_retry_backoff_seconds=0.05)
    pid_file, marker = step_dir / "pid", step_dir / "marker"
    code = (
        "import os, pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if marker.exists(): raise SystemExit(0)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); marker.write_text('x'); time.sleep(60)\n"
    )
    created = start(server, pipeline(step("work", code, retry=1)))
    deadline = time.monotonic() + 20
    while not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Another server takes the run over (as if this one had stalled past its lease) and then goes quiet.
    with server.app.state.runtime.db.write() as session:
        session.execute(
            update(PipelineRun).where(PipelineRun.id == created["id"]).values(owner="elsewhere:1:other", heartbeat=0)
        )
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]:
        assert time.monotonic() < deadline, "the step of a run this server lost is still running"
        time.sleep(0.05)
    # Its lease lapsed, so the run is reclaimed here and its step retried.
    run = wait_for(server, created["id"])
    assert run["status"] == "succeeded"
    attempts = steps_by_name(run)["work"]["attempts"]
    assert [(a["status"], a["reason"]) for a in attempts] == [("failed", "lost"), ("succeeded", None)]
    assert "lease lapsed" in attempts[0]["message"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root (CI runs as root)")
def test_steps_run_as_the_configured_user(make_server) -> None:
    server = make_server("sqlite", step_user="nobody")
    shell = {"stepName": "who", "stepType": "model", "command": ["sh", "-c", 'id -un; echo "home=$HOME"']}
    run = wait_for(server, start(server, pipeline(shell))["id"])
    assert run["status"] == "succeeded", run
    assert log_of(server, run["id"], "who").split() == ["nobody", f"home={pwd.getpwnam('nobody').pw_dir}"]


def test_a_step_user_the_server_cannot_switch_to_is_refused_at_start() -> None:
    from genome.errors import InvalidSetting
    from genome.sequencer.executors.local import LocalExecutor

    with pytest.raises(InvalidSetting, match="not a user on this machine"):
        LocalExecutor("no-such-user-here")
    if os.geteuid() != 0:
        with pytest.raises(InvalidSetting, match="only a server running as root"):
            LocalExecutor("nobody")

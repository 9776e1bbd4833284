"""The dask executor against a real dask.distributed cluster on 127.0.0.1: a scheduler and two single-thread workers
started here, a parallel group spread across them, and a worker killed in the middle of a step."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genome.server.app import API_PREFIX

# Timing matters here (steps of a parallel group must overlap, a worker is killed mid-step): run alone.
pytestmark = pytest.mark.serial

DASK = str(Path(sys.executable).with_name("dask"))
RUNS = f"{API_PREFIX}/compute/runs"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dead(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[dict]:
    from distributed import Client

    address = f"tcp://127.0.0.1:{_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rpartition(":")[2], "--no-dashboard"],
            **quiet,
        )
    ]
    workers = {}
    for name in ("w1", "w2"):
        worker = subprocess.Popen(
            [
                DASK,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                name,
                "--resources",
                "slot=1",
            ],
            **quiet,
        )
        processes.append(worker)
        workers[name] = worker
    try:
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "workers": workers}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def _wait(server, run_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = server.http.get(f"{RUNS}/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, f"run stayed {run['status']}"
        time.sleep(0.1)


def test_parallel_group_runs_across_workers_with_logs(dask_cluster, make_server, tmp_path) -> None:
    server = make_server("sqlite", executor="dask", dask_scheduler=dask_cluster["address"])
    trace = tmp_path / "trace"
    code = (
        "import os, time; start = time.time(); time.sleep(1.5); "
        f"open({str(trace)!r}, 'a').write(f\"{{os.environ['STEP_NAME']}} {{os.environ['GENOME_WORKER_PID']}} "
        "{start} {time.time()}\\n\"); print('done', os.environ['STEP_NAME'])"
    )
    steps = [
        {"stepName": name, "command": [sys.executable, "-c", code], "resources": {"slot": 1}} for name in ("a", "b")
    ]
    body = {"application": "search", "pipelineName": "dask", "steps": [steps, {"stepName": "c", "command": "true"}]}
    created = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=body)
    assert created.status_code == 201, created.text
    run = _wait(server, created.json()["id"])
    assert run["status"] == "succeeded", run
    rows = {line.split()[0]: line.split()[1:] for line in trace.read_text().splitlines()}
    worker_pids = {str(worker.pid) for worker in dask_cluster["workers"].values()}
    assert {rows["a"][0], rows["b"][0]} == worker_pids  # one step on each worker
    starts, ends = [float(rows[name][1]) for name in "ab"], [float(rows[name][2]) for name in "ab"]
    assert max(starts) < min(ends)  # and at the same time
    log = server.http.get(f"{RUNS}/{run['id']}/steps/a/attempts/1/log").json()
    assert log["text"].strip() == "done a" and log["complete"]


def test_a_worker_killed_mid_step_leaves_nothing_behind_and_the_step_runs_elsewhere(
    dask_cluster, make_server, tmp_path
) -> None:
    server = make_server("sqlite", executor="dask", dask_scheduler=dask_cluster["address"])
    runs, marker = tmp_path / "runs", tmp_path / "marker"
    code = (
        "import os, pathlib, time\n"
        f"pathlib.Path({str(runs)!r}).open('a').write(f\"{{os.environ['GENOME_WORKER_PID']}} {{os.getpid()}}\\n\")\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if marker.exists(): raise SystemExit(0)\n"
        "marker.write_text('x'); time.sleep(120)\n"
    )
    body = {
        "application": "search",
        "pipelineName": "dask-crash",
        "steps": [{"stepName": "work", "command": [sys.executable, "-c", code], "retry": 1}],
    }
    run_id = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=body).json()["id"]
    deadline = time.monotonic() + 60
    while not runs.exists():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    worker_pid, step_pid = map(int, runs.read_text().split())
    os.kill(worker_pid, signal.SIGKILL)

    run = _wait(server, run_id)
    assert run["status"] == "succeeded", run
    executions = [line.split() for line in runs.read_text().splitlines()]
    assert len(executions) == 2 and executions[1][0] != str(worker_pid)  # run again on the other worker
    deadline = time.monotonic() + 10
    while not _dead(step_pid):  # the killed worker's watchdog ends the step it was running
        assert time.monotonic() < deadline, "the step of the killed worker is still running"
        time.sleep(0.1)


def test_a_program_missing_on_the_worker_fails_the_attempt_with_its_reason(dask_cluster, make_server) -> None:
    server = make_server("sqlite", executor="dask", dask_scheduler=dask_cluster["address"])
    body = {
        "application": "search",
        "pipelineName": "missing",
        "steps": [{"stepName": "ghost", "command": ["/no/such/program"]}],
    }
    run = _wait(server, server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=body).json()["id"])
    assert run["status"] == "failed"
    (attempt,) = run["steps"][0]["attempts"]
    assert attempt["exitCode"] == 127 and attempt["reason"] == "failed"
    log = server.http.get(f"{RUNS}/{run['id']}/steps/ghost/attempts/1/log").json()
    assert "could not start" in log["text"] and "/no/such/program" in log["text"]

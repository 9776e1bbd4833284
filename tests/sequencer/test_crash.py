"""Crash safety: kill -9 the server in the middle of a run; the restarted server reclaims it, kills the orphaned step
and retries it, and the run ends instead of staying "running" forever."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from genome.modelstore.accounts import Accounts

# Timing matters here (servers killed mid-run, leases expiring): run alone, not beside other tests.
pytestmark = pytest.mark.serial

PASSWORD = "crash-test-password"


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "GENOME_HOME": str(home),
        "GENOME_ADMIN_PASSWORD": PASSWORD,
        "GENOME_SEQUENCER_RETRY_BACKOFF_SECONDS": "0.05",
    }
    with (home / f"server-{time.monotonic_ns()}.log").open("wb") as log:  # the server keeps its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", "genome.cli", "serve", "--port", str(port)], env=environment, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1.0/genome/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "genome serve did not start"
        time.sleep(0.1)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kill_9_mid_run_is_reconciled_on_restart(tmp_path: Path, step_dir: Path) -> None:
    home, port = tmp_path / "home", _port()
    home.mkdir()
    url = f"http://127.0.0.1:{port}"
    marker, pid_file = step_dir / "started", step_dir / "pid"
    # The first attempt hangs (it is the one the crash interrupts); the retry finds the marker and succeeds.
    code = (
        "import os, pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if marker.exists(): raise SystemExit(0)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); marker.write_text('x'); time.sleep(120)\n"
    )
    step = {"stepName": "work", "stepType": "model", "command": [sys.executable, "-c", code], "retry": 1}
    body = {"application": "search", "pipelineName": "crash", "steps": [step, {**step, "stepName": "after"}]}

    server = _serve(home, port)
    try:
        with Accounts(url) as accounts:
            accounts.login("admin", PASSWORD)
            token = accounts.create_token("crash")["token"]
        http = httpx.Client(base_url=f"{url}/v1.0/genome", headers={"Authorization": f"Bearer {token}"})
        run_id = http.post("/compute/sequencer/run", json=body).json()["id"]
        deadline = time.monotonic() + 30
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.05)
        orphan = int(pid_file.read_text())
        server.send_signal(signal.SIGKILL)
        server.wait()
        assert Path(f"/proc/{orphan}").exists()  # the step outlives its server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    restarted = _serve(home, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            run = http.get(f"/compute/runs/{run_id}").json()
            if run["status"] in ("succeeded", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"the run stayed {run['status']}"
            time.sleep(0.1)
        assert run["status"] == "succeeded", run
        attempts = run["steps"][0]["attempts"]
        assert [(a["status"], a["reason"]) for a in attempts] == [("failed", "lost"), ("succeeded", None)]
        assert attempts[0]["end"] is not None
        lost_log = http.get(f"/compute/runs/{run_id}/steps/work/attempts/1/log").json()
        assert lost_log["complete"] and lost_log["text"] == ""
        assert not Path(f"/proc/{orphan}").exists() or "Z" in Path(f"/proc/{orphan}/stat").read_text().split(")")[1][:3]
    finally:
        http.close()
        restarted.terminate()
        restarted.wait(timeout=30)

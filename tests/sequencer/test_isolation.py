"""Pipeline steps through a real server cannot reach what belongs to the server: its process environment, its
database, its artifacts, its home and its own settings; and they reach the server at the port it really serves on."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from genome.modelstore.accounts import Accounts
from genome.server.app import API_PREFIX

RUN = f"{API_PREFIX}/compute/sequencer/run"
RUNS = f"{API_PREFIX}/compute/runs"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="steps switch users only when the server runs as root (CI)")

# A step that tries to read each path named in its PARAMETERS and says what happened to each.
PROBE = """
import json, os
for name, path in json.loads(os.environ["PARAMETERS"])["targets"].items():
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        print(name, "READ", len(data), flush=True)
    except OSError as exc:
        print(name, "DENIED", type(exc).__name__, flush=True)
"""


def run_step(
    server, code: str, parameters: dict | None = None, timeout: float = 60, application: str = "search"
) -> tuple[dict, str]:
    body = {
        "application": application,
        "pipelineName": "probe",
        "steps": [{"stepName": "probe", "command": [sys.executable, "-c", code], "parameters": parameters or {}}],
    }
    created = server.http.post(RUN, json=body)
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + timeout
    while (run := server.http.get(f"{RUNS}/{created.json()['id']}").json())["status"] not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    log = server.http.get(f"{RUNS}/{run['id']}/steps/probe/attempts/1/log").json()["text"]
    return run, log


def outcomes(log: str) -> dict[str, str]:
    words = [line.split() for line in log.splitlines()]
    return {found[0]: found[1] for found in words if found[1:2] in (["READ"], ["DENIED"])}


@pytest.fixture
def server_home(step_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's home (``Path.home()``), open to every user with a readable secret inside, as a careless one
    would be: only the confinement keeps steps out of it."""
    home = step_dir / "server-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / ".aws-credentials").write_text("aws_secret_access_key = s3cr3t")
    (home / ".aws-credentials").chmod(0o644)
    monkeypatch.setenv("HOME", str(home))
    return home


def _targets(server, home: Path) -> dict[str, str]:
    runtime = server.app.state.runtime
    stored = runtime.artifacts.put(io.BytesIO(b"model weights of another application"))
    return {
        "environ": f"/proc/{os.getpid()}/environ",  # the server runs in this process
        "database": str(make_url(server.settings.database_url).database),
        "artifact": f"{runtime.artifacts.root}/{stored.key}",
        "home": str(home / ".aws-credentials"),
    }


@needs_root
def test_a_step_cannot_read_the_servers_environ_database_artifacts_home_or_mounted_secrets(
    make_server, server_home, step_dir: Path
) -> None:
    secrets = step_dir / "secrets"  # as a Kubernetes service-account token mounted for the server
    secrets.mkdir(mode=0o755)
    (secrets / "token").write_text("service-account token")
    (secrets / "token").chmod(0o644)
    server = make_server("sqlite", hidden_paths=f"/nonexistent,{secrets}")
    targets = {**_targets(server, server_home), "mounted": str(secrets / "token")}
    for path in targets.values():
        assert Path(path).read_bytes()  # each exists and holds something worth stealing
    run, log = run_step(server, PROBE, {"targets": {**targets, "control": "/etc/hostname"}})
    assert run["status"] == "succeeded", log
    assert outcomes(log) == {**dict.fromkeys(targets, "DENIED"), "control": "READ"}, log


@needs_root
def test_steps_run_as_the_unprivileged_step_user_and_python_has_genome(make_server) -> None:
    server = make_server("sqlite")
    code = "import json, os, genome, sklearn; print(json.dumps([os.getuid(), os.getgid(), os.getgroups()]))"
    run, log = run_step(server, code)
    assert run["status"] == "succeeded", log
    account = step_account("search")
    assert json.loads(log) == [account.pw_uid, account.pw_gid, []] and account.pw_uid != 0
    assert account.pw_shell.endswith(("nologin", "false"))


@needs_root
def test_steps_of_different_applications_run_as_different_users(make_server) -> None:
    # Under one shared user a step could read another application's concurrent step's environment: its run token.
    server = make_server("sqlite")
    code = "import os; print(os.getuid())"
    uids = {application: int(run_step(server, code, application=application)[1]) for application in ("search", "ads")}
    assert uids == {application: step_account(application).pw_uid for application in uids}
    assert uids["search"] != uids["ads"]


def step_account(application: str) -> pwd.struct_passwd:
    return pwd.getpwnam(f"genome-step-{hashlib.sha256(application.encode()).hexdigest()[:12]}")


@needs_root
def test_steps_as_root_must_be_asked_for_and_still_do_not_see_the_servers_files(
    make_server, server_home, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="genome.sequencer"):
        server = make_server("sqlite", step_user="root")
    assert any("STEPS RUN AS ROOT" in record.getMessage() for record in caplog.records)
    targets = _targets(server, server_home)
    del targets["environ"]  # root may read any process's; hiding is about files
    run, log = run_step(server, f"import os; print('uid', os.getuid())\n{PROBE}", {"targets": targets})
    assert run["status"] == "succeeded", log
    assert "uid 0" in log and outcomes(log) == dict.fromkeys(targets, "DENIED"), log


def test_the_servers_files_are_for_its_user_only(make_server) -> None:
    server = make_server("sqlite")
    settings = server.settings
    database = Path(str(make_url(settings.database_url).database))
    private = {
        settings.home: 0o700,
        settings.home / "logs": 0o700,
        Path(server.app.state.runtime.artifacts.root): 0o700,
        database.parent: None,  # the test's folder of databases, made by the tests
        database: 0o600,
    }
    for path, mode in private.items():
        if mode is not None:
            assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_a_step_gets_a_minimal_environment_and_only_the_variables_passed_through(
    make_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cr3t")
    monkeypatch.setenv("PGPASSWORD", "pg-s3cr3t")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("LANG", "C.UTF-8")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    allowed = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "PWD", "LC_CTYPE", "_"}
    step_variables = {"DEPLOYMENT", "DEPLOYMENT_PARAMETERS", "APPLICATION", "PIPELINE_RUNID", "PIPELINE_NAME"}
    step_variables |= {"STEP_NAME", "STEP_TYPE", "PARAMETERS", "DATASETS", "GENOME_URL", "GENOME_TOKEN"}

    run, log = run_step(make_server("sqlite"), code)
    assert run["status"] == "succeeded", log
    environment = json.loads(log)
    assert set(environment) - allowed == step_variables, environment
    assert "aws-s3cr3t" not in log and "pg-s3cr3t" not in log and environment["LANG"] == "C.UTF-8"
    assert environment["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    if os.geteuid() == 0:
        assert environment["HOME"] == step_account("search").pw_dir

    passing = make_server("sqlite", step_env_passthrough="AWS_SECRET_ACCESS_KEY,HTTPS_PROXY")
    run, log = run_step(passing, code)
    environment = json.loads(log)
    assert environment["AWS_SECRET_ACCESS_KEY"] == "aws-s3cr3t" and environment["HTTPS_PROXY"].endswith(":3128")
    assert "PGPASSWORD" not in environment


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_genome_serve_port_is_the_port_steps_reach_the_server_at(tmp_path: Path) -> None:
    port, password = _free_port(), "serve-port-password"
    environment = {**os.environ, "GENOME_HOME": str(tmp_path / "home"), "GENOME_ADMIN_PASSWORD": password}
    environment.pop("GENOME_PORT", None)
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("wb") as output:
        serve = [sys.executable, "-m", "genome.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(serve, env=environment, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}{API_PREFIX}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        with Accounts(url) as accounts:
            accounts.login("admin", password)
            token = accounts.create_token("serve-port")["token"]
        code = "import os; from genome.modelstore.client import ModelStore; print(os.environ['GENOME_URL'])"

        class Server:
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})

        with Server.http:
            run, log = run_step(Server, code)
        assert run["status"] == "succeeded", log
        assert log.strip() == f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

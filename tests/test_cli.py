"""The ``genome`` command: help, ``serve`` as a real process, and ``models list/show`` against a server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

from genome.cli import app
from genome.cli.common import console
from genome.modelstore.estimator import GenomeEstimator

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables wide enough to read whole: a pytest-xdist worker starts with COLUMNS=80 set, which rich reads once."""
    monkeypatch.setattr(console, "width", 200)


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
    assert "models" in result.output


def test_serve_starts_on_the_embedded_default(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = {**os.environ, "GENOME_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "genome.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1.0/genome/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "genome serve did not answer within 60 s"
                time.sleep(0.2)
        assert health.json()["database"] == "sqlite"
        assert (tmp_path / "home" / "genome.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


def test_models_list_and_show(server) -> None:
    model = DecisionTreeClassifier(random_state=0).fit(*load_iris(return_X_y=True))
    with server.store() as store:
        record = store.save_model(
            GenomeEstimator(model), {"application": "search", "canonicalName": "/iris/tree", "versionName": "v-cli"}
        )
    listed = runner.invoke(
        app, ["models", "list", "--url", server.url, "--token", server.token, "--application", "search"], env=WIDE
    )
    assert listed.exit_code == 0, listed.output
    assert "/iris/tree" in listed.output
    assert "v-cli" in listed.output
    shown = runner.invoke(app, ["models", "show", record["id"], "--url", server.url, "--token", server.token, "--json"])
    assert shown.exit_code == 0, shown.output
    assert record["artifact"]["sha256"] in shown.output
    missing = runner.invoke(app, ["models", "show", "nope", "--url", server.url, "--token", server.token])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_models_visualize_draws_a_tree_and_a_path(server, tmp_path) -> None:
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    with server.store() as store:
        record = store.save_model(GenomeEstimator(model), {"application": "search", "canonicalName": "/iris/viz"})
    admin = ["--url", server.url, "--token", server.token]
    svg = str(tmp_path / "t.svg")
    shown = runner.invoke(
        app, ["models", "visualize", record["id"], "--record", "[6.0, 2.9, 4.5, 1.5]", "--svg", svg, *admin], env=WIDE
    )
    assert shown.exit_code == 0, shown.output
    assert "tree 0 of 1" in shown.output
    assert "feature_3 <= 0.8" in shown.output or "feature_2 <= 2.45" in shown.output
    assert "path: " in shown.output and "→ 1" in shown.output
    assert (tmp_path / "t.svg").read_text().count("node-") >= model.tree_.node_count
    bad = runner.invoke(app, ["models", "visualize", record["id"], "--record", "[1,", *admin])
    assert bad.exit_code == 1 and "not JSON" in bad.output


def test_users_and_tokens_commands(server) -> None:
    admin = ["--url", server.url, "--token", server.token]
    added = runner.invoke(
        app, ["users", "add", "erin", "--role", "search=editor", *admin], input="erin-password-1\nerin-password-1\n"
    )
    assert added.exit_code == 0, added.output
    assert "search" in added.output
    granted = runner.invoke(app, ["users", "set-role", "erin", "*", "viewer", *admin])
    assert granted.exit_code == 0, granted.output
    listed = runner.invoke(app, ["users", "list", *admin], env=WIDE)
    assert "erin" in listed.output
    assert "*=viewer" in listed.output

    created = runner.invoke(
        app, ["tokens", "create", "erin-laptop", "--url", server.url, "--username", "erin"], input="erin-password-1\n"
    )
    assert created.exit_code == 0, created.output
    token = next(line for line in created.output.splitlines() if line.startswith("gnm_"))
    with server.store(token) as erin:
        assert erin.search_models()["items"] == []
    tokens = runner.invoke(app, ["tokens", "list", "--url", server.url, "--token", token], env=WIDE)
    assert "erin-laptop" in tokens.output
    token_id = token.split("_")[1]
    revoked = runner.invoke(app, ["tokens", "revoke", token_id, *admin])
    assert revoked.exit_code == 0, revoked.output
    refused = runner.invoke(app, ["models", "list", "--url", server.url, "--token", token])
    assert refused.exit_code == 1
    assert "revoked" in refused.output
    removed = runner.invoke(app, ["users", "remove", "erin", *admin])
    assert removed.exit_code == 0, removed.output


def test_no_auth_refuses_to_listen_beyond_loopback() -> None:
    result = runner.invoke(app, ["serve", "--no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_evaluations_list_show_and_diff(server) -> None:
    from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task

    def scored(value: float) -> type[GenomeEvaluationRun]:
        @evaluation(name="iris/cli")
        class Scored(GenomeEvaluationRun):
            @task()
            def accuracy(self, t, dataset):
                t.add_metric("accuracy", value).expect(value, var="accuracy").toBeGreaterOrEqual(0.9)

        return Scored

    model = DecisionTreeClassifier(random_state=0).fit(*load_iris(return_X_y=True))
    with server.store() as store:
        record = store.save_model(GenomeEstimator(model), {"application": "search", "canonicalName": "/iris/tree"})
    with server.evaluations() as evaluations:
        good = scored(0.95)(evaluations, target=record["id"]).to_run()
        bad = scored(0.5)(evaluations, target=record["id"]).to_run()
    auth = ["--url", server.url, "--token", server.token]

    listed = runner.invoke(app, ["evaluations", "list", *auth, "--target", "/iris/tree"], env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert good["id"] in listed.output and bad["id"] in listed.output and "/iris/tree v1" in listed.output
    failed = runner.invoke(app, ["evaluations", "list", *auth, "--status", "failed", "--json"])
    assert bad["id"] in failed.output and good["id"] not in failed.output
    shown = runner.invoke(app, ["evaluations", "show", bad["id"], *auth], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "accuracy = 0.5 is not >= 0.9" in shown.output
    diff = runner.invoke(app, ["evaluations", "diff", good["id"], bad["id"], *auth], env=WIDE)
    assert diff.exit_code == 0, diff.output
    assert "passed → failed" in diff.output and "accuracy: 0.95 → 0.5 (-0.45)" in diff.output
    missing = runner.invoke(app, ["evaluations", "show", "nope", *auth])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_pipelines_and_runs_commands(server) -> None:
    import sys

    from genome.modelstore.compute import Compute

    step = {"stepName": "hello", "command": [sys.executable, "-c", "print('hello from the step')"]}
    body = {"application": "search", "pipelineName": "pipe-cli", "steps": [step]}
    auth = ["--url", server.url, "--token", server.token]
    with Compute(server.url, server.token) as compute:
        run = compute.run_pipeline(body)
        stored = compute.store_pipeline({**body, "schedule": "1d"})

    watched = runner.invoke(app, ["runs", "show", run["id"], "--watch", *auth], env=WIDE)
    assert watched.exit_code == 0, watched.output
    assert "succeeded" in watched.output and "hello" in watched.output
    listed = runner.invoke(app, ["runs", "list", *auth], env=WIDE)
    assert run["id"] in listed.output and "1/1" in listed.output
    logs = runner.invoke(app, ["runs", "logs", run["id"], "hello", *auth])
    assert logs.exit_code == 0 and logs.output == "hello from the step\n"
    followed = runner.invoke(app, ["runs", "logs", run["id"], "hello", "--follow", *auth])
    assert followed.output == "hello from the step\n"
    finished = runner.invoke(app, ["runs", "cancel", run["id"], *auth])
    assert finished.exit_code == 1 and "already succeeded" in finished.output

    pipelines = runner.invoke(app, ["pipelines", "list", *auth], env=WIDE)
    assert stored["id"] in pipelines.output and "1d" in pipelines.output
    paused = runner.invoke(app, ["pipelines", "pause", stored["id"], *auth], env=WIDE)
    assert paused.exit_code == 0, paused.output
    with Compute(server.url, server.token) as compute:
        assert compute.get_pipeline(stored["id"])["paused"] is True
        assert runner.invoke(app, ["pipelines", "resume", stored["id"], *auth]).exit_code == 0
        assert compute.get_pipeline(stored["id"])["paused"] is False

"""Bundles that carry code, through a real server: an editor's pickle payload runs only in a confined isolated
worker (another user, no network, the server's files hidden), a viewer who triggers it gets a clean error, a worker
that hangs, dies, runs out of memory or writes garbage is replaced, and every modality is still served right."""

from __future__ import annotations

import json
import os
import pickle
import pwd
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sqlalchemy.engine import make_url

from bundles import rebuild
from genome.errors import InvalidInput
from genome.explain.tabular import TabularExplainer
from genome.formats.bundle import pack
from genome.formats.trust import UntrustedContent
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX

MODELS = f"{API_PREFIX}/modelstore/models"
EXPLAIN = f"{API_PREFIX}/routing/explain"
DIABETES = load_diabetes()
ROWS = DIABETES.data[:3].tolist()
TRIGGER = 999.0  # a first feature of this value makes the misbehaving models below misbehave
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="isolated workers switch users only under root (CI)")


class Payload:
    """Unpickling this runs ``code``: what an attacker puts in a bundle."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


# Run by the payload: who it runs as, what of the server's it can read or write, whether it reaches the server.
PROBE = """
import json, os, socket
out = {{"uid": os.getuid(), "pid": os.getpid(), "read": {{}}}}
for name, path in {targets!r}.items():
    try:
        with open(path, "rb") as handle:
            handle.read()
        out["read"][name] = True
    except OSError:
        out["read"][name] = False
try:
    with open({plant!r}, "w") as handle:
        handle.write("planted by a model")
    out["planted"] = True
except OSError:
    out["planted"] = False
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    out["connected"] = True
except OSError:
    out["connected"] = False
try:  # what reaches this file ran outside a worker, or in one that sees /run
    with open({marker!r}, "a") as handle:
        handle.write(json.dumps(out) + "\\n")
except OSError:
    pass
raise RuntimeError("PROBE" + json.dumps(out) + "PROBE")  # a worker's one way out: its answer
"""


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder the payload can leave its report in, whichever user it runs as (``tmp_path`` is root's only), out
    of /tmp: a worker has a /tmp of its own."""
    if not os.access("/run", os.W_OK):
        pytest.skip("needs a folder outside /tmp that any user may write in (/run, as root)")
    path = Path(tempfile.mkdtemp(prefix="genome-isolation-", dir="/run"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def upload(http: httpx.Client, bundle: bytes, name: str) -> httpx.Response:
    meta = {"application": "search", "canonicalName": name, "framework": "sklearn", "inputModality": "tabular"}
    return http.post(MODELS, data={"meta": json.dumps(meta)}, files={"artifact": ("m.zip", bundle, "application/zip")})


def clean_error(response: httpx.Response) -> dict[str, Any]:
    """A JSON error envelope with a 4xx or 5xx status."""
    assert 400 <= response.status_code < 600, response.text
    error = response.json()["error"]
    assert error["status"] == response.status_code and error["message"]
    return error


def reports(marker: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in marker.read_text().splitlines()] if marker.exists() else []


def answered(*responses: httpx.Response) -> list[dict[str, Any]]:
    """The reports the payload gave back in the errors of these responses."""
    found = [re.findall(r"PROBE(\{.*?\})PROBE", response.json()["error"]["message"]) for response in responses]
    return [json.loads(report) for reports in found for report in reports]


@pytest.fixture(scope="module")
def forest() -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0).fit(DIABETES.data, DIABETES.target)


def forest_bundle(forest: RandomForestRegressor) -> tuple[bytes, dict[str, Any]]:
    estimator = GenomeEstimator(forest, feature_names=DIABETES.feature_names, modality="tabular")
    return pack(forest, estimator.bundle_fields())


@pytest.fixture
def attack(make_server, open_dir: Path, forest: RandomForestRegressor):
    """A server, an editor and a viewer of "search", and a payload that probes what it can reach from there."""
    server = make_server("sqlite")
    editor = server.client(server.token_for("eddie", {"search": "editor"}))
    viewer = server.client(server.token_for("vera", {"search": "viewer"}))
    secret = server.settings.home / "secret.txt"
    secret.write_text("GENOME_HOME secret")
    mounted = open_dir / "secret"  # as a secret mounted in /run for the server, readable by anyone
    mounted.write_text("mounted secret")
    mounted.chmod(0o644)
    bundle, manifest = forest_bundle(forest)
    assert upload(editor, bundle, "/honest").status_code == 201
    stored = server.app.state.runtime.artifacts
    honest_blob = next(path for path in Path(stored.root).rglob("*") if path.is_file())
    targets = {
        "environ": f"/proc/{os.getpid()}/environ",  # the server runs in this process
        "database": str(make_url(server.settings.database_url).database),
        "genome_home": str(secret),
        "artifact": str(honest_blob),
        "mounted": str(mounted),
    }
    for path in targets.values():
        assert Path(path).read_bytes()  # each is there, holding something worth stealing
    marker = open_dir / "report.jsonl"
    plant = server.settings.home / "planted.txt"
    code = PROBE.format(targets=targets, plant=str(plant), port=server.port, marker=str(marker))
    return server, editor, viewer, bundle, manifest, code, marker, plant


def assert_confined(server, found: list[dict[str, Any]], marker: Path, plant: Path) -> None:
    assert found, "the payload never ran in a worker"
    assert not reports(marker)  # nor anywhere that sees /run
    users = server.app.state.runtime.models.pool.claims.users if os.geteuid() == 0 else []
    sandboxes = {pwd.getpwnam(user).pw_uid for user in users} if os.geteuid() == 0 else {os.geteuid()}
    for report in found:
        assert report["pid"] != os.getpid()  # never in the server's process
        assert report["uid"] in sandboxes and (report["uid"] != 0 or os.geteuid() != 0)
        assert report["read"] == dict.fromkeys(report["read"], False), report
        assert report["connected"] is False, report
    assert not plant.exists()  # whatever it wrote went to the empty tmpfs over the server's home


def _explain_and_visualize(server, viewer: httpx.Client, version: str) -> list[dict[str, Any]]:
    started = time.monotonic()
    explained = viewer.post(EXPLAIN, json={"id": version, "entries": ROWS})
    visualized = viewer.get(f"{MODELS}/{version}/visualization")
    for response in (explained, visualized):
        clean_error(response)
    assert time.monotonic() - started < server.settings.isolation_timeout_seconds
    return answered(explained, visualized)


@needs_root
def test_a_payload_in_model_pkl_runs_only_confined_in_a_worker(attack) -> None:
    server, editor, viewer, bundle, manifest, code, marker, plant = attack
    evil = rebuild(bundle, replace={manifest["modelFile"]: pickle.dumps(Payload(code), protocol=5)})
    created = upload(editor, evil, "/evil")
    assert created.status_code == 201, created.text
    assert created.json()["artifact"]["isolated"] is True
    assert not reports(marker)  # storing it ran nothing

    found = _explain_and_visualize(server, viewer, created.json()["id"])
    assert_confined(server, found, marker, plant)
    assert any(pid is not None for pid in server.app.state.runtime.models.pool.pids())


@needs_root
def test_a_payload_in_fields_pkl_runs_only_confined_in_a_worker(attack) -> None:
    server, editor, viewer, bundle, manifest, code, marker, plant = attack
    fields = {"evil": Payload(code), "notes": (1, 2)}
    evil = rebuild(bundle, {**manifest, "pickledFields": ["evil"]}, {"fields.pkl": pickle.dumps(fields, protocol=5)})
    created = upload(editor, evil, "/evil-fields")
    assert created.status_code == 201, created.text
    assert created.json()["artifact"]["isolated"] is True

    found = _explain_and_visualize(server, viewer, created.json()["id"])
    assert_confined(server, found, marker, plant)


@needs_root
def test_the_sdk_refuses_the_payload_without_trust_and_runs_nothing(attack) -> None:
    server, editor, _viewer, bundle, manifest, code, marker, _plant = attack
    evil = rebuild(bundle, replace={manifest["modelFile"]: pickle.dumps(Payload(code), protocol=5)})
    created = upload(editor, evil, "/evil")
    assert created.status_code == 201, created.text
    with pytest.raises(UntrustedContent, match=r"trust=True") as caught:
        server.store().load_model(created.json()["id"])
    assert isinstance(caught.value, InvalidInput) and "builtins.exec" in caught.value.names
    assert not reports(marker)  # nothing ran, in this process or elsewhere


# -- workers that misbehave ----------------------------------------------------------------------------------------


class Misbehaving(Ridge):
    """A ridge regression that misbehaves in ``predict`` when the first feature is TRIGGER."""

    how = "sleep"

    def predict(self, X: Any) -> Any:
        if np.asarray(X)[0, 0] == TRIGGER:
            self.misbehave()
        return super().predict(X)

    def misbehave(self) -> None:
        if self.how == "sleep":
            time.sleep(120)
        elif self.how == "exit":
            os._exit(1)
        elif self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.how == "memory":
            np.ones(4 * 1024**3, dtype=np.uint8)
        elif self.how == "linger":  # a process of its own session, outside the worker's process group
            if os.fork() == 0:
                os.setsid()
                time.sleep(300)
                os._exit(0)
        elif self.how == "garbage":
            for fd in range(3, 256):
                try:
                    os.write(fd, b"\xff" * 64 + b'{"ok": {"shapley": [[1e308]]}}')
                except OSError:
                    continue


def misbehaving(how: str) -> Misbehaving:
    model = Misbehaving().fit(DIABETES.data, DIABETES.target)
    model.how = how
    return model


@pytest.mark.parametrize(
    ("how", "settings"),
    [
        ("sleep", {"isolation_timeout_seconds": 8}),  # loading the bundle counts: room for a busy machine
        ("exit", {}),
        ("kill", {}),
        ("memory", {"isolation_memory_bytes": 1536 * 1024 * 1024}),
        ("garbage", {}),
    ],
)
def test_a_worker_that_misbehaves_is_a_clean_error_and_is_replaced(make_server, how: str, settings: dict) -> None:
    server = make_server("sqlite", **settings)
    model = misbehaving(how)
    store = server.store()
    linear = TabularExplainer(algorithm="linear")  # its SHAP values come from the coefficients, not predict
    saved = store.save_model(
        GenomeEstimator(model, explainer=linear, feature_names=DIABETES.feature_names, modality="tabular"),
        {"application": "search", "canonicalName": f"/{how}", "inputModality": "tabular"},
    )
    assert saved["artifact"]["isolated"] is True
    good = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS})
    assert good.status_code == 200, good.text  # the worker starts and serves it
    first = good.json()
    pids = server.app.state.runtime.models.pool.pids()

    started = time.monotonic()
    bad = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": [[TRIGGER, *ROWS[0][1:]]]})
    error = clean_error(bad)
    # ran out of time: 504, like a gateway's; crashed or answered nonsense: 500
    assert bad.status_code == (504 if how == "sleep" else 500) and "isolated worker" in error["message"], error
    assert time.monotonic() - started < 30
    if how != "memory":  # an allocation past the limit is a MemoryError the model may survive
        assert server.app.state.runtime.models.pool.pids() != pids or "restarted" in error["message"]

    again = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS})
    assert again.status_code == 200, again.text
    np.testing.assert_allclose(again.json()["shapley"], first["shapley"])
    np.testing.assert_allclose(again.json()["prediction"], model.predict(np.asarray(ROWS)))


# -- servers that accept no code -----------------------------------------------------------------------------------


def test_a_server_accepting_no_code_refuses_a_lambda_and_still_serves_a_forest(make_server, forest) -> None:
    server = make_server("sqlite", accept_untrusted_bundles=False)
    store = server.store()
    scaled = make_pipeline(FunctionTransformer(lambda x: x * 2.0), Ridge()).fit(DIABETES.data, DIABETES.target)
    meta = {"application": "search", "canonicalName": "/lambda", "inputModality": "tabular"}
    with pytest.raises(InvalidInput, match="accepts no code") as caught:
        store.save_model(GenomeEstimator(scaled, modality="tabular"), meta)
    assert caught.value.field == "artifact" and "cloudpickle" in caught.value.message
    assert store.search_models()["items"] == []

    saved = store.save_model(
        GenomeEstimator(forest, feature_names=DIABETES.feature_names, modality="tabular"),
        {**meta, "canonicalName": "/forest"},
    )
    assert saved["artifact"]["isolated"] is False
    body = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS}).json()
    np.testing.assert_allclose(body["prediction"], forest.predict(np.asarray(ROWS)), atol=1e-9)


# -- every modality still served right through the workers ---------------------------------------------------------


def test_an_untrusted_gradient_boosting_model_is_explained_in_a_worker_with_local_accuracy(make_server) -> None:
    server = make_server("sqlite")
    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0)
    model.fit(DIABETES.data, DIABETES.target)
    saved = server.store().save_model(
        GenomeEstimator(model, feature_names=DIABETES.feature_names, modality="tabular"),
        {"application": "search", "canonicalName": "/gbr", "inputModality": "tabular"},
    )
    assert saved["artifact"]["isolated"] is True
    response = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS})
    assert response.status_code == 200, response.text
    body = response.json()
    prediction = model.predict(np.asarray(ROWS))
    np.testing.assert_allclose(body["expected"][0] + np.asarray(body["shapley"]).sum(axis=1), prediction, atol=1e-6)
    np.testing.assert_allclose(body["prediction"], prediction, atol=1e-6)
    assert any(pid is not None for pid in server.app.state.runtime.models.pool.pids())
    visual = server.http.get(f"{MODELS}/{saved['id']}/visualization")
    assert visual.status_code == 200, visual.text


def test_a_text_pipeline_with_a_lambda_is_explained_in_a_worker(make_server) -> None:
    server = make_server("sqlite")
    texts = ["great product, works well", "terrible, broke at once", "works great", "awful and broken"] * 10
    labels = [1, 0, 1, 0] * 10
    model = make_pipeline(TfidfVectorizer(preprocessor=lambda s: s.lower()), LogisticRegression()).fit(texts, labels)
    saved = server.store().save_model(
        GenomeEstimator(model, target_classes=["bad", "good"], modality="text"),
        {"application": "search", "canonicalName": "/reviews", "inputModality": "text"},
    )
    assert saved["artifact"]["isolated"] is True
    response = server.http.post(EXPLAIN, json={"id": saved["id"], "text": "GREAT, it works", "num_samples": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["id"] == saved["id"]
    assert "great" in json.dumps(body).lower()
    assert any(pid is not None for pid in server.app.state.runtime.models.pool.pids())


def test_the_server_process_loads_no_model_even_a_trusted_forest(make_server, forest) -> None:
    server = make_server("sqlite")
    saved = server.store().save_model(
        GenomeEstimator(forest, feature_names=DIABETES.feature_names, modality="tabular"),
        {"application": "search", "canonicalName": "/forest", "inputModality": "tabular"},
    )
    assert saved["artifact"]["isolated"] is False
    body = server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS}).json()
    shap_sum = body["expected"][0] + np.asarray(body["shapley"]).sum(axis=1)
    np.testing.assert_allclose(shap_sum, forest.predict(np.asarray(ROWS)), atol=1e-6)
    assert server.http.get(f"{MODELS}/{saved['id']}/visualization").status_code == 200
    served = server.app.state.runtime.models.cache.get(saved["id"], lambda: None)
    assert served.loaded is None and served.isolated  # a worker answered; nothing was unpickled here
    assert any(pid is not None for pid in server.app.state.runtime.models.pool.pids())


def test_a_trusted_bundle_and_one_carrying_code_answer_the_same(make_server, forest) -> None:
    # One serving path: the same forest, once in a trusted bundle (read as trusted types only, even in the worker)
    # and once beside a lambda (loaded with trust in the worker), gives the same answers.
    server = make_server("sqlite")
    store = server.store()
    versions = {}
    for name, preprocessor in (("/trusted", None), ("/isolated", lambda rows: rows)):
        estimator = GenomeEstimator(
            forest, feature_names=DIABETES.feature_names, data_preprocessor=preprocessor, modality="tabular"
        )
        estimator.explainer.sampleExplanations(DIABETES.data[:100], DIABETES.target[:100], progress=False)
        versions[name] = store.save_model(estimator, {"application": "search", "canonicalName": name})
    assert [versions[name]["artifact"]["isolated"] for name in ("/trusted", "/isolated")] == [False, True]
    record = dict(zip(DIABETES.feature_names, ROWS[1], strict=True))
    answers = {}
    for name, saved in versions.items():
        view = f"{MODELS}/{saved['id']}/visualization?tree=3&depth=3&record={json.dumps(record)}"
        answers[name] = {
            "explain": server.http.post(EXPLAIN, json={"id": saved["id"], "entries": ROWS}).json(),
            "samples": server.http.post(f"{API_PREFIX}/routing/explanation/samples", json={"id": saved["id"]}).json(),
            "view": server.http.get(view).json(),
            "svg": server.http.get(view.replace("/visualization?", "/visualization.svg?")).text,
        }
        for answer in answers[name].values():
            if isinstance(answer, dict):
                assert answer.pop("model")["id"] == saved["id"], answer
    assert answers["/isolated"] == answers["/trusted"]
    assert answers["/trusted"]["svg"].startswith("<svg")
    assert any(pid is not None for pid in server.app.state.runtime.models.pool.pids())


def test_a_server_start_removes_the_worker_homes_of_servers_that_are_gone(make_server) -> None:
    import subprocess

    from genome.serving.pool import HOMES_PREFIX

    ended = subprocess.Popen(["true"])
    ended.wait()
    stale = Path(tempfile.gettempdir()) / f"{HOMES_PREFIX}{ended.pid}-left"
    alive = Path(tempfile.gettempdir()) / f"{HOMES_PREFIX}{os.getpid()}-mine"
    for folder in (stale, alive):
        (folder / "worker-0").mkdir(parents=True)
    try:
        make_server("sqlite")
        assert not stale.exists()
        assert alive.is_dir()  # its server (this process) still runs
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(alive, ignore_errors=True)


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]) == uid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="workers run as their own user only under a root server")
def test_what_a_bundle_started_does_not_outlive_its_worker(make_server) -> None:
    # One worker: a version of another application replaces it, and everything of its user goes with it.
    server = make_server("sqlite", isolation_workers=1)
    store = server.store()
    linear = TabularExplainer(algorithm="linear")
    versions = [
        store.save_model(
            GenomeEstimator(misbehaving("linger"), explainer=linear, feature_names=DIABETES.feature_names),
            {"application": application, "canonicalName": "/linger", "inputModality": "tabular"},
        )
        for application in ("search", "ads")
    ]
    uid = pwd.getpwnam(server.app.state.runtime.models.pool.claims.users[0]).pw_uid
    lingering = server.http.post(EXPLAIN, json={"id": versions[0]["id"], "entries": [[TRIGGER, *ROWS[0][1:]]]})
    assert lingering.status_code == 200, lingering.text
    assert len(_processes_of(uid)) == 2  # the worker and the process it left behind
    other = server.http.post(EXPLAIN, json={"id": versions[1]["id"], "entries": ROWS})
    assert other.status_code == 200, other.text
    assert _processes_of(uid) == server.app.state.runtime.models.pool.pids()  # only the new worker

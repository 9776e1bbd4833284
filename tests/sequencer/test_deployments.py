"""Deployments on SQLite and PostgreSQL: every change a version (a deletion too), the history paged, a diff by key
path, the parameters current at a time, errors naming their field, access per application, the SDK, concurrent
writers, the version a run started with, and existing deployments migrated into version 1."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect, select

import genome.store
from genome.auth.principal import Principal
from genome.errors import NotFound
from genome.modelstore.compute import Compute
from genome.sequencer import deployments
from genome.server.app import API_PREFIX
from genome.store.db import Database
from genome.store.tables import Deployment, DeploymentVersion

DEPLOYMENTS = f"{API_PREFIX}/compute/deployments"


def put(http: Any, path: str, parameters: Any) -> dict[str, Any]:
    response = http.put(f"{DEPLOYMENTS}/{path}", json={"parameters": parameters})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def get(http: Any, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{DEPLOYMENTS}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


def test_each_change_is_a_version_and_the_same_parameters_make_none(server) -> None:
    http = server.http
    first = put(http, "search/prod", {"region": "eu", "db": {"host": "a", "port": 5432}})
    assert (first["version"], first["updatedBy"]) == (1, "admin")
    again = put(http, "search/prod", {"db": {"port": 5432, "host": "a"}, "region": "eu"})  # keys in another order
    assert again == first
    assert put(http, "search/prod", {"region": "eu", "db": {"host": "b", "port": 5432}, "workers": 4})["version"] == 2
    assert put(http, "search/prod", {"region": 1})["version"] == 3
    assert put(http, "search/prod", {"region": True})["version"] == 4  # true is not 1, as JSON
    current = get(http, "search/prod")
    assert (current["version"], current["parameters"]) == (4, {"region": True})
    assert [(item["name"], item["version"]) for item in get(http, "search")] == [("prod", 4)]

    history = get(http, "search/prod/versions")
    assert [item["version"] for item in history["items"]] == [4, 3, 2, 1] and history["nextCursor"] is None
    assert {item["createdBy"] for item in history["items"]} == {"admin"}
    assert not any(item["deleted"] for item in history["items"])
    page = get(http, "search/prod/versions", limit=3)
    assert [item["version"] for item in page["items"]] == [4, 3, 2]
    rest = get(http, "search/prod/versions", limit=3, cursor=page["nextCursor"])
    assert [item["version"] for item in rest["items"]] == [1] and rest["nextCursor"] is None
    assert get(http, "search/prod/versions/1")["parameters"] == {"region": "eu", "db": {"host": "a", "port": 5432}}

    diff = get(http, "search/prod/diff", **{"from": 1, "to": 2})
    assert (diff["fromVersion"], diff["toVersion"]) == (1, 2)
    assert diff["added"] == [{"path": ["workers"], "value": 4}] and diff["removed"] == []
    assert diff["changed"] == [{"path": ["db", "host"], "old": "a", "new": "b"}]
    back = get(http, "search/prod/diff", **{"from": 2, "to": 1})
    assert back["removed"] == [{"path": ["workers"], "value": 4}]
    assert back["changed"] == [{"path": ["db", "host"], "old": "b", "new": "a"}]
    assert get(http, "search/prod/diff", **{"from": 3, "to": 4})["changed"] == [
        {"path": ["region"], "old": 1, "new": True}
    ]

    # a deletion is a version; the history stays and numbering goes on
    assert http.delete(f"{DEPLOYMENTS}/search/prod").status_code == 204
    assert error_of(http.get(f"{DEPLOYMENTS}/search/prod"), 404)["field"] == "name"
    assert get(http, "search") == []
    deleted = get(http, "search/prod/versions/5")
    assert deleted["deleted"] and deleted["parameters"] == {} and deleted["createdBy"] == "admin"
    assert get(http, "search/prod/diff", **{"from": 4, "to": 5})["removed"] == [{"path": ["region"], "value": True}]
    assert error_of(http.delete(f"{DEPLOYMENTS}/search/prod"), 404)["field"] == "name"
    assert put(http, "search/prod", {"region": True})["version"] == 6  # the same as before the deletion: a version


def test_the_parameters_current_at_a_time(server) -> None:
    http = server.http
    one = put(http, "search/prod", {"n": 1})
    time.sleep(0.02)
    two = put(http, "search/prod", {"n": 2})
    time.sleep(0.02)
    http.delete(f"{DEPLOYMENTS}/search/prod")
    deletion = get(http, "search/prod/versions/3")["created"]
    time.sleep(0.02)
    four = put(http, "search/prod", {"n": 4})
    assert one["updated"] < two["updated"] < deletion < four["updated"]

    assert get(http, "search/prod", at=one["updated"])["version"] == 1
    assert get(http, "search/prod", at=two["updated"] - 1)["parameters"] == {"n": 1}
    at_two = get(http, "search/prod", at=two["updated"])
    assert (at_two["version"], at_two["parameters"], at_two["updated"]) == (2, {"n": 2}, two["updated"])
    assert get(http, "search/prod", at=four["updated"] + 60_000)["version"] == 4
    early = error_of(http.get(f"{DEPLOYMENTS}/search/prod", params={"at": one["updated"] - 1}), 404)
    assert early["field"] == "at" and "did not exist yet" in early["message"]
    gone = error_of(http.get(f"{DEPLOYMENTS}/search/prod", params={"at": deletion}), 404)
    assert gone["field"] == "at" and "deleted" in gone["message"] and "version 3" in gone["message"]
    never = error_of(http.get(f"{DEPLOYMENTS}/search/never", params={"at": four["updated"]}), 404)
    assert never["field"] == "name"


def test_unknown_records_and_bad_input_name_their_field(server) -> None:
    http = server.http
    put(http, "search/prod", {"n": 1})
    for path, params, field in (
        ("search/unknown", {}, "name"),
        ("search/unknown/versions", {}, "name"),
        ("search/unknown/versions/1", {}, "name"),
        ("search/prod/versions/9", {}, "version"),
        ("search/prod/diff", {"from": 9, "to": 1}, "from"),
        ("search/prod/diff", {"from": 1, "to": 9}, "to"),
        ("other/prod", {}, "name"),
    ):
        error = error_of(http.get(f"{DEPLOYMENTS}/{path}", params=params), 404)
        assert (error["type"], error["field"]) == ("NotFound", field), (path, error)
    for path, params, field in (
        ("search/prod/diff", {"from": "one", "to": 1}, "from"),
        ("search/prod/diff", {"from": 1}, "to"),
        ("search/prod/diff", {"from": 0, "to": 1}, "from"),
        ("search/prod/versions/0", {}, "version"),
        ("search/prod/versions", {"limit": 0}, "limit"),
        ("search/prod/versions", {"cursor": "not-a-cursor"}, "cursor"),
        ("search/prod", {"at": -1}, "at"),
    ):
        error = error_of(http.get(f"{DEPLOYMENTS}/{path}", params=params), 400)
        assert (error["type"], error["field"]) == ("InvalidInput", field), (path, error)
    url = f"{DEPLOYMENTS}/search/prod"
    not_json = http.put(url, content=b"{not json", headers={"content-type": "application/json"})
    assert error_of(not_json, 400)["field"] == "body"
    for body, field in (
        ({"parameters": [1, 2]}, "parameters"),
        ({"parameters": "x"}, "parameters"),
        ({}, "parameters"),
        ({"parameters": {}, "extra": 1}, "extra"),
        ({"parameters": {"": 1}}, "parameters."),
    ):
        error = error_of(http.put(url, json=body), 400)
        assert error["type"] == "InvalidInput" and error["field"].startswith(field), (body, error)
    for name in ("%20prod", "prod%20", "x" * 201):
        assert error_of(http.put(f"{DEPLOYMENTS}/search/{name}", json={"parameters": {}}), 400)["field"] == "name"
    assert get(http, "search/prod/versions")["items"][0]["version"] == 1  # nothing was written


def test_viewers_read_editors_write_and_other_applications_see_nothing(server) -> None:
    put(server.http, "alpha/prod", {"n": 1})
    viewer = server.client(server.token_for("vera", {"alpha": "viewer"}))
    editor = server.client(server.token_for("ed", {"alpha": "editor"}))
    outsider = server.client(server.token_for("bob", {"beta": "editor"}))
    for path, params in (
        ("alpha", {}),
        ("alpha/prod", {}),
        ("alpha/prod/versions", {}),
        ("alpha/prod/versions/1", {}),
        ("alpha/prod/diff", {"from": 1, "to": 1}),
    ):
        assert viewer.get(f"{DEPLOYMENTS}/{path}", params=params).status_code == 200, path
        assert "does not exist" in error_of(outsider.get(f"{DEPLOYMENTS}/{path}", params=params), 404)["message"]
    unknown = error_of(outsider.get(f"{DEPLOYMENTS}/alpha/nothing-here"), 404)["message"]
    assert error_of(outsider.get(f"{DEPLOYMENTS}/alpha/prod"), 404)["message"] == unknown.replace(
        "nothing-here", "prod"
    )
    for client in (viewer, outsider):
        assert error_of(client.put(f"{DEPLOYMENTS}/alpha/prod", json={"parameters": {"n": 9}}), 403)["type"] == (
            "PermissionDenied"
        )
        assert error_of(client.delete(f"{DEPLOYMENTS}/alpha/prod"), 403)["type"] == "PermissionDenied"
    changed = put(editor, "alpha/prod", {"n": 2})
    assert (changed["version"], changed["updatedBy"]) == (2, "ed")
    assert [item["createdBy"] for item in get(viewer, "alpha/prod/versions")["items"]] == ["ed", "admin"]


def test_the_sdk_reads_the_history_and_diffs(server) -> None:
    with Compute(server.url, server.token) as compute:
        compute.put_deployment("search", "prod", {"db": {"host": "a"}})
        second = compute.put_deployment("search", "prod", {"db": {"host": "b"}, "workers": 2})
        assert compute.get_deployment("search", "prod")["version"] == 2
        assert compute.get_deployment("search", "prod", at=second["updated"] - 1)["parameters"] == {"db": {"host": "a"}}
        assert [item["version"] for item in compute.list_deployments("search")] == [2]
        page = compute.deployment_history("search", "prod", limit=1)
        assert [item["version"] for item in page["items"]] == [2]
        rest = compute.deployment_history("search", "prod", limit=1, cursor=page["nextCursor"])
        assert [item["version"] for item in rest["items"]] == [1]
        assert compute.get_deployment_version("search", "prod", 1)["parameters"] == {"db": {"host": "a"}}
        diff = compute.diff_deployment("search", "prod", 1, 2)
        assert diff["changed"] == [{"path": ["db", "host"], "old": "a", "new": "b"}]
        assert diff["added"] == [{"path": ["workers"], "value": 2}]
        compute.delete_deployment("search", "prod")
        with pytest.raises(NotFound) as missing:
            compute.get_deployment("search", "prod")
        assert missing.value.field == "name"


def test_concurrent_writers_never_share_a_version_number(db: Database) -> None:
    """Writers racing to create one deployment and change it: every change gets its own number, none is lost."""
    writers, changes = 6, 5
    start = threading.Barrier(writers)
    failures: list[BaseException] = []
    editor = Principal("ed", {"search": "editor"})

    def write(writer: int) -> None:
        try:
            start.wait()
            for change in range(changes):
                deployments.put_deployment(db, editor, "search", "prod", {"writer": writer, "change": change})
        except BaseException as exc:  # reported below, with the thread's own traceback gone
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    history = deployments.list_versions(db, editor, "search", "prod", limit=100, page_size_max=100)
    assert [item.version for item in history.items] == list(range(writers * changes, 0, -1))
    written = {(item.parameters["writer"], item.parameters["change"]) for item in history.items}
    assert written == {(writer, change) for writer in range(writers) for change in range(changes)}
    current = deployments.get_deployment(db, editor, "search", "prod")
    assert (current.version, current.parameters) == (writers * changes, history.items[0].parameters)


def test_a_run_records_the_deployment_version_it_started_with(make_server, backend, step_dir) -> None:
    server = make_server(backend)
    http = server.http
    put(http, "search/prod", {"region": "eu"})
    put(http, "search/prod", {"region": "us"})
    code = "import os; print(os.environ['DEPLOYMENT_PARAMETERS'])"
    body = {
        "application": "search",
        "pipelineName": "pipe-1",
        "deployment": "prod",
        "steps": [{"stepName": "show", "stepType": "model", "command": [sys.executable, "-c", code]}],
    }
    runs = []
    for deployment in ("prod", None):
        created = http.post(f"{API_PREFIX}/compute/sequencer/run", json={**body, "deployment": deployment})
        assert created.status_code == 201, created.text
        assert created.json()["deploymentVersion"] is None  # read when the run starts
        runs.append(created.json()["id"])
    deadline = time.monotonic() + 60
    while True:
        finished = [http.get(f"{API_PREFIX}/compute/runs/{run_id}").json() for run_id in runs]
        if all(run["finished"] for run in finished):
            break
        assert time.monotonic() < deadline, finished
        time.sleep(0.05)
    with_deployment, without = finished
    assert with_deployment["status"] == "succeeded", with_deployment
    assert (with_deployment["deployment"], with_deployment["deploymentVersion"]) == ("prod", 2)
    assert without["deploymentVersion"] is None
    log = http.get(f"{API_PREFIX}/compute/runs/{runs[0]}/steps/show/attempts/1/log").json()["text"]
    assert '"region": "us"' in log


def _migrate_to(database: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(genome.store.__file__).parent / "migrations"))
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def test_existing_deployments_become_their_version_one(backend, fresh_database) -> None:
    database = Database(fresh_database.url(backend))
    try:
        _migrate_to(database, "0007")
        old_columns = ["application", "name", "parameters", "updated", "updated_by"]
        assert [column["name"] for column in inspect(database.engine).get_columns("deployments")] == old_columns
        with database.write() as session:
            session.execute(
                insert(Deployment.__table__).values(
                    application="search", name="prod", parameters={"region": "eu"}, updated=1000, updated_by="ann"
                )
            )
        database.migrate()
        with database.read() as session:
            (version,) = session.scalars(select(DeploymentVersion)).all()
            current = session.get(Deployment, ("search", "prod"))
            assert current is not None and current.version == 1
        assert (version.application, version.name, version.version) == ("search", "prod", 1)
        assert (version.parameters, version.created, version.created_by, version.deleted) == (
            {"region": "eu"},
            1000,
            "ann",
            False,
        )
        editor = Principal("ed", {"search": "editor"})
        assert deployments.put_deployment(database, editor, "search", "prod", {"region": "us"}).version == 2
        diff = deployments.diff_versions(database, editor, "search", "prod", 1, 2)
        assert [(change.path, change.old, change.new) for change in diff.changed] == [(["region"], "eu", "us")]
    finally:
        database.dispose()

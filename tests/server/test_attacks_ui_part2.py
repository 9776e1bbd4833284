"""Attacks on the run, pipeline, deployment and administration pages and the step-log routes, through a live server
and plain HTTP: readers of another application and viewers reaching what they may not; forms posted without their
CSRF token; names, output and queries carrying HTML, and words put in a link to be read as the page's own; a
pipeline run's token on the pages; days past the calendar, JSON nested too deep or too long for a step; the last
global admin locking everyone out; and what one reader's request costs the server: the end of a huge running log,
not all of it, and the boxes of two wide parallel groups, not an arrow for each pair."""

from __future__ import annotations

import json
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from genome.auth import service as auth_service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.auth.schemas import UserCreate
from genome.auth.service import create_user, delete_user, ensure_admin, list_users, mint_run_token, set_role
from genome.config import Settings
from genome.errors import Conflict
from genome.sequencer import logs
from genome.server.app import API_PREFIX
from genome.store.db import Database
from live import ADMIN_PASSWORD, FreshDatabase, LiveServer

PASSWORD = "a-long-enough-password"
RUNS = f"{API_PREFIX}/compute/runs"
DEPLOYMENTS = f"{API_PREFIX}/compute/deployments"
HTML = '"><script>alert(1)</script>'
USERS = {
    "vic": {"search": "viewer"},
    "eddie": {"search": "editor"},
    "oz": {"ads": "editor"},
    "sal": {"search": "admin"},
}


def login(server: LiveServer, username: str, password: str = PASSWORD) -> httpx.Client:
    """A client keeping cookies, logged in through the login form."""
    client = server._keep(httpx.Client(base_url=server.url, timeout=60))
    response = client.post("/login", data={"username": username, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    return client


def csrf(client: httpx.Client) -> str:
    return client.cookies["genome_csrf"]


def step(name: str, code: str, **fields: Any) -> dict[str, Any]:
    return {"stepName": name, "stepType": "model", "command": [sys.executable, "-c", code], **fields}


def wait(server: LiveServer, run_id: str) -> dict[str, Any]:
    """The run once it has finished."""
    deadline = time.monotonic() + 60
    while True:
        run = server.http.get(f"{RUNS}/{run_id}").json()
        if run["finished"]:
            return run  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fresh_database: FreshDatabase) -> Iterator[dict[str, Any]]:
    """One server with four users, a stored pipeline and a finished run of it whose names and output carry HTML,
    and a deployment of ``search`` with two versions; shared by this module's tests, which check it is unchanged
    after each attack."""
    settings = Settings(
        home=tmp_path_factory.mktemp("attacks-home"),
        database_url=fresh_database.url("sqlite"),
        admin_password=ADMIN_PASSWORD,
    )
    with LiveServer(settings) as server:
        accounts = server.accounts()
        for username, roles in USERS.items():
            accounts.create_user(username, PASSWORD, roles)
        spec = {
            "application": "search",
            "pipelineName": f"pipe{HTML}",
            "canonicalName": f"/pipe{HTML}",
            "deployment": "prod",
            "schedule": "1h",
            "steps": [step("talk", f"print({HTML!r}); print('<b>bold</b> and more')", stepType=f"t{HTML}")],
        }
        pipeline = server.http.post(f"{API_PREFIX}/compute/sequencer", json=spec).json()
        run = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json={"pipelineId": pipeline["id"]}).json()
        run = wait(server, run["id"])
        assert run["status"] == "succeeded", run
        for parameters in ({"region": "eu", "html": f"</pre>{HTML}"}, {"region": "us", f"k{HTML}": HTML}):
            put = server.http.put(f"{DEPLOYMENTS}/search/prod", json={"parameters": parameters})
            assert put.status_code == 200, put.text
        yield {"server": server, "pipeline": pipeline, "run": run, **{name: login(server, name) for name in USERS}}


def log_api(run: dict[str, Any]) -> str:
    return f"{RUNS}/{run['id']}/steps/talk/attempts/1/log"


# --- access -----------------------------------------------------------------------------------------------------


def test_a_reader_of_another_application_finds_nothing_and_a_viewer_changes_nothing(site) -> None:
    run, pipeline = site["run"], site["pipeline"]
    log = log_api(run)
    oz, vic = site["oz"], site["vic"]
    for path in (
        f"/runs/{run['id']}",
        f"/runs/{run['id']}?step=talk&q=a",
        f"/runs/new?again={run['id']}",
        f"/pipelines/{pipeline['id']}",
        f"/runs/new?pipeline={pipeline['id']}",
        "/deployments/search/prod",
        "/deployments/search/prod?version=1",
        "/deployments/search/prod?from=1&to=2",
        "/deployments/search/prod?asOf=2030-01-01",
        "/deployments?application=search",
        log,
        f"{log}/search?q=a",
        f"{log}/download",
        f"{DEPLOYMENTS}/search/prod/versions",
        f"{DEPLOYMENTS}/search/prod/diff?from=1&to=2",
    ):
        assert oz.get(path).status_code == 404, path
        assert vic.get(path).status_code == 200, path
    assert "alert" not in oz.get("/pipelines").text and "prod" not in oz.get("/deployments").text

    posts = [
        (f"/runs/{run['id']}/cancel", {}),
        ("/runs/new", {"spec": json.dumps({"pipelineId": pipeline["id"]})}),
        (f"/pipelines/{pipeline['id']}/pause", {}),
        (f"/pipelines/{pipeline['id']}/run", {}),
        (f"/pipelines/{pipeline['id']}/delete", {"confirm": pipeline["pipelineName"]}),
        ("/deployments/search", {"name": "mine", "parameters": "{}"}),
        ("/deployments/search/prod", {"parameters": '{"region": "mine"}'}),
        ("/deployments/search/prod/delete", {}),
    ]
    for client, status in ((vic, 403), (oz, (403, 404))):
        for path, data in posts:
            answer = client.post(path, data={"csrf": csrf(client), **data})
            assert answer.status_code in ((status,) if isinstance(status, int) else status), (path, answer.text)
    assert_unchanged(site)


def assert_unchanged(site: dict[str, Any]) -> None:
    http, pipeline = site["server"].http, site["pipeline"]
    assert http.get(f"{API_PREFIX}/compute/pipelines/{pipeline['id']}").json()["paused"] is False
    assert [item["id"] for item in http.get(RUNS).json()["items"]] == [site["run"]["id"]]
    assert http.get(f"{DEPLOYMENTS}/search/prod").json()["version"] == 2
    assert [item["name"] for item in http.get(f"{DEPLOYMENTS}/search").json()] == ["prod"]


def test_forms_without_their_csrf_token_change_nothing(site) -> None:
    run, pipeline, eddie, sal = site["run"], site["pipeline"], site["eddie"], site["sal"]
    for client, path, data in [
        (eddie, "/runs/new", {"spec": json.dumps({"pipelineId": pipeline["id"]})}),
        (eddie, f"/runs/{run['id']}/cancel", {}),
        (eddie, f"/pipelines/{pipeline['id']}/pause", {}),
        (eddie, f"/pipelines/{pipeline['id']}/run", {}),
        (eddie, f"/pipelines/{pipeline['id']}/delete", {"confirm": pipeline["pipelineName"]}),
        (eddie, "/deployments/search", {"name": "forged", "parameters": "{}"}),
        (eddie, "/deployments/search/prod", {"parameters": '{"region": "forged"}'}),
        (eddie, "/deployments/search/prod/delete", {}),
        (sal, "/admin/roles", {"username": "vic", "application": "search", "role": "admin"}),
        (sal, "/admin/users/vic/roles/remove", {"application": "search"}),
    ]:
        missing = client.post(path, data=data)
        assert missing.status_code in (400, 403), (path, missing.status_code)
        forged = client.post(path, data={**data, "csrf": "guessed"})
        assert forged.status_code == 403 and "another site" in forged.text, path
    assert_unchanged(site)
    roles = {user["username"]: user["roles"] for user in site["server"].accounts().list_users()}
    assert roles["vic"] == {"search": "viewer"}


def test_a_run_token_reaches_no_page_and_no_form(site) -> None:
    server, run = site["server"], site["run"]
    token, _ = mint_run_token(server.app.state.runtime.db, "eddie", "search", run["id"], ttl_seconds=600)
    step_client = server.client(token)
    for path in (
        f"/runs/{run['id']}",
        f"/runs/{run['id']}?step=talk",
        f"/pipelines/{site['pipeline']['id']}",
        "/deployments/search/prod",
        "/admin/users",
        "/account",
    ):
        assert step_client.get(path).status_code == 403, path
    # A form needs the session's cookie and its CSRF token: a bearer token is sent to log in, and nothing runs.
    answer = step_client.post("/runs/new", data={"spec": json.dumps({"pipelineId": site["pipeline"]["id"]})})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert_unchanged(site)


# --- XSS --------------------------------------------------------------------------------------------------------


def test_names_output_and_queries_with_html_stay_text(site) -> None:
    server, run, pipeline = site["server"], site["run"], site["pipeline"]
    # An application's name with HTML in it, in the header and the lists.
    server.accounts().create_user("xena", PASSWORD, {"search": "viewer", f"app{HTML}": "viewer"})
    xena = login(server, "xena")
    for path in (
        "/",
        "/runs",
        f"/runs/{run['id']}",
        f"/runs/{run['id']}?step=talk",
        f"/runs/new?again={run['id']}",
        "/pipelines",
        f"/pipelines?name={HTML}",
        f"/pipelines/{pipeline['id']}",
        "/deployments",
        "/deployments/search/prod",
        "/deployments/search/prod?version=1",
        "/deployments/search/prod?from=1&to=2",
        "/account",
    ):
        page = xena.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xena.get(f"/runs/{run['id']}?step=talk").text
    found = xena.get(f"/runs/{run['id']}", params={"step": "talk", "q": "<b>"})
    assert "<mark>&lt;b&gt;</mark>bold" in found.text and "<b>bold" not in found.text
    found = xena.get(f"/runs/{run['id']}", params={"step": "talk", "q": "<img src=x onerror=alert(1)>"})
    assert found.status_code == 200 and "<img src=x" not in found.text
    # The note after a save is the page's own: words put in a link's ``saved`` are not shown as if it said them.
    spoof = xena.get("/deployments/search/prod", params={"saved": "1. Your session ended: sign in at evil.example"})
    assert spoof.status_code == 200 and "evil.example" not in spoof.text and 'data-testid="saved"' not in spoof.text
    assert 'data-testid="saved"' in xena.get("/deployments/search/prod", params={"saved": "2"}).text
    admin = login(server, "admin", ADMIN_PASSWORD)
    for path in ("/admin/users", "/admin/users/xena"):
        assert "<script>alert" not in admin.get(path).text, path


# --- bad input --------------------------------------------------------------------------------------------------


def test_days_and_times_past_the_calendar_are_a_400_naming_the_field(site) -> None:
    server, vic = site["server"], site["vic"]
    page = vic.get("/deployments/search/prod", params={"asOf": "9999-12-31"})
    assert page.status_code in (200, 400) and 'id="as-of-error"' in page.text, page.status_code
    for at in (2**63 - 1, 2**53):
        answer = server.http.get(f"{DEPLOYMENTS}/search/prod", params={"at": at})
        assert answer.status_code == 400 and answer.json()["error"]["field"] == "at", answer.text


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_json_nested_too_deep_is_a_400_and_nothing_is_written(site) -> None:
    server, eddie = site["server"], site["eddie"]
    very_deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    deep = json.dumps(nested(400))
    for text in (very_deep, deep):
        created = eddie.post("/deployments/search", data={"csrf": csrf(eddie), "name": "deep", "parameters": text})
        assert created.status_code == 400 and 'id="parameters-error"' in created.text, created.status_code
        edited = eddie.post("/deployments/search/prod", data={"csrf": csrf(eddie), "parameters": text})
        assert edited.status_code == 400 and 'data-testid="parameters-error"' in edited.text, edited.status_code
        spec = {"application": "search", "pipelineName": "deep", "steps": [step("a", "pass")]}
        started = eddie.post(
            "/runs/new", data={"csrf": csrf(eddie), "spec": json.dumps(spec)[:-1] + f', "parameters": {text}}}'}
        )
        assert started.status_code == 400 and 'data-testid="spec-error"' in started.text, started.status_code
    answer = server.http.put(f"{DEPLOYMENTS}/search/deep", json={"parameters": nested(400)})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "parameters", answer.text[:300]
    assert_unchanged(site)


def test_deployment_parameters_too_long_for_a_steps_environment_are_refused(site) -> None:
    # Every step gets them as DEPLOYMENT_PARAMETERS: Linux refuses to start a program with a variable over 128 KiB,
    # so such a deployment would fail every run in it, and its diffs would cost each reader as much again.
    server, eddie = site["server"], site["eddie"]
    huge = {"blob": "x" * 200_000}
    answer = server.http.put(f"{DEPLOYMENTS}/search/huge", json={"parameters": huge})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "parameters", answer.text[:300]
    form = eddie.post("/deployments/search/prod", data={"csrf": csrf(eddie), "parameters": json.dumps(huge)})
    assert form.status_code == 400 and 'data-testid="parameters-error"' in form.text
    assert_unchanged(site)


def test_wide_parallel_groups_cost_a_reader_boxes_not_arrows(site) -> None:
    server, vic = site["server"], site["vic"]
    groups = [[step(f"{side}{i}", "pass") for i in range(300)] for side in "ab"]
    body = {"application": "search", "pipelineName": "wide", "steps": groups}
    stored = server.http.post(f"{API_PREFIX}/compute/sequencer", json=body)
    assert stored.status_code == 201, stored.text[:300]
    try:
        page = vic.get(f"/pipelines/{stored.json()['id']}")
        # Every step of one group runs before every step of the next: 300 x 300 arrows, each drawn, were 10 MB.
        assert page.status_code == 200 and page.text.count("<path") < 1000, page.text.count("<path")
        assert len(page.content) < 2_000_000, len(page.content)
    finally:
        server.http.delete(f"{API_PREFIX}/compute/pipelines/{stored.json()['id']}")
    too_many = {**body, "steps": [[step(f"s{i}", "pass") for i in range(1001)]]}
    answer = server.http.post(f"{API_PREFIX}/compute/sequencer", json=too_many)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "steps", answer.text[:300]


# --- administration ---------------------------------------------------------------------------------------------


def test_no_one_removes_or_lowers_the_last_global_admin(server) -> None:
    admin = login(server, "admin", ADMIN_PASSWORD)
    for path, data in (
        ("/admin/roles", {"username": "admin", "application": "*", "role": "editor"}),
        ("/admin/users/admin/roles/remove", {"application": "*"}),
    ):
        answer = admin.post(path, data={"csrf": csrf(admin), **data})
        assert answer.status_code == 409 and "last global admin" in answer.text, (path, answer.status_code)
    assert server.accounts().list_users()[0]["roles"] == {"*": "admin"}
    api = server.http.put(f"{API_PREFIX}/auth/users/admin/roles/*", json={"role": "viewer"})
    assert api.status_code == 409 and api.json()["error"]["field"] == "role", api.text

    # With a second global admin, either may step down, and then the other is the last.
    server.accounts().create_user("root", PASSWORD, {"*": "admin"})
    lowered = admin.post(
        "/admin/roles", data={"csrf": csrf(admin), "username": "admin", "application": "*", "role": "viewer"}
    )
    assert lowered.status_code == 303
    root = login(server, "root")
    answer = root.post("/admin/users/root/roles/remove", data={"csrf": csrf(root), "application": "*"})
    assert answer.status_code == 409
    assert root.get("/admin/users").status_code == 200


def test_two_global_admins_stepping_down_at_once_leave_one(db: Database, monkeypatch) -> None:
    check = auth_service._keep_a_global_admin

    def slow_check(*args: Any) -> None:  # both writers are inside their transactions, past the check, at once
        check(*args)
        time.sleep(0.3)

    monkeypatch.setattr(auth_service, "_keep_a_global_admin", slow_check)
    ensure_admin(db, PASSWORD)
    create_user(
        db, Principal("admin", {"*": "admin"}), UserCreate(username="root", password=PASSWORD, roles={"*": "admin"})
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def step_down(username: str) -> None:
        barrier.wait()
        try:
            set_role(db, Principal(username, {"*": "admin"}), username, "*", "viewer")
            outcomes.append("stepped down")
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=step_down, args=(username,)) for username in ("admin", "root")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "stepped down"]
    admins = [user.username for user in list_users(db, LOCAL_ADMIN) if user.roles.get("*") == "admin"]
    assert len(admins) == 1
    with pytest.raises(Conflict, match="last global admin"):  # the local admin of --no-auth, deleting the last
        delete_user(db, LOCAL_ADMIN, admins[0])


def test_an_application_admin_cannot_reach_past_their_applications(site) -> None:
    server, sal = site["server"], site["sal"]
    for data in (
        {"username": "sal", "application": "*", "role": "admin"},
        {"username": "sal", "application": "ads", "role": "viewer"},
        {"username": "oz", "application": "ads", "role": "admin"},
        {"username": "admin", "application": "*", "role": "viewer"},
    ):
        answer = sal.post("/admin/roles", data={"csrf": csrf(sal), **data})
        assert answer.status_code == 403, data
    assert sal.post("/admin/users/oz/roles/remove", data={"csrf": csrf(sal), "application": "ads"}).status_code == 403
    assert sal.post("/admin/users/admin/roles/remove", data={"csrf": csrf(sal), "application": "*"}).status_code == 403
    assert sal.post("/admin/users/vic/delete", data={"csrf": csrf(sal)}).status_code == 403
    assert "ads" not in sal.get("/admin/users/oz").text.split("<main", 1)[1]
    roles = {user["username"]: user["roles"] for user in server.accounts().list_users()}
    assert roles["sal"] == {"search": "admin"} and roles["oz"] == {"ads": "editor"} and roles["admin"] == {"*": "admin"}


# --- cost -------------------------------------------------------------------------------------------------------


# What a request may read of a log of 37 MB (a page, a block looked back, and the lines since a counted mark).
LITTLE = 12 << 20


class BytesRead:
    """Counts the bytes the log module reads, from files or stored logs, while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.total = 0
        read = logs._Log.read

        def counted(log: Any, start: int, end: int) -> bytes:
            data = read(log, start, end)
            self.total += len(data)
            return data

        monkeypatch.setattr(logs._Log, "read", counted)

    def during(self, request: Any) -> tuple[Any, int]:
        before = self.total
        answer = request()
        return answer, self.total - before


# About 37 MB of numbered lines, every 1000th holding "needle", then the step waits to be cancelled.
BIG = (
    "import sys, time\n"
    "out = sys.stdout\n"
    "for i in range(1, 400_001):\n"
    "    out.write(f'line {i:07d} ' + ('needle ' if i % 1000 == 0 else '') + 'x' * 80 + '\\n')\n"
    "out.flush()\n"
    "time.sleep(120)\n"
)


def test_a_viewer_pays_for_the_end_of_a_huge_running_log_not_all_of_it(make_server, monkeypatch) -> None:
    server = make_server("sqlite", step_log_max_bytes=256 * 1024)
    server.accounts().create_user("vic", PASSWORD, {"search": "viewer"})
    vic = login(server, "vic")
    body = {"application": "search", "pipelineName": "loud", "steps": [step("talk", BIG)]}
    run = server.http.post(f"{API_PREFIX}/compute/sequencer/run", json=body).json()
    log = log_api(run)
    try:
        deadline = time.monotonic() + 60
        while "line 0400000" not in (last := vic.get(log, params={"tail": 200})).text:
            assert time.monotonic() < deadline, last.text[-300:]
            time.sleep(0.2)
        size = last.json()["size"]
        counter = BytesRead(monkeypatch)
        vic.get(log, params={"tail": 1})  # the first reader of a running log counts its lines, once
        chunk, cost = counter.during(lambda: vic.get(log, params={"tail": 100}).json())
        assert chunk["text"].startswith("line 0400000") and chunk["line"] == 400_000, chunk
        assert cost < LITTLE, f"following the end of a {size:,}-byte log read {cost:,} bytes"

        found, cost = counter.during(lambda: vic.get(f"{log}/search", params={"q": "NEEDLE"}).json())
        assert cost < LITTLE, f"a search read {cost:,} bytes of a {size:,}-byte log"
        assert found["searchedFrom"] > size - 300 * 1024 and 0 < found["count"] < 10, found
        assert [match["line"] for match in found["matches"]][-1] == 400_000
        assert all(match["text"].startswith(f"line {match['line']:07d} needle") for match in found["matches"])

        page, cost = counter.during(lambda: vic.get(f"/runs/{run['id']}", params={"step": "talk", "q": "needle"}))
        assert page.status_code == 200 and cost < LITTLE, cost
        assert 'data-testid="log-searched-part"' in page.text

        lines, cost = counter.during(lambda: vic.get(f"{log}/download", params={"q": "needle"}).text.splitlines())
        assert cost < LITTLE and lines[-1].startswith("line 0400000 needle"), (cost, lines[-1:])

        page, cost = counter.during(lambda: vic.get(f"/runs/{run['id']}", params={"step": "talk", "line": 399_990}))
        assert page.status_code == 200 and 'id="L399990"' in page.text and cost < LITTLE, cost
    finally:
        server.http.post(f"{RUNS}/{run['id']}/cancel")
        wait(server, run["id"])


def test_searching_one_enormous_line_holds_a_block_at_a_time() -> None:
    line = b"x" * (24 << 20) + b" needle " + b"y" * (8 << 20)
    log = logs._Log(data=line + b"\nneedle again\n", finished=True)
    tracemalloc.start()
    try:
        found = list(logs._matching_lines(log, b"needle"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(number, offset) for number, offset, _ in found] == [(1, 0), (2, len(line) + 1)]
    assert found[0][2] is None and found[1][2] == b"needle again"  # a line longer than a block is read on demand
    assert b"".join(logs._line(log, 0)) == line + b"\n"
    assert peak < 12 << 20, f"searching a {len(line):,}-byte line held {peak:,} bytes at once"

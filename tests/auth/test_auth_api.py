"""Authentication and authorization through the HTTP API: credentials, roles per application, CSRF, lockout."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
from sqlalchemy import update

from genome.errors import NotFound, PermissionDenied, Unauthenticated
from genome.modelstore.accounts import Accounts
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from genome.store.db import Database
from genome.store.tables import Credential

API = "/v1.0/genome"
X, Y = load_iris(return_X_y=True)
MODEL = GenomeEstimator(DecisionTreeClassifier(random_state=0).fit(X, Y))


def save(store: ModelStore, application: str, name: str = "/iris") -> dict:
    return store.save_model(MODEL, {"application": application, "canonicalName": name})


def test_no_credential_is_401_with_a_challenge(server) -> None:
    anonymous = server.client(None)
    response = anonymous.get(f"{API}/modelstore/models")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["type"] == "Unauthenticated"
    assert anonymous.get(f"{API}/healthz").status_code == 200
    basic = anonymous.get(f"{API}/modelstore/models", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert basic.status_code == 401
    assert "Bearer" in basic.json()["error"]["message"]
    garbage = anonymous.get(f"{API}/modelstore/models", headers={"Authorization": "Bearer nonsense"})
    assert garbage.status_code == 401


ACTIONS = {
    # action: (the least role that may do it, the call)
    "search": ("viewer", lambda store, record: store.search_models()),
    "get": ("viewer", lambda store, record: store.get_model(record["id"])),
    "load": ("viewer", lambda store, record: store.load_model(record["id"])),
    "save": ("editor", lambda store, record: save(store, "search")),
    "alias": ("editor", lambda store, record: store.set_alias(record["id"], "production")),
    "tags": ("editor", lambda store, record: store.set_tags(record["id"], {"a": "b"})),
    "delete": ("editor", lambda store, record: store.delete_model(record["id"])),
}
LEVEL = {"viewer": 1, "editor": 2, "admin": 3}


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_role_by_action_matrix(server, role: str) -> None:
    store = server.store(server.token_for(f"user-{role}", {"search": role}))
    admin = server.store()
    for needed, call in ACTIONS.values():
        record = save(admin, "search")
        if LEVEL[role] >= LEVEL[needed]:
            call(store, record)
        else:
            with pytest.raises(PermissionDenied, match=needed):
                call(store, record)


def test_applications_are_isolated(server) -> None:
    admin = server.store()
    theirs = save(admin, "ads", "/secret")
    ours = save(admin, "search", "/mine")
    token = server.token_for("viewer-a", {"search": "viewer"})
    store = server.store(token)
    assert [item["id"] for item in store.search_models()["items"]] == [ours["id"]]
    assert store.search_models({"field": "application", "value": "ads"})["items"] == []
    for call in (
        lambda: store.get_model(theirs["id"]),
        lambda: store.load_model(theirs["id"]),
        lambda: store.find_model("ads", "/secret"),
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert "does not exist" in caught.value.message  # the same answer as for a model that is not there
    with pytest.raises(PermissionDenied):
        save(store, "ads")
    http = server.client(token)
    assert http.get(f"{API}/modelstore/models/{theirs['id']}/artifact").status_code == 404
    assert http.post(f"{API}/modelstore/search", json={"application": "ads"}).json()["items"] == []
    assert http.get(f"{API}/modelstore/models", params={"application": "ads"}).json()["items"] == []


def test_global_roles_reach_every_application(server) -> None:
    admin = server.store()
    save(admin, "ads")
    save(admin, "search")
    auditor = server.store(server.token_for("auditor", {"*": "viewer"}))
    assert len(auditor.search_models()["items"]) == 2
    with pytest.raises(PermissionDenied):
        save(auditor, "ads")


def test_revoked_token_fails_at_once(server) -> None:
    accounts = server.accounts()
    created = accounts.create_token("short-lived")
    store = server.store(created["token"])
    store.search_models()
    accounts.revoke_token(created["id"])
    with pytest.raises(Unauthenticated, match="revoked"):
        store.search_models()


def test_login_session_cookie_and_csrf(server) -> None:
    browser = server.client(None)
    login = browser.post(f"{API}/auth/login", json={"username": "admin", "password": server.admin_password})
    assert login.status_code == 200
    session_cookie = next(c for c in login.headers.get_list("set-cookie") if c.startswith("genome_session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=strict" in session_cookie
    assert "Secure" not in session_cookie  # plain http on loopback
    csrf = login.json()["csrfToken"]
    assert browser.get(f"{API}/modelstore/models").status_code == 200  # reads need no CSRF token
    grant = f"{API}/auth/users/admin/roles/ads"
    refused = browser.put(grant, json={"role": "viewer"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert browser.put(grant, json={"role": "viewer"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert browser.put(grant, json={"role": "viewer"}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert browser.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert browser.get(f"{API}/modelstore/models").status_code == 401


def test_lockout_after_repeated_failures(make_server) -> None:
    server = make_server("sqlite", login_max_failures=3, login_lockout_seconds=60)
    anonymous = server.client(None)
    for _ in range(3):
        wrong = anonymous.post(f"{API}/auth/login", json={"username": "admin", "password": "wrong-one"})
        assert wrong.status_code == 401
    locked = anonymous.post(f"{API}/auth/login", json={"username": "admin", "password": server.admin_password})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


def test_concurrent_guesses_get_no_more_password_checks_than_the_limit(make_server, backend: str) -> None:
    """Each wrong guess that is checked answers 401, each one turned away before its check 429: however many
    arrive at once, no more than the limit are checked."""
    server = make_server(backend, login_max_failures=5, login_lockout_seconds=60)
    guesses = 14
    barrier = threading.Barrier(guesses)

    def guess(index: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            barrier.wait()
            body = {"username": "admin", "password": f"wrong-guess-{index}"}
            return client.post(f"{API}/auth/login", json=body).status_code

    with ThreadPoolExecutor(guesses) as pool:
        statuses = sorted(pool.map(guess, range(guesses)))
    assert statuses == [401] * 5 + [429] * (guesses - 5)


def test_passwords_never_reach_the_logs(server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.accounts().create_user("carol", "carol-password-123", {"search": "viewer"})
    with Accounts(server.url) as carol:
        carol.login("carol", "carol-password-123")
    with Accounts(server.url) as stranger, pytest.raises(Unauthenticated):
        stranger.login("carol", "not-her-password")
    assert "carol-password-123" not in caplog.text
    assert "not-her-password" not in caplog.text


def test_users_and_tokens_through_the_sdk(server) -> None:
    accounts = server.accounts()
    accounts.create_user("dave", "dave-password-1", {"search": "editor"})
    assert accounts.set_role("dave", "ads", "viewer")["roles"] == {"ads": "viewer", "search": "editor"}
    assert accounts.remove_role("dave", "ads")["roles"] == {"search": "editor"}
    assert "dave" in [user["username"] for user in accounts.list_users()]
    token = accounts.create_token("dave-ci", username="dave", expires_in_days=1)
    assert [t["name"] for t in accounts.list_tokens("dave")] == ["dave-ci"]
    dave = server.store(token["token"])
    assert save(dave, "search")["createdBy"] == "dave"
    accounts.delete_user("dave")
    with pytest.raises(Unauthenticated):
        dave.search_models()
    with Accounts(server.url) as dave_again, pytest.raises(Unauthenticated):
        dave_again.login("dave", "dave-password-1")


def test_first_start_prints_a_generated_admin_password(make_server, capsys: pytest.CaptureFixture[str]) -> None:
    server = make_server("sqlite", admin_password=None)
    printed = capsys.readouterr().out
    password = printed.split("password: ", 1)[1].split()[0]
    with Accounts(server.url) as accounts:
        assert accounts.login("admin", password)["roles"] == {"*": "admin"}


def test_no_auth_mode_serves_everyone_as_a_local_admin(make_server) -> None:
    server = make_server("sqlite", no_auth=True)
    anonymous = server.client(None)
    assert anonymous.get(f"{API}/auth/me").json()["username"] == "local"
    assert anonymous.get(f"{API}/modelstore/models").status_code == 200


def test_expired_token_fails_at_once(server) -> None:
    created = server.accounts().create_token("expiring", expires_in_days=1)
    store = server.store(created["token"])
    store.search_models()
    database = Database(server.settings.resolved_database_url)
    with database.write() as session:
        session.execute(update(Credential).where(Credential.id == created["id"]).values(expires=1))
    database.dispose()
    with pytest.raises(Unauthenticated, match="expired"):
        store.search_models()

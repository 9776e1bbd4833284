"""Users, credentials and logins at the service level, on both backends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import select, text

from genome.auth import service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.auth.schemas import TokenCreate, UserCreate
from genome.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooManyRequests, Unauthenticated
from genome.store.db import Database
from genome.store.tables import Credential, User

POLICY = service.LoginPolicy(max_failures_per_user=3, max_failures_per_client=5, window_seconds=60, lockout_seconds=60)
API = ("api", "run")


@pytest.fixture
def users(db: Database) -> Database:
    service.create_user(
        db, LOCAL_ADMIN, UserCreate(username="ann", password="ann-secret-1", roles={"search": "editor"})
    )
    service.create_user(db, LOCAL_ADMIN, UserCreate(username="bob", password="bob-secret-1", roles={"ads": "viewer"}))
    return db


def test_first_start_creates_admin_once(db: Database) -> None:
    generated = service.ensure_admin(db, None)
    assert generated and len(generated) >= 16
    assert service.ensure_admin(db, "another-password") is None
    session = service.login(db, "admin", generated, client="1.2.3.4", policy=POLICY)
    assert session.principal.roles == {"*": "admin"}


def _start_together(database: Database, together: threading.Barrier) -> str | None:
    together.wait()
    return service.ensure_admin(database, None)


@pytest.mark.postgres
def test_replicas_starting_at_once_create_one_admin(fresh_database) -> None:
    """Replicas on one new PostgreSQL all find no user at once: one creates admin, the others start all the same."""
    url = fresh_database.url("postgresql")
    databases = [Database(url) for _ in range(4)]
    databases[0].migrate()
    for _ in range(5):
        with databases[0].write() as session:
            session.execute(text("delete from users"))
        together = threading.Barrier(len(databases))
        with ThreadPoolExecutor(max_workers=len(databases)) as pool:
            generated = list(pool.map(_start_together, databases, [together] * len(databases)))
        assert len([password for password in generated if password]) == 1
    for database in databases:
        database.dispose()


def test_passwords_are_stored_as_argon2id_only(users: Database) -> None:
    with users.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
        dump = " ".join(str(row) for row in session.execute(text("select * from users")).all())
    assert stored.startswith("$argon2id$")
    assert "ann-secret-1" not in dump


def test_login_wrong_password_and_unknown_user_look_the_same(users: Database) -> None:
    for username, password in (("ann", "wrong-password"), ("nobody", "ann-secret-1")):
        with pytest.raises(Unauthenticated, match="wrong username or password"):
            service.login(users, username, password, client="c1", policy=POLICY)


def test_guessing_from_one_address_locks_that_address_out_of_that_user_only(users: Database) -> None:
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            service.login(users, "ann", "nope-nope", client="c1", policy=POLICY)
    with pytest.raises(TooManyRequests) as caught:
        service.login(users, "ann", "ann-secret-1", client="c1", policy=POLICY)  # right password, still locked
    assert caught.value.retry_after and caught.value.retry_after > 0
    # The attacker's address cannot lock ann out: she logs in from her own.
    assert service.login(users, "ann", "ann-secret-1", client="c2", policy=POLICY).principal.username == "ann"
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            service.login(users, "bob", "nope-nope", client="c1", policy=POLICY)
    with pytest.raises(TooManyRequests):  # c1 has now failed 5 times, for any user
        service.login(users, "bob", "bob-secret-1", client="c1", policy=POLICY)
    assert service.login(users, "bob", "bob-secret-1", client="c3", policy=POLICY).principal.username == "bob"


def test_many_addresses_together_lock_the_user_at_a_far_higher_limit(users: Database) -> None:
    policy = replace(POLICY, max_failures_per_user_total=7)
    for attempt in range(7):
        with pytest.raises(Unauthenticated):
            service.login(users, "ann", "nope-nope", client=f"c{attempt // 3}", policy=policy)
    with pytest.raises(TooManyRequests):
        service.login(users, "ann", "ann-secret-1", client="elsewhere", policy=policy)


def test_a_right_password_clears_the_users_counts_but_not_the_clients(users: Database) -> None:
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            service.login(users, "ann", "nope-nope", client="c1", policy=POLICY)
    service.login(users, "ann", "ann-secret-1", client="c1", policy=POLICY)
    for _ in range(2):  # ann starts over at c1: two more failures do not lock her (the limit is 3)
        with pytest.raises(Unauthenticated):
            service.login(users, "ann", "nope-nope", client="c1", policy=POLICY)
    with pytest.raises(Unauthenticated):  # but c1 has failed 4 times in all (its limit is 5) ...
        service.login(users, "bob", "nope-nope", client="c1", policy=POLICY)
    with pytest.raises(TooManyRequests):  # ... and now 5
        service.login(users, "bob", "bob-secret-1", client="c1", policy=POLICY)


def test_counters_of_past_guesses_are_forgotten_so_the_table_stays_bounded(
    users: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = replace(POLICY, lockout_seconds=600)
    clock = [1_000_000_000_000]
    monkeypatch.setattr(service, "now_ms", lambda: clock[0])
    monkeypatch.setattr(service, "_next_prune", 0)
    for attempt in range(12):  # guesses at ever new usernames, from ever new addresses
        with pytest.raises(Unauthenticated):
            service.login(users, f"user{attempt}", "nope-nope", client=f"c{attempt}", policy=policy)
    for _ in range(3):  # and one address that gets itself locked out of ann
        with pytest.raises(Unauthenticated):
            service.login(users, "ann", "nope-nope", client="attacker", policy=policy)
    with users.read() as session:
        assert session.scalar(text("select count(*) from login_failures")) == 12 * 3 + 3

    clock[0] += (policy.window_seconds + 1) * 1000  # every window has passed, the attacker's lock has not
    with pytest.raises(Unauthenticated):
        service.login(users, "bob", "nope-nope", client="c-new", policy=policy)
    with users.read() as session:
        keys = set(session.scalars(text("select key from login_failures")))
    assert keys == {"pair:attacker|ann", "pair:c-new|bob", "client:c-new", "user:bob"}
    with pytest.raises(TooManyRequests):  # pruning forgot no lock
        service.login(users, "ann", "ann-secret-1", client="attacker", policy=policy)


def test_tokens_work_until_revoked_and_store_only_a_hash(users: Database) -> None:
    ann = Principal("ann", {"search": "editor"})
    created = service.create_token(users, ann, TokenCreate(name="laptop"))
    principal = service.authenticate(users, created.token, kinds=API)
    assert (principal.username, principal.roles) == ("ann", {"search": "editor"})
    with users.read() as session:
        stored = session.get(Credential, created.id)
        assert stored is not None and created.token.split("_")[-1] not in stored.secret_hash
    assert [token.name for token in service.list_tokens(users, ann, "ann")] == ["laptop"]
    service.revoke_token(users, ann, created.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate(users, created.token, kinds=API)


def test_expired_and_forged_tokens_fail(users: Database) -> None:
    ann = Principal("ann", {"search": "editor"})
    created = service.create_token(users, ann, TokenCreate(name="short"))
    with users.write() as session:
        session.get(Credential, created.id).expires = 1  # type: ignore[union-attr]
    with pytest.raises(Unauthenticated, match="expired"):
        service.authenticate(users, created.token, kinds=API)
    forged = created.token[:-4] + "AAAA"
    with pytest.raises(Unauthenticated):
        service.authenticate(users, forged, kinds=API)
    with pytest.raises(Unauthenticated, match="not a Genome token"):
        service.authenticate(users, "Basic abc", kinds=API)


def test_sessions_are_not_api_tokens_and_check_csrf(users: Database) -> None:
    opened = service.login(users, "ann", "ann-secret-1", client="c", policy=POLICY)
    with pytest.raises(Unauthenticated):
        service.authenticate(users, opened.cookie, kinds=API)
    assert service.authenticate(users, opened.cookie, kinds=("session",)).username == "ann"
    assert service.authenticate(users, opened.cookie, kinds=("session",), csrf=opened.csrf_token).username == "ann"
    with pytest.raises(PermissionDenied, match="CSRF"):
        service.authenticate(users, opened.cookie, kinds=("session",), csrf="forged")
    service.logout(users, service.authenticate(users, opened.cookie, kinds=("session",)))
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate(users, opened.cookie, kinds=("session",))


def test_run_tokens_are_scoped_to_one_application_and_capped(users: Database) -> None:
    service.set_role(users, LOCAL_ADMIN, "ann", "*", "admin")
    token, token_id = service.mint_run_token(users, "ann", "search", "run-1", ttl_seconds=60)
    principal = service.authenticate(users, token, kinds=API)
    assert principal.roles == {"search": "editor"}
    assert not principal.can("ads", "viewer")
    service.revoke_credential(users, token_id)
    with pytest.raises(Unauthenticated):
        service.authenticate(users, token, kinds=API)
    bob_token, _ = service.mint_run_token(users, "bob", "ads", "run-2", ttl_seconds=60)
    assert service.authenticate(users, bob_token, kinds=API).roles == {"ads": "viewer"}  # never above its owner


def test_only_admins_manage_users_and_others_tokens(users: Database) -> None:
    ann = Principal("ann", {"search": "editor"})
    with pytest.raises(PermissionDenied):
        service.create_user(users, ann, UserCreate(username="eve", password="eve-secret-1"))
    with pytest.raises(PermissionDenied):
        service.create_token(users, ann, TokenCreate(name="x", username="bob"))
    with pytest.raises(PermissionDenied):
        service.list_tokens(users, ann, "bob")
    with pytest.raises(Conflict):
        service.create_user(users, LOCAL_ADMIN, UserCreate(username="ann", password="whatever-1"))
    search_admin = Principal("sam", {"search": "admin"})
    assert service.set_role(users, search_admin, "bob", "search", "viewer").roles == {
        "ads": "viewer",
        "search": "viewer",
    }
    with pytest.raises(PermissionDenied):
        service.set_role(users, search_admin, "bob", "ads", "admin")
    bob_token = service.create_token(users, LOCAL_ADMIN, TokenCreate(name="for-bob", username="bob"))
    with pytest.raises(NotFound):
        service.revoke_token(users, ann, bob_token.id)


def test_password_change_needs_the_current_one_and_ends_other_sessions(users: Database) -> None:
    first = service.login(users, "ann", "ann-secret-1", client="c", policy=POLICY)
    ann = service.authenticate(users, first.cookie, kinds=("session",))
    with pytest.raises(PermissionDenied):
        service.set_password(users, ann, "ann", "new-secret-2", "wrong")
    other = service.login(users, "ann", "ann-secret-1", client="c", policy=POLICY)
    service.set_password(users, ann, "ann", "new-secret-2", "ann-secret-1")
    with pytest.raises(Unauthenticated):
        service.authenticate(users, other.cookie, kinds=("session",))
    assert service.authenticate(users, first.cookie, kinds=("session",)).username == "ann"
    assert service.login(users, "ann", "new-secret-2", client="c", policy=POLICY)


def test_each_admin_lists_only_the_users_and_roles_they_manage(users: Database) -> None:
    service.set_role(users, LOCAL_ADMIN, "bob", "search", "viewer")
    service.create_user(users, LOCAL_ADMIN, UserCreate(username="cy", password="cy-secret-12", roles={"ads": "admin"}))
    everyone = {user.username: user.roles for user in service.list_managed_users(users, LOCAL_ADMIN)}
    assert everyone == {
        "ann": {"search": "editor"},
        "bob": {"ads": "viewer", "search": "viewer"},
        "cy": {"ads": "admin"},
    }
    search_admin = Principal("sam", {"search": "admin", "ads": "viewer"})
    assert service.managed_applications(search_admin) == ["search"]
    scoped = {user.username: user.roles for user in service.list_managed_users(users, search_admin)}
    assert scoped == {"ann": {"search": "editor"}, "bob": {"search": "viewer"}}  # bob's ads role stays private
    assert service.get_managed_user(users, search_admin, "cy").roles == {}  # may be granted a first role
    with pytest.raises(NotFound):
        service.get_managed_user(users, search_admin, "nobody")
    for outsider in (Principal("ann", {"search": "editor"}), Principal("eve", {"*": "editor"})):
        with pytest.raises(PermissionDenied):
            service.list_managed_users(users, outsider)
        with pytest.raises(PermissionDenied):
            service.get_managed_user(users, outsider, "ann")
    run = Principal("root", {"*": "admin"}, "cred", "run", "run-1")
    assert service.managed_applications(run) == []
    with pytest.raises(PermissionDenied, match="pipeline run"):
        service.list_managed_users(users, run)


def test_a_role_needs_an_application_and_a_wrong_password_names_its_field(users: Database) -> None:
    for application in ("", "  ", "x" * 201):
        with pytest.raises(InvalidInput) as caught:
            service.set_role(users, LOCAL_ADMIN, "ann", application, "viewer")
        assert caught.value.field == "application"
    ann = Principal("ann", {"search": "editor"})
    with pytest.raises(PermissionDenied) as wrong:
        service.set_password(users, ann, "ann", "new-secret-2", "not-it")
    assert wrong.value.field == "currentPassword"

"""Users, roles, credentials and logins. Each function owns its transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from genome.auth.principal import ROLES, Principal, check_role
from genome.auth.schemas import TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead
from genome.auth.secrets import (
    hash_password,
    hash_secret,
    new_credential,
    parse_credential,
    secret_matches,
    verify_password,
)
from genome.clock import now_ms
from genome.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooManyRequests, Unauthenticated
from genome.store.db import Database
from genome.store.tables import Credential, LoginFailures, User, UserRole

__all__ = [
    "LoginPolicy",
    "NewSession",
    "authenticate",
    "create_token",
    "create_user",
    "delete_user",
    "ensure_admin",
    "get_managed_user",
    "get_user",
    "list_managed_users",
    "list_tokens",
    "list_users",
    "login",
    "logout",
    "managed_applications",
    "mint_run_token",
    "missing_role",
    "remove_role",
    "revoke_credential",
    "revoke_token",
    "set_password",
    "set_role",
]

API, SESSION, RUN = "api", "session", "run"
_RUN_TOKEN_NAME = "run "  # + the run's id: how a run token names the run it was minted for
_DAY_MS = 86_400_000
# last_used is a write; refreshing it at most once a minute keeps authenticated reads read-only.
_LAST_USED_EVERY_MS = 60_000


@dataclass(frozen=True)
class LoginPolicy:
    """How hard guessing passwords is made: failures allowed in a window, then a lockout.

    ``max_failures_per_user`` counts one user's failures from one client address: guessing from one address
    locks that address out of that user only. ``max_failures_per_user_total`` counts them from every address, so
    many addresses together cannot guess without bound; it is kept far higher, since reaching it locks the user
    out for everyone.
    """

    max_failures_per_user: int = 5
    max_failures_per_client: int = 20
    max_failures_per_user_total: int = 100
    window_seconds: int = 900
    lockout_seconds: int = 900
    session_hours: float = 12.0


@dataclass(frozen=True)
class NewSession:
    principal: Principal
    cookie: str
    csrf_token: str
    expires: int


def _roles(user: User) -> dict[str, str]:
    return {role.application: role.role for role in user.roles}


def _principal(user: User, credential: Credential | None = None) -> Principal:
    roles = _roles(user)
    if credential is None:
        return Principal(user.username, roles)
    if credential.scope_application:
        # A run token acts in one application, with no more than both its cap and its owner's role there.
        application = credential.scope_application
        cap = ROLES.index(credential.scope_role or "viewer") + 1
        level = min(Principal(user.username, roles).level(application), cap)
        roles = {application: ROLES[level - 1]} if level else {}
    run_id = credential.name.removeprefix(_RUN_TOKEN_NAME) if credential.kind == RUN else None
    return Principal(user.username, roles, credential.id, credential.kind, run_id)


def _refuse_run_token(actor: Principal, doing: str) -> None:
    # The server refuses these routes to run tokens already; this keeps the services safe from other callers.
    if actor.is_run:
        raise PermissionDenied(f"a pipeline run's token cannot {doing}")


def _user_read(user: User) -> UserRead:
    return UserRead(username=user.username, roles=_roles(user), created=user.created)


def _token_read(credential: Credential) -> TokenRead:
    return TokenRead(
        id=credential.id,
        kind=credential.kind,
        name=credential.name,
        username=credential.username,
        scopeApplication=credential.scope_application,
        created=credential.created,
        expires=credential.expires,
        lastUsed=credential.last_used,
        revoked=credential.revoked,
    )


def _issue(
    session: Session, kind: str, username: str, name: str, expires: int | None, **scope: str | None
) -> tuple[Credential, str]:
    """Add a credential for ``username`` and return it with the string its holder presents (never stored)."""
    _get_user(session, username)
    credential_id, secret, presented = new_credential()
    credential = Credential(
        id=credential_id,
        kind=kind,
        username=username,
        name=name,
        secret_hash=hash_secret(secret),
        created=now_ms(),
        expires=expires,
        **scope,
    )
    session.add(credential)
    session.flush()
    return credential, presented


def _get_user(session: Session, username: str) -> User:
    user = session.get(User, username)
    if user is None:
        raise NotFound(f"user {username!r} does not exist", field="username")
    return user


def _require_user_admin(actor: Principal, application: str = "*") -> None:
    _refuse_run_token(actor, "manage users or roles")
    if not actor.can(application, "admin"):
        where = "every application" if application == "*" else f"application {application!r}"
        raise PermissionDenied(f"{actor.username} needs the admin role in {where}")


def _keep_a_global_admin(session: Session, username: str, application: str, role: str | None, field: str) -> None:
    """Refuse to take ``username``'s admin role in ``*`` (``role`` None: remove it) from the last user holding it:
    no one could manage users or roles again, and ``ensure_admin`` only creates a first user in an empty
    database. The holders' rows are locked, so two admins stepping down at once cannot both pass."""
    if application != "*" or role == "admin":
        return
    holders = select(UserRole.username).where(UserRole.application == "*", UserRole.role == "admin")
    if set(session.scalars(holders.with_for_update())) == {username}:
        raise Conflict(
            f"{username} is the last global admin (admin of *): make another user admin of * first", field=field
        )


def ensure_admin(db: Database, password: str | None) -> str | None:
    """Create the first user, ``admin``, when there are none; returns its password if one was generated.

    Replicas starting at once on one new database may all find no user: one creates admin, the others find it.
    """
    try:
        with db.write() as session:
            if session.scalar(select(User.username).limit(1)) is not None:
                return None
            generated = None if password else secrets.token_urlsafe(15)
            user = User(username="admin", password_hash=hash_password(password or generated or ""), created=now_ms())
            user.roles = [UserRole(application="*", role="admin")]
            session.add(user)
            return generated
    except IntegrityError:  # another replica created admin between our look and our insert
        return None


def authenticate(db: Database, presented: str, *, kinds: tuple[str, ...], csrf: str | None = None) -> Principal:
    """The principal behind a presented credential of one of ``kinds``; 401 for anything else.

    ``csrf`` is checked when given (sessions on state-changing requests).
    """
    parsed = parse_credential(presented)
    if parsed is None:
        raise Unauthenticated("the credential is not a Genome token")
    credential_id, secret = parsed
    now = now_ms()
    with db.read() as session:
        credential = session.get(Credential, credential_id)
        if credential is None or credential.kind not in kinds or not secret_matches(secret, credential.secret_hash):
            raise Unauthenticated("the credential is not valid")
        if credential.revoked is not None:
            raise Unauthenticated(f"the {credential.kind} token {credential.name!r} has been revoked")
        if credential.expires is not None and credential.expires <= now:
            raise Unauthenticated(f"the {credential.kind} token {credential.name!r} has expired")
        if csrf is not None and (credential.csrf_hash is None or not secret_matches(csrf, credential.csrf_hash)):
            raise PermissionDenied("missing or wrong X-CSRF-Token header for this session")
        principal = _principal(_get_user(session, credential.username), credential)
        stale = credential.last_used is None or now - credential.last_used > _LAST_USED_EVERY_MS
    if stale:
        with db.write() as session:
            row = session.get(Credential, credential_id)
            if row is not None:
                row.last_used = now
    return principal


def _failure_limits(username: str, client: str, policy: LoginPolicy) -> dict[str, int]:
    # Bounded so the keys fit their column whatever a direct caller passes (the API caps usernames at 100).
    username, client = username[:100], client[:100]
    return {
        f"pair:{client}|{username}": policy.max_failures_per_user,
        f"client:{client}": policy.max_failures_per_client,
        f"user:{username}": policy.max_failures_per_user_total,
    }


def _lock_failures(session: Session, keys: list[str], now: int) -> list[LoginFailures]:
    """The counters of ``keys``, created when missing, locked until the transaction ends (in key order, so two
    logins never wait on each other in a cycle)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"key": key, "failures": 0, "first_failure": now} for key in sorted(keys)]
    session.execute(insert(LoginFailures).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    query = select(LoginFailures).where(LoginFailures.key.in_(keys)).order_by(LoginFailures.key).with_for_update()
    return list(session.scalars(query))


_PRUNE_EVERY_MS = 60_000
_next_prune = 0  # in this process; two processes pruning at once is harmless


def _prune_failures(session: Session, policy: LoginPolicy, now: int) -> None:
    """Forget counters whose window has passed and that lock nothing (they would start over anyway), at most
    once a minute: guesses at ever new usernames must not grow the table without end."""
    global _next_prune
    if now < _next_prune:
        return
    _next_prune = now + _PRUNE_EVERY_MS
    expired = LoginFailures.first_failure < now - policy.window_seconds * 1000
    unlocked = or_(LoginFailures.locked_until.is_(None), LoginFailures.locked_until <= now)
    session.execute(delete(LoginFailures).where(expired, unlocked))


def _reserve_attempt(db: Database, limits: dict[str, int], policy: LoginPolicy, now: int) -> None:
    """Count a login attempt as a failure before its password is checked, in one transaction with the lock check:
    concurrent guesses queue here, so no more than a limit's worth of them reach the (slow) check. Raises 429,
    counting nothing, while any of the counters is locked."""
    with db.write() as session:
        _prune_failures(session, policy, now)
        rows = _lock_failures(session, list(limits), now)
        locked = max((row.locked_until or 0) for row in rows)
        if locked > now:
            seconds = max(1, (locked - now + 999) // 1000)
            raise TooManyRequests(f"too many failed logins; try again in {seconds} s", retry_after=seconds)
        for row in rows:
            if now - row.first_failure > policy.window_seconds * 1000:
                row.failures, row.first_failure = 0, now
            row.failures += 1
            row.locked_until = now + policy.lockout_seconds * 1000 if row.failures >= limits[row.key] else None


def _release_attempt(session: Session, limits: dict[str, int], now: int) -> None:
    """After a right password: this client may try this user again from scratch, and the user's count starts
    over; the client's own count only gives back the attempt reserved (it may have guessed other users)."""
    for row in _lock_failures(session, list(limits), now):
        if row.key.startswith("client:"):
            row.failures = max(0, row.failures - 1)
            if row.failures < limits[row.key]:
                row.locked_until = None
        else:
            session.delete(row)


def login(db: Database, username: str, password: str, *, client: str, policy: LoginPolicy) -> NewSession:
    """Check a password and open a browser session.

    Failures are counted per user and client address (the lock one client can bring on a user, for itself
    only), per client address, and per user from every address (a far higher limit); an attempt is counted
    before its password is checked, so concurrent guesses cannot slip past a limit.
    """
    now = now_ms()
    limits = _failure_limits(username, client, policy)
    _reserve_attempt(db, limits, policy, now)
    with db.read() as session:
        user = session.get(User, username)
        valid = verify_password(user.password_hash if user else None, password)
    if not valid or user is None:
        raise Unauthenticated("wrong username or password")
    csrf_token = secrets.token_urlsafe(32)
    expires = now + int(policy.session_hours * 3_600_000)
    with db.write() as session:
        _release_attempt(session, limits, now)
        credential, presented = _issue(
            session, SESSION, username, f"session from {client}", expires, csrf_hash=hash_secret(csrf_token)
        )
        principal = _principal(_get_user(session, username), credential)
    return NewSession(principal, presented, csrf_token, expires)


def logout(db: Database, principal: Principal) -> None:
    if principal.credential_id:
        revoke_credential(db, principal.credential_id)


def revoke_credential(db: Database, credential_id: str) -> None:
    """Revoke any credential at once (a run's token when the run ends, a session at logout)."""
    with db.write() as session:
        credential = session.get(Credential, credential_id)
        if credential is not None and credential.revoked is None:
            credential.revoked = now_ms()


def create_user(db: Database, actor: Principal, user: UserCreate) -> UserRead:
    _require_user_admin(actor)
    with db.write() as session:
        if session.get(User, user.username) is not None:
            raise Conflict(f"user {user.username!r} already exists", field="username")
        row = User(username=user.username, password_hash=hash_password(user.password), created=now_ms())
        row.roles = [UserRole(application=app, role=role) for app, role in sorted(user.roles.items())]
        session.add(row)
        session.flush()
        return _user_read(row)


def list_users(db: Database, actor: Principal) -> list[UserRead]:
    _require_user_admin(actor)
    with db.read() as session:
        return [_user_read(user) for user in session.scalars(select(User).order_by(User.username))]


def managed_applications(actor: Principal) -> list[str] | None:
    """The applications whose roles ``actor`` may grant and remove; ``None`` means all of them (a global admin).

    Example:
        >>> managed_applications(Principal("sam", {"search": "admin", "ads": "viewer"}))
        ['search']
        >>> managed_applications(Principal("root", {"*": "admin"})) is None
        True
    """
    if actor.is_run:
        return []
    if actor.is_global_admin:
        return None
    return sorted(application for application, role in actor.roles.items() if role == "admin" and application != "*")


def _managed_read(user: User, managed: list[str] | None) -> UserRead:
    read = _user_read(user)
    if managed is not None:
        read.roles = {application: role for application, role in read.roles.items() if application in managed}
    return read


def _require_some_admin(actor: Principal) -> list[str] | None:
    _refuse_run_token(actor, "manage users or roles")
    managed = managed_applications(actor)
    if managed == []:
        raise PermissionDenied(f"{actor.username} needs the admin role in an application to manage users")
    return managed


def list_managed_users(db: Database, actor: Principal) -> list[UserRead]:
    """The users whose roles ``actor`` may manage, each with only the roles they may manage: every user and role
    for a global admin; for an application's admin, the users holding a role in one of their applications, with
    their roles there (the rest of their roles stay private). 403 for anyone who administers nothing.

    Example:
        >>> db = Database("sqlite://"); db.migrate(); _ = ensure_admin(db, "a-password")
        >>> _ = set_role(db, Principal("root", {"*": "admin"}), "admin", "search", "viewer")
        >>> [user.roles for user in list_managed_users(db, Principal("sam", {"search": "admin"}))]
        [{'search': 'viewer'}]
    """
    managed = _require_some_admin(actor)
    query = select(User).order_by(User.username)
    if managed is not None:
        query = query.where(User.roles.any(UserRole.application.in_(managed)))
    with db.read() as session:
        return [_managed_read(user, managed) for user in session.scalars(query)]


def get_managed_user(db: Database, actor: Principal, username: str) -> UserRead:
    """One user as ``actor`` may manage them: all their roles for a global admin, only those in the applications
    an application's admin administers (none yet, for a user they may grant a first role to)."""
    managed = _require_some_admin(actor)
    with db.read() as session:
        return _managed_read(_get_user(session, username), managed)


def get_user(db: Database, actor: Principal, username: str) -> UserRead:
    if actor.username != username:
        _require_user_admin(actor)
    with db.read() as session:
        return _user_read(_get_user(session, username))


def set_role(db: Database, actor: Principal, username: str, application: str, role: str) -> UserRead:
    """Grant ``role`` in ``application``; an application's admins may grant roles in it, global admins anywhere."""
    check_role(role)
    if not application.strip() or len(application) > 200:
        raise InvalidInput("application must be a name of 1 to 200 characters, or * for all", field="application")
    _require_user_admin(actor, application)
    with db.write() as session:
        user = _get_user(session, username)
        _keep_a_global_admin(session, username, application, role, "role")
        current = next((grant for grant in user.roles if grant.application == application), None)
        if current is None:
            user.roles.append(UserRole(application=application, role=role))
        else:
            current.role = role
        session.flush()
        return _user_read(user)


def remove_role(db: Database, actor: Principal, username: str, application: str) -> UserRead:
    _require_user_admin(actor, application)
    with db.write() as session:
        user = _get_user(session, username)
        current = next((grant for grant in user.roles if grant.application == application), None)
        if current is None:
            raise NotFound(f"user {username!r} has no role in application {application!r}", field="application")
        _keep_a_global_admin(session, username, application, None, "application")
        user.roles.remove(current)
        session.flush()
        return _user_read(user)


def delete_user(db: Database, actor: Principal, username: str) -> None:
    _require_user_admin(actor)
    if username == actor.username:
        raise InvalidInput("you cannot delete yourself; ask another admin", field="username")
    with db.write() as session:
        user = _get_user(session, username)
        _keep_a_global_admin(session, username, "*", None, "username")
        session.delete(user)


def set_password(db: Database, actor: Principal, username: str, password: str, current_password: str | None) -> None:
    """Change a password: your own with the current one, anyone's as a global admin. Other sessions end."""
    _refuse_run_token(actor, "change passwords")
    own = actor.username == username
    if not own:
        _require_user_admin(actor)
    new_hash = hash_password(password)
    with db.write() as session:
        user = _get_user(session, username)
        if own and not verify_password(user.password_hash, current_password or ""):
            raise PermissionDenied("the current password is wrong", field="currentPassword")
        user.password_hash = new_hash
        now = now_ms()
        for credential in session.scalars(
            select(Credential).where(
                Credential.username == username, Credential.kind == SESSION, Credential.revoked.is_(None)
            )
        ):
            if credential.id != actor.credential_id:
                credential.revoked = now


def create_token(db: Database, actor: Principal, request: TokenCreate) -> TokenCreated:
    """An API token for yourself (admins: for anyone); the secret is in the answer and nowhere else."""
    _refuse_run_token(actor, "create API tokens")
    owner = request.username or actor.username
    if owner != actor.username:
        _require_user_admin(actor)
    expires = now_ms() + request.expiresInDays * _DAY_MS if request.expiresInDays else None
    with db.write() as session:
        credential, presented = _issue(session, API, owner, request.name, expires)
        return TokenCreated(**_token_read(credential).model_dump(), token=presented)


def list_tokens(db: Database, actor: Principal, username: str | None = None) -> list[TokenRead]:
    """Your API tokens; a global admin may list anyone's (or everyone's, with no username)."""
    _refuse_run_token(actor, "list tokens")
    query = select(Credential).where(Credential.kind.in_((API, RUN))).order_by(Credential.created.desc())
    if username != actor.username:
        _require_user_admin(actor)
    if username is not None:
        query = query.where(Credential.username == username)
    with db.read() as session:
        return [_token_read(credential) for credential in session.scalars(query)]


def revoke_token(db: Database, actor: Principal, token_id: str) -> TokenRead:
    _refuse_run_token(actor, "revoke tokens")
    with db.write() as session:
        credential = session.get(Credential, token_id)
        if credential is None or (credential.username != actor.username and not actor.is_global_admin):
            raise NotFound(f"token {token_id!r} does not exist", field="id")
        if credential.revoked is None:
            credential.revoked = now_ms()
        return _token_read(credential)


def mint_run_token(
    db: Database, username: str, application: str, run_id: str, *, ttl_seconds: int, role: str = "editor"
) -> tuple[str, str]:
    """A short-lived token for a pipeline run acting for ``username`` in ``application`` only.

    Returns the token to hand to the run and its id, for ``revoke_credential`` when the run ends.
    """
    check_role(role)
    expires = now_ms() + ttl_seconds * 1000
    with db.write() as session:
        credential, presented = _issue(
            session, RUN, username, _RUN_TOKEN_NAME + run_id, expires, scope_application=application, scope_role=role
        )
        return presented, credential.id


def missing_role(
    session: Session, username: str, application: str, role: str = "editor", *, since: int | None = None
) -> str | None:
    """Why ``username`` cannot act with ``role`` in ``application`` now, or None when they can. With ``since``
    (when the username was given the work, in ms): also when the account was created after that, so an account
    deleted and created again under the same name does not inherit what the old one left (its schedules).

    Takes the caller's session: the Sequencer asks inside the transaction that fires a schedule or starts a run,
    so the answer holds for what that transaction does.

    Example:
        >>> db = Database("sqlite://"); db.migrate(); _ = ensure_admin(db, "a-password")
        >>> with db.read() as session:
        ...     missing_role(session, "admin", "search"), missing_role(session, "alice", "search")
        (None, 'alice no longer exists')
    """
    user = session.get(User, username)
    if user is None:
        return f"{username} no longer exists"
    if since is not None and user.created > since:
        return f"the account {username} was created after this was stored, by an earlier account of that name"
    if not Principal(username, _roles(user)).can(application, role):
        return f"{username} no longer holds the {role} role in application {application}"
    return None

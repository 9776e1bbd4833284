"""Deployments: named sets of parameters per application, which every step of a run in that deployment gets as
DEPLOYMENT_PARAMETERS, and every change of them kept as a version, so "which parameters did production run with on
that day" has an answer.

``deployments`` holds each deployment's current version; ``deployment_versions`` holds every version, a deletion
included. A write adds the next version in the same transaction as it changes the current one. Writers of one
deployment queue on its row's lock; two writers creating it at once collide on the versions' primary key, and the
one that lost starts again (``_write``), so version numbers are never doubled nor skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from genome.auth.principal import Principal
from genome.clock import now_ms
from genome.errors import Conflict, InvalidInput, NotFound
from genome.sequencer.schemas import (
    DeploymentDiff,
    DeploymentRead,
    DeploymentVersionPage,
    DeploymentVersionRead,
    ParameterChange,
    ParameterEntry,
)
from genome.store.db import Database
from genome.store.pagination import fetch_page
from genome.store.tables import Deployment, DeploymentVersion

__all__ = [
    "applications",
    "check_name",
    "delete_deployment",
    "deleted_deployments",
    "diff_parameters",
    "diff_versions",
    "get_deployment",
    "get_version",
    "list_deployments",
    "list_versions",
    "put_deployment",
    "run_parameters",
]

T = TypeVar("T")
_MAX_NAME = 200
# Each lost race means another writer won, so n writers creating one deployment at once need at most n tries.
_ATTEMPTS = 32


def check_name(value: str, field: str = "name") -> str:
    """A deployment's name as pipelines refer to it: 1 to 200 characters, no spaces around it (a pipeline's
    ``deployment`` is stripped) and no ``/`` (the name is a segment of the API's paths).

    Example:
        >>> check_name("deploy-1")
        'deploy-1'
    """
    if not value or not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > _MAX_NAME:
        raise InvalidInput(f"{field} is {len(value)} characters long; the most is {_MAX_NAME}", field=field)
    if value != value.strip() or "/" in value:
        raise InvalidInput(f"{field} {value!r} must not contain '/' nor start or end with spaces", field=field)
    return value


def _what(application: str, name: str) -> str:
    return f"deployment {name!r} of application {application!r}"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical(value: Any) -> str:
    # Compared as JSON text, so 1, 1.0 and true differ (Python's == holds them equal) and key order does not count.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _read(row: Deployment) -> DeploymentRead:
    return DeploymentRead(
        application=row.application,
        name=row.name,
        version=row.version,
        parameters=row.parameters,
        updated=row.updated,
        updatedBy=row.updated_by,
    )


def _version_read(row: DeploymentVersion) -> DeploymentVersionRead:
    return DeploymentVersionRead(
        application=row.application,
        name=row.name,
        version=row.version,
        parameters=row.parameters,
        deleted=row.deleted,
        created=row.created,
        createdBy=row.created_by,
    )


def _write(db: Database, change: Callable[[Session], T]) -> T:
    """``change`` in a write transaction, started again when it lost a race for a version number."""
    for attempt in range(_ATTEMPTS):
        try:
            with db.write() as session:
                return change(session)
        except IntegrityError:
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # spread the retries of a crowd of writers
    raise Conflict("the deployment is changing too often right now to add a version; try again", field="name")


def _add_version(
    session: Session, application: str, name: str, parameters: dict[str, Any], username: str, *, deleted: bool
) -> DeploymentVersion:
    last = session.scalar(
        select(func.max(DeploymentVersion.version)).where(
            DeploymentVersion.application == application, DeploymentVersion.name == name
        )
    )
    row = DeploymentVersion(
        application=application,
        name=name,
        version=(last or 0) + 1,
        parameters=parameters,
        deleted=deleted,
        created=now_ms(),
        created_by=username,
    )
    session.add(row)
    session.flush()  # a number another writer took fails here, inside the transaction _write retries
    return row


def put_deployment(
    db: Database, principal: Principal, application: str, name: str, parameters: dict[str, Any]
) -> DeploymentRead:
    """Set a deployment's parameters (editors of the application) as its next version: 1 for a new deployment,
    and numbering goes on after a deletion.

    Parameters identical to the current version's (the same JSON, keys in any order) make no new version: the
    current one is returned as it is, so saving a form twice or re-applying a configuration leaves no noise in
    the history.

    Example:
        >>> db = Database("sqlite://"); db.migrate()
        >>> editor = Principal("ann", {"search": "editor"})
        >>> put_deployment(db, editor, "search", "prod", {"region": "eu"}).version
        1
        >>> put_deployment(db, editor, "search", "prod", {"region": "us"}).version
        2
        >>> put_deployment(db, editor, "search", "prod", {"region": "us"}).version
        2
    """
    principal.require(application, "editor")
    check_name(name)

    def change(session: Session) -> DeploymentRead:
        row = session.get(Deployment, (application, name), with_for_update=True)
        if row is not None and _canonical(row.parameters) == _canonical(parameters):
            return _read(row)
        version = _add_version(session, application, name, parameters, principal.username, deleted=False)
        if row is None:
            row = Deployment(application=application, name=name)
            session.add(row)
        row.parameters, row.version = parameters, version.version
        row.updated, row.updated_by = version.created, version.created_by
        session.flush()
        return _read(row)

    return _write(db, change)


def delete_deployment(db: Database, principal: Principal, application: str, name: str) -> None:
    """Delete a deployment (editors): runs started from now on get ``{}``. The deletion is its next version, so
    the history keeps when it happened and who did it."""
    principal.require(application, "editor")

    def change(session: Session) -> None:
        row = session.get(Deployment, (application, name), with_for_update=True)
        if row is None:
            raise NotFound(f"{_what(application, name)} does not exist", field="name")
        _add_version(session, application, name, {}, principal.username, deleted=True)
        session.delete(row)

    _write(db, change)


def list_deployments(db: Database, principal: Principal, application: str) -> list[DeploymentRead]:
    """The application's deployments (not deleted ones) by name, each at its current version."""
    principal.require_visible(application, f"application {application!r}", field="application")
    with db.read() as session:
        rows = session.scalars(
            select(Deployment).where(Deployment.application == application).order_by(Deployment.name)
        )
        return [_read(row) for row in rows]


def deleted_deployments(db: Database, principal: Principal, application: str) -> list[DeploymentVersionRead]:
    """The application's deleted deployments by name, each as the version that deleted it: their history stays."""
    principal.require_visible(application, f"application {application!r}", field="application")
    latest = (
        select(DeploymentVersion.name, func.max(DeploymentVersion.version).label("version"))
        .where(DeploymentVersion.application == application)
        .group_by(DeploymentVersion.name)
        .subquery()
    )
    query = (
        select(DeploymentVersion)
        .join(latest, and_(DeploymentVersion.name == latest.c.name, DeploymentVersion.version == latest.c.version))
        .where(DeploymentVersion.application == application, DeploymentVersion.deleted.is_(True))
        .order_by(DeploymentVersion.name)
    )
    with db.read() as session:
        return [_version_read(row) for row in session.scalars(query)]


def applications(db: Database, principal: Principal) -> list[str]:
    """The applications the principal may read that have (or had) deployments."""
    query = select(DeploymentVersion.application).distinct().order_by(DeploymentVersion.application)
    with db.read() as session:
        return list(session.scalars(principal.only_readable(query, DeploymentVersion.application)))


def _unknown(session: Session, application: str, name: str, field: str, message: str) -> NotFound:
    """``message`` about ``field``, unless the deployment never existed: then that is what the 404 says."""
    known = session.scalar(
        select(DeploymentVersion.version)
        .where(DeploymentVersion.application == application, DeploymentVersion.name == name)
        .limit(1)
    )
    if known is None:
        return NotFound(f"{_what(application, name)} does not exist", field="name")
    return NotFound(message, field=field)


def get_deployment(
    db: Database, principal: Principal, application: str, name: str, *, at: int | None = None
) -> DeploymentRead:
    """A deployment's current version or, with ``at`` (ms since epoch), the version that was current then: the
    parameters a run starting at that moment got. Answers 404 (field ``at``) if it did not exist yet or had been
    deleted by then."""
    what = _what(application, name)
    principal.require_visible(application, what, field="name")
    with db.read() as session:
        if at is None:
            row = session.get(Deployment, (application, name))
            if row is None:
                raise NotFound(f"{what} does not exist", field="name")
            return _read(row)
        version = session.scalars(
            select(DeploymentVersion)
            .where(
                DeploymentVersion.application == application,
                DeploymentVersion.name == name,
                DeploymentVersion.created <= at,
            )
            .order_by(DeploymentVersion.version.desc())
            .limit(1)
        ).first()
        if version is None:
            raise _unknown(session, application, name, "at", f"{what} did not exist yet at {_iso(at)}")
        if version.deleted:
            raise NotFound(
                f"{what} had been deleted at {_iso(at)} (version {version.version}, by {version.created_by})",
                field="at",
            )
        return DeploymentRead(
            application=application,
            name=name,
            version=version.version,
            parameters=version.parameters,
            updated=version.created,
            updatedBy=version.created_by,
        )


def list_versions(
    db: Database,
    principal: Principal,
    application: str,
    name: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
    page_size_max: int,
) -> DeploymentVersionPage:
    """A deployment's versions, newest first, a page at a time (a deletion is a version too)."""
    if limit > page_size_max:
        raise InvalidInput(f"limit {limit} is above the maximum page size {page_size_max}", field="limit")
    what = _what(application, name)
    principal.require_visible(application, what, field="name")
    query = select(DeploymentVersion).where(
        DeploymentVersion.application == application, DeploymentVersion.name == name
    )
    with db.read() as session:
        # The name is the same on every row: the version orders them alone, and the name fills the cursor's id.
        page, next_cursor = fetch_page(
            session,
            query,
            DeploymentVersion.version,
            DeploymentVersion.name,
            sort="-version",
            cursor=cursor,
            limit=limit,
        )
        if not page and cursor is None:
            raise NotFound(f"{what} does not exist", field="name")
        return DeploymentVersionPage(items=[_version_read(row) for row in page], nextCursor=next_cursor)


def _get_version(session: Session, application: str, name: str, version: int, field: str) -> DeploymentVersion:
    row = session.get(DeploymentVersion, (application, name, version))
    if row is None:
        raise _unknown(session, application, name, field, f"{_what(application, name)} has no version {version}")
    return row


def get_version(db: Database, principal: Principal, application: str, name: str, version: int) -> DeploymentVersionRead:
    """One version of a deployment: its parameters, who made it and when."""
    principal.require_visible(application, _what(application, name), field="name")
    with db.read() as session:
        return _version_read(_get_version(session, application, name, version, "version"))


def diff_versions(
    db: Database, principal: Principal, application: str, name: str, from_version: int, to_version: int
) -> DeploymentDiff:
    """What changed in a deployment's parameters from version ``from_version`` to ``to_version`` (either order):
    keys added, removed, and changed with their old and new values, by key path (see ``diff_parameters``). A
    deleted version compares as ``{}``."""
    principal.require_visible(application, _what(application, name), field="name")
    with db.read() as session:
        old = _get_version(session, application, name, from_version, "from").parameters
        new = _get_version(session, application, name, to_version, "to").parameters
    added, removed, changed = diff_parameters(old, new)
    return DeploymentDiff(
        application=application,
        name=name,
        fromVersion=from_version,
        toVersion=to_version,
        added=added,
        removed=removed,
        changed=changed,
    )


def diff_parameters(
    old: dict[str, Any], new: dict[str, Any], path: tuple[str, ...] = ()
) -> tuple[list[ParameterEntry], list[ParameterEntry], list[ParameterChange]]:
    """Keys added, removed and changed from ``old`` to ``new``, by key path, in key order. Objects on both sides
    are compared key by key; any other value (a list included) is compared whole, as JSON (``1`` is not ``true``).

    Example:
        >>> added, removed, changed = diff_parameters(
        ...     {"db": {"host": "a", "port": 1}, "debug": True}, {"db": {"host": "b", "port": 1}, "workers": 4}
        ... )
        >>> [(e.path, e.value) for e in added], [(e.path, e.value) for e in removed]
        ([(['workers'], 4)], [(['debug'], True)])
        >>> [(c.path, c.old, c.new) for c in changed]
        [(['db', 'host'], 'a', 'b')]
    """
    added: list[ParameterEntry] = []
    removed: list[ParameterEntry] = []
    changed: list[ParameterChange] = []
    for key in sorted(set(old) | set(new)):
        where = [*path, key]
        if key not in new:
            removed.append(ParameterEntry(path=where, value=old[key]))
        elif key not in old:
            added.append(ParameterEntry(path=where, value=new[key]))
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            inner = diff_parameters(old[key], new[key], (*path, key))
            added += inner[0]
            removed += inner[1]
            changed += inner[2]
        elif _canonical(old[key]) != _canonical(new[key]):
            changed.append(ParameterChange(path=where, old=old[key], new=new[key]))
    return added, removed, changed


def run_parameters(
    session: Session, application: str, deployment: str | None, version: int | None
) -> tuple[dict[str, Any], int | None]:
    """The parameters a run's steps get and their version: the version the run recorded when it started (a run
    resumed by another server keeps its parameters), else the deployment's current one; ``({}, None)`` without a
    deployment."""
    if deployment is None:
        return {}, None
    if version is not None:
        recorded = session.get(DeploymentVersion, (application, deployment, version))
        if recorded is not None:
            return recorded.parameters, version
    current = session.get(Deployment, (application, deployment))
    return (current.parameters, current.version) if current is not None else ({}, None)

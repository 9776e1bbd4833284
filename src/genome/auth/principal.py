"""The caller of an API route and what it may do: roles per application, ``*`` for all of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.orm import Session

from genome.errors import InvalidInput, NotFound, PermissionDenied

__all__ = ["LOCAL_ADMIN", "ROLES", "Principal", "check_role"]


class _OfAnApplication(Protocol):
    application: Any


T = TypeVar("T", bound=_OfAnApplication)
ROLES = ("viewer", "editor", "admin")
_LEVEL = {role: level for level, role in enumerate(ROLES, start=1)}


def check_role(role: object, field: str = "role") -> str:
    if role not in _LEVEL:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}; got {role!r}", field=field)
    return str(role)


@dataclass(frozen=True)
class Principal:
    """A user, or a pipeline run acting for one; ``roles`` maps application (or ``*``) to role.

    Example:
        >>> viewer = Principal("ann", {"search": "viewer"})
        >>> viewer.can("search", "viewer"), viewer.can("search", "editor"), viewer.can("ads", "viewer")
        (True, False, False)
    """

    username: str
    roles: Mapping[str, str] = field(default_factory=dict)
    credential_id: str | None = None
    # "api", "session" or "run" (a pipeline run's token, which the server lets reach only a few routes); None for
    # principals not behind a credential (the local admin of --no-auth, service-level callers).
    credential_kind: str | None = None
    run_id: str | None = None  # the pipeline run a run token was minted for

    @property
    def is_run(self) -> bool:
        """Whether this is a pipeline run acting for its owner (through the run's token)."""
        return self.credential_kind == "run"

    def level(self, application: str) -> int:
        return max(_LEVEL.get(self.roles.get(application, ""), 0), _LEVEL.get(self.roles.get("*", ""), 0))

    def can(self, application: str, role: str) -> bool:
        return self.level(application) >= _LEVEL[role]

    @property
    def is_global_admin(self) -> bool:
        return self.roles.get("*") == "admin"

    def readable(self) -> list[str] | None:
        """The applications this principal may read; ``None`` means all of them."""
        if "*" in self.roles:
            return None
        return sorted(app for app, role in self.roles.items() if role in _LEVEL)

    def only_readable(self, query: Select[Any], application: ColumnElement[str]) -> Select[Any]:
        """``query`` narrowed to the rows whose ``application`` column this principal may read."""
        readable = self.readable()
        return query if readable is None else query.where(application.in_(readable))

    def require(self, application: str, role: str) -> None:
        """Raise 403 unless the principal holds ``role`` (or more) in ``application``."""
        if not self.can(application, role):
            raise PermissionDenied(f"{self.username} needs the {role} role in application {application!r}")

    def require_access(self, application: str | None, what: str, *, field: str, role: str = "viewer") -> None:
        """For a record of ``application`` (None: there is no such record): 404 when it is missing or when this
        principal may not see it (the same answer, so existence does not leak), 403 without ``role`` in it."""
        if application is None:
            raise NotFound(f"{what} does not exist", field=field)
        self.require_visible(application, what, field=field)
        self.require(application, role)

    def fetch(
        self,
        session: Session,
        model: type[T],
        key: str,
        what: str,
        *,
        field: str = "id",
        role: str = "viewer",
        **get: Any,
    ) -> T:
        """The ``model`` row ``key`` (a record with an ``application``) when this principal may see it and holds
        ``role`` in its application: the one way a service reads a record by id. ``get`` goes to ``Session.get``
        (``options``, ``with_for_update``)."""
        row = session.get(model, key, **get)
        self.require_access(None if row is None else row.application, what, field=field, role=role)
        assert row is not None
        return row

    def require_visible(self, application: str, what: str, *, field: str | None = None) -> None:
        """Raise the same 404 an unknown record gets (``{what} does not exist``) when the principal may not even
        see it exists."""
        if not self.can(application, "viewer"):
            raise NotFound(f"{what} does not exist", field=field)


LOCAL_ADMIN = Principal(username="local", roles={"*": "admin"})

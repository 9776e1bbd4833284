"""The caller of an API route, as the authentication dependency resolves it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LOCAL_ADMIN", "Principal"]


@dataclass(frozen=True)
class Principal:
    """A user (or a pipeline run's token) with a role per application; ``"*"`` covers every application."""

    username: str
    roles: dict[str, str] = field(default_factory=dict)


LOCAL_ADMIN = Principal(username="local", roles={"*": "admin"})

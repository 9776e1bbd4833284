"""What handlers receive, declared once as typed ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.config import Settings
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database

__all__ = ["Artifacts", "CurrentPrincipal", "Db", "Runtime", "SettingsDep", "authenticate"]


@dataclass
class Runtime:
    """The long-lived objects of one server process."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _db(request: Request) -> Database:
    return _runtime(request).db


def _artifacts(request: Request) -> ArtifactStore:
    return _runtime(request).artifacts


def _settings(request: Request) -> Settings:
    return _runtime(request).settings


def authenticate(request: Request) -> Principal:
    """The seam where credentials are checked; every protected router depends on it."""
    return LOCAL_ADMIN


Db = Annotated[Database, Depends(_db)]
Artifacts = Annotated[ArtifactStore, Depends(_artifacts)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

"""What handlers receive, declared once as typed ``Annotated`` aliases, and how a caller is authenticated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from genome.auth import service as auth_service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.config import Settings
from genome.errors import Unauthenticated
from genome.explain.service import ExplainerCaches
from genome.sequencer.engine import Sequencer
from genome.sequencer.executors.base import Executor
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.visualize.service import VisualizerCache

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Artifacts",
    "CurrentPrincipal",
    "Db",
    "Explainers",
    "LoginPolicyDep",
    "Runtime",
    "SettingsDep",
    "Visualizers",
    "authenticate",
    "client_address",
]

SESSION_COOKIE = "genome_session"
CSRF_COOKIE = "genome_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class Runtime:
    """The long-lived objects of one server process."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    login_policy: auth_service.LoginPolicy
    explainers: ExplainerCaches
    visualizers: VisualizerCache
    executor: Executor
    sequencer: Sequencer | None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _db(request: Request) -> Database:
    return _runtime(request).db


def _artifacts(request: Request) -> ArtifactStore:
    return _runtime(request).artifacts


def _explainers(request: Request) -> ExplainerCaches:
    return _runtime(request).explainers


def _visualizers(request: Request) -> VisualizerCache:
    return _runtime(request).visualizers


def _settings(request: Request) -> Settings:
    return _runtime(request).settings


def _login_policy(request: Request) -> auth_service.LoginPolicy:
    return _runtime(request).login_policy


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(request: Request) -> Principal:
    """The caller behind a request: a Bearer token, else a session cookie (with its CSRF header on writes)."""
    runtime = _runtime(request)
    if runtime.settings.no_auth:
        return LOCAL_ADMIN
    header = request.headers.get("authorization")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return auth_service.authenticate(runtime.db, credential.strip(), kinds=(auth_service.API, auth_service.RUN))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        csrf = None if request.method in _SAFE_METHODS else request.headers.get(CSRF_HEADER, "")
        return auth_service.authenticate(runtime.db, cookie, kinds=(auth_service.SESSION,), csrf=csrf)
    raise Unauthenticated(
        "this route needs a credential: an API token (Authorization: Bearer ...) or a session from /auth/login"
    )


Db = Annotated[Database, Depends(_db)]
Artifacts = Annotated[ArtifactStore, Depends(_artifacts)]
Explainers = Annotated[ExplainerCaches, Depends(_explainers)]
Visualizers = Annotated[VisualizerCache, Depends(_visualizers)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LoginPolicyDep = Annotated[auth_service.LoginPolicy, Depends(_login_policy)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

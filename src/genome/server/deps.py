"""What handlers receive, declared once as typed ``Annotated`` aliases, and how a caller is authenticated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from genome.auth import service as auth_service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.config import Settings
from genome.errors import NotFound, PermissionDenied, Unauthenticated
from genome.explain.service import ExplanationCache
from genome.sequencer.engine import Sequencer
from genome.sequencer.executors.base import Executor
from genome.serving.service import ModelServer
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "RUN_TOKENS_ALLOWED",
    "RUN_TOKEN_OWN_RUN",
    "SESSION_COOKIE",
    "Artifacts",
    "CurrentPrincipal",
    "Db",
    "Explanations",
    "LoginPolicyDep",
    "Models",
    "Runtime",
    "SettingsDep",
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
    models: ModelServer
    explanations: ExplanationCache | None
    executor: Executor
    sequencer: Sequencer | None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _db(request: Request) -> Database:
    return _runtime(request).db


def _artifacts(request: Request) -> ArtifactStore:
    return _runtime(request).artifacts


def _models(request: Request) -> ModelServer:
    return _runtime(request).models


def _explanations(request: Request) -> ExplanationCache | None:
    return _runtime(request).explanations


def _settings(request: Request) -> Settings:
    return _runtime(request).settings


def _login_policy(request: Request) -> auth_service.LoginPolicy:
    return _runtime(request).login_policy


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _check_run_token_route(request: Request) -> None:
    route = request.scope.get("route")
    dependencies = getattr(route, "dependencies", ())
    if any(dependency.dependency in _RUN_TOKEN_MARKERS for dependency in dependencies):
        return
    path = getattr(route, "path", request.url.path)
    raise PermissionDenied(
        f"a pipeline run's token cannot call {request.method} {path}: steps may use the Model Store, the Evaluation "
        "Store, explanations and visualizations of their application, read their own run, and /auth/me"
    )


def authenticate(request: Request) -> Principal:
    """The caller behind a request: a Bearer token, else a session cookie (with its CSRF header on writes).

    A pipeline run's token is refused (403) on every route not marked with ``RUN_TOKENS_ALLOWED`` or
    ``RUN_TOKEN_OWN_RUN``.
    """
    runtime = _runtime(request)
    if runtime.settings.no_auth:
        return LOCAL_ADMIN
    header = request.headers.get("authorization")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        principal = auth_service.authenticate(
            runtime.db, credential.strip(), kinds=(auth_service.API, auth_service.RUN)
        )
        if principal.is_run:
            _check_run_token_route(request)
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        csrf = None if request.method in _SAFE_METHODS else request.headers.get(CSRF_HEADER, "")
        return auth_service.authenticate(runtime.db, cookie, kinds=(auth_service.SESSION,), csrf=csrf)
    raise Unauthenticated(
        "this route needs a credential: an API token (Authorization: Bearer ...) or a session from /auth/login"
    )


def _run_tokens_allowed() -> None:
    """Marks a route a pipeline run's token may call: see ``RUN_TOKENS_ALLOWED``."""


def _run_token_own_run(principal: Annotated[Principal, Depends(authenticate)], run_id: str) -> None:
    """Marks a route of one pipeline run that a run's token may call for its own run only."""
    if principal.is_run and principal.run_id != run_id:
        # As for a run the caller cannot see: whether it exists is none of this step's business.
        raise NotFound(f"pipeline run {run_id!r} does not exist", field="id")


RUN_TOKENS_ALLOWED = Depends(_run_tokens_allowed)
"""Put in a route's ``dependencies`` to let pipeline runs' tokens call it (in their own application, with their
capped role). Every other protected route refuses them, so a new route is closed to pipeline steps until it is
opened on purpose."""
RUN_TOKEN_OWN_RUN = Depends(_run_token_own_run)
"""Like ``RUN_TOKENS_ALLOWED``, for routes with a ``run_id``: a run's token may read only its own run."""
_RUN_TOKEN_MARKERS = (_run_tokens_allowed, _run_token_own_run)

Db = Annotated[Database, Depends(_db)]
Artifacts = Annotated[ArtifactStore, Depends(_artifacts)]
Models = Annotated[ModelServer, Depends(_models)]
Explanations = Annotated[ExplanationCache | None, Depends(_explanations)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LoginPolicyDep = Annotated[auth_service.LoginPolicy, Depends(_login_policy)]
RuntimeDep = Annotated[Runtime, Depends(_runtime)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

"""The application factory: one FastAPI app serving every component under ``/v1.0/genome``."""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.engine import make_url

import genome
from genome.auth import service as auth_service
from genome.config import Settings
from genome.explain.service import ExplanationCache
from genome.formats.bundle import remove_stale_extractions
from genome.sandbox import Confinement, ensure_user
from genome.sequencer.engine import EngineSettings, Sequencer
from genome.sequencer.executors.base import Executor
from genome.sequencer.executors.dask import DaskExecutor
from genome.sequencer.executors.local import LocalExecutor
from genome.server.deps import Runtime, authenticate
from genome.server.errors import install_error_handlers
from genome.server.limits import BodySizeLimit
from genome.server.routers import (
    auth,
    cards,
    deployments,
    docs,
    evaluations,
    explain,
    health,
    models,
    sequencer,
    visualize,
)
from genome.serving.pool import UserClaims, WorkerPool, make_homes, remove_stale_homes
from genome.serving.service import ModelServer
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.ui import install_ui

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/v1.0/genome"
log = logging.getLogger("genome.server")


def _private_folder(path: Path) -> Path:
    """``path``, created 0700 (and made 0700 when this server owns it), so only the server's user reads it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
    return path


# Beside the server's own files, what an isolated worker never sees: where services keep their sockets, state,
# secrets and users' files. A worker needs the Python installation (bound back where covered) and nothing else.
_WORKER_HIDDEN = tuple(Path(path) for path in ("/run", "/var", "/home", "/srv", "/mnt", "/media"))


def _server_paths(settings: Settings, artifacts: ArtifactStore, log_root: Path) -> tuple[Path, ...]:
    """What pipeline steps must not see: the server's home (``HOME`` and its account's), GENOME_HOME, the SQLite
    database's folder, the local artifact folder, the logs and GENOME_HIDDEN_PATHS."""
    paths = [Path.home(), Path(pwd.getpwuid(os.geteuid()).pw_dir), settings.home, log_root, *settings.hidden_paths]
    database = make_url(settings.resolved_database_url)
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        paths.append(Path(database.database).expanduser().resolve().parent)
    if "file" in _protocols(artifacts.fs.protocol):
        paths.append(Path(artifacts.root))
    return tuple(path for path in paths if path != Path("/"))


def _protocols(protocol: str | tuple[str, ...]) -> tuple[str, ...]:
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _isolation_pool(settings: Settings, hidden: tuple[Path, ...]) -> WorkerPool:
    """The workers that load bundles carrying code: each as its own user when this server is root, without
    network, the server's files hidden, a /tmp of its own, limited in memory, CPU time, file size and processes."""
    claims = None
    users: list[str | None] = [None] * settings.isolation_workers
    if os.geteuid() == 0:  # accounts of this server's own: another server on the machine claims others
        claims = UserClaims(settings.isolation_user, settings.isolation_workers)
        users = list(claims.users)
        for user in claims.users:
            ensure_user(user)
    remove_stale_homes()
    homes = make_homes()
    cwd = Path.cwd()
    hide = hidden + _WORKER_HIDDEN + ((cwd,) if cwd != Path("/") else ())

    def confine(index: int) -> Confinement:
        return Confinement(
            user=users[index],
            hide=hide,
            network=False,
            memory_bytes=settings.isolation_memory_bytes,
            cpu_seconds=24 * 3600,
            file_bytes=settings.bundle_max_bytes,
            processes=512,
            workdir=homes / f"worker-{index}",
            private_tmp=True,  # nothing passes between applications, nor from steps, through /tmp or /dev/shm
            partial=settings.isolation_allow_partial,
        )

    return WorkerPool(
        settings.isolation_workers,
        confine,
        timeout=settings.isolation_timeout_seconds,
        cache_size=settings.isolation_cache_size,
        homes=homes,
        claims=claims,
    )


def create_runtime(settings: Settings) -> Runtime:
    _private_folder(settings.home)
    db = Database(settings.resolved_database_url)
    db.migrate()
    artifacts = ArtifactStore(settings.resolved_artifact_root, settings.artifact_options)
    artifacts.remove_stale_temporaries()  # left by a server that died while writing
    remove_stale_extractions()  # left by a server that died while loading a bundle
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = auth_service.ensure_admin(db, given)
    if generated:
        # Printed, never logged: this is the one time anyone sees it.
        print(f"Genome created the first user, admin, with password: {generated}  (shown once; change it soon)")
    policy = auth_service.LoginPolicy(
        max_failures_per_user=settings.login_max_failures,
        max_failures_per_client=settings.login_client_max_failures,
        max_failures_per_user_total=settings.login_user_max_failures,
        window_seconds=settings.login_lockout_seconds,
        lockout_seconds=settings.login_lockout_seconds,
        session_hours=settings.session_hours,
    )
    log_root = _private_folder(settings.home / "logs")
    hidden_paths = _server_paths(settings, artifacts, log_root)
    executor: Executor
    if settings.executor == "dask":
        assert settings.dask_scheduler is not None  # checked by Settings
        executor = DaskExecutor(settings.dask_scheduler, passthrough=settings.step_env_passthrough)
    else:
        executor = LocalExecutor(settings.step_user, hide=hidden_paths, passthrough=settings.step_env_passthrough)
    sequencer = None
    if settings.sequencer:
        engine_settings = EngineSettings(
            public_url=settings.resolved_public_url,
            log_root=log_root,
            max_runs=settings.sequencer_max_runs,
            max_steps=settings.executor_concurrency,
            lease_seconds=settings.sequencer_lease_seconds,
            retry_backoff_seconds=settings.sequencer_retry_backoff_seconds,
            log_max_bytes=settings.step_log_max_bytes,
        )
        sequencer = Sequencer(db, artifacts, executor, engine_settings)
    return Runtime(
        settings=settings,
        db=db,
        artifacts=artifacts,
        login_policy=policy,
        models=ModelServer(
            db, artifacts, cache_size=settings.model_cache_size, pool=_isolation_pool(settings, hidden_paths)
        ),
        explanations=ExplanationCache(settings.explain_result_cache_size)
        if settings.explain_result_cache_size
        else None,
        executor=executor,
        sequencer=sequencer,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database is migrated and the artifact store opened when it starts.

    Example:
        >>> app = create_app(Settings(database_url="sqlite://", artifact_root="memory://doctest-app"))
        >>> app.title
        'Genome'
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = create_runtime(settings)
        app.state.runtime = runtime
        log.info("Genome ready: database %s, artifacts %s", runtime.db.dialect, settings.resolved_artifact_root)
        if settings.no_auth:
            log.warning("AUTHENTICATION IS OFF (--no-auth): every caller acts as an admin. Local development only.")
        if runtime.sequencer is not None:
            runtime.sequencer.start()
        try:
            yield
        finally:
            if runtime.sequencer is not None:
                runtime.sequencer.stop()
            runtime.models.close()
            runtime.db.dispose()

    app = FastAPI(
        title="Genome",
        version=genome.__version__,
        description="Model Store, Evaluation Store, realtime explanations and visualizations, pipelines.",
        # Served by the docs router instead, behind a credential like every other route.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    public = APIRouter(prefix=API_PREFIX)
    public.include_router(health.router)
    public.include_router(auth.public)
    # Everything on this router requires a credential, so a new route is protected by default.
    protected = APIRouter(prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    protected.include_router(auth.router)
    protected.include_router(docs.router)
    protected.include_router(models.router)
    protected.include_router(cards.router)
    protected.include_router(evaluations.router)
    protected.include_router(sequencer.router)
    protected.include_router(deployments.router)
    protected.include_router(explain.router)
    protected.include_router(visualize.router)
    app.include_router(public)
    app.include_router(protected)
    install_ui(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app

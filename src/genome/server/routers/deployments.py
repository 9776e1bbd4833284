"""Deployment routes (under ``/compute``): named parameter sets per application, each change kept as a version;
thin wrappers over ``genome.sequencer.deployments``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from genome.sequencer import deployments as service
from genome.sequencer.schemas import (
    DeploymentDiff,
    DeploymentRead,
    DeploymentVersionPage,
    DeploymentVersionRead,
    DeploymentWrite,
)
from genome.server.deps import CurrentPrincipal, Db, SettingsDep

router = APIRouter(prefix="/compute/deployments", tags=["deployments"])

_MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in the database
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later times have no date to say them with


@router.get("/{application}")
def list_deployments(db: Db, principal: CurrentPrincipal, application: str) -> list[DeploymentRead]:
    """The application's deployments, each at its current version."""
    return service.list_deployments(db, principal, application)


@router.get("/{application}/{name}")
def get_deployment(
    db: Db,
    principal: CurrentPrincipal,
    application: str,
    name: str,
    at: Annotated[
        int | None,
        Query(ge=0, le=_LAST_MS, description="A time (ms since epoch): the version that was current then."),
    ] = None,
) -> DeploymentRead:
    """A deployment's current parameters and version, or with ``at`` the ones a run starting then got."""
    return service.get_deployment(db, principal, application, name, at=at)


@router.put("/{application}/{name}")
def put_deployment(
    db: Db, principal: CurrentPrincipal, application: str, name: str, deployment: DeploymentWrite
) -> DeploymentRead:
    """Create or replace a deployment: parameters every step of its runs gets as DEPLOYMENT_PARAMETERS. Each change
    is a new version; the same parameters as the current version's make none."""
    return service.put_deployment(db, principal, application, name, deployment.parameters)


@router.delete("/{application}/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_deployment(db: Db, principal: CurrentPrincipal, application: str, name: str) -> Response:
    """Delete a deployment; its history stays, ending with the version that deleted it."""
    service.delete_deployment(db, principal, application, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{application}/{name}/versions")
def list_versions(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: str,
    name: str,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> DeploymentVersionPage:
    """A deployment's history, newest first: each version's parameters, who made it and when."""
    return service.list_versions(
        db, principal, application, name, limit=limit, cursor=cursor, page_size_max=settings.page_size_max
    )


@router.get("/{application}/{name}/versions/{version}")
def get_version(
    db: Db,
    principal: CurrentPrincipal,
    application: str,
    name: str,
    version: Annotated[int, Path(ge=1, le=_MAX_VERSION)],
) -> DeploymentVersionRead:
    return service.get_version(db, principal, application, name, version)


@router.get("/{application}/{name}/diff")
def diff_versions(
    db: Db,
    principal: CurrentPrincipal,
    application: str,
    name: str,
    from_: Annotated[int, Query(alias="from", ge=1, le=_MAX_VERSION, description="The older version.")],
    to: Annotated[int, Query(ge=1, le=_MAX_VERSION, description="The newer version.")],
) -> DeploymentDiff:
    """Keys added, removed and changed (old and new values) between two versions, by key path."""
    return service.diff_versions(db, principal, application, name, from_, to)

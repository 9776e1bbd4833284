"""Model Store routes: thin wrappers over ``genome.models.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile, status

from genome.evaluations import service as evaluations
from genome.formats.bundle import BundleLimits
from genome.models import service
from genome.models.schemas import (
    AliasHistoryRead,
    LegacySearch,
    ModelVersionCreate,
    ModelVersionPage,
    ModelVersionRead,
    ModelVersionSearch,
    TagKey,
    TagValue,
)
from genome.models.search import from_legacy, from_params
from genome.server.deps import RUN_TOKENS_ALLOWED, Artifacts, CurrentPrincipal, Db, SettingsDep
from genome.server.errors import parse_json_field

router = APIRouter(prefix="/modelstore", tags=["modelstore"])

VersionId = Annotated[str, Query(min_length=1, max_length=32)]


@router.post("/models", status_code=status.HTTP_201_CREATED, dependencies=[RUN_TOKENS_ALLOWED])
def create_model_version(
    db: Db,
    artifacts: Artifacts,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    meta: Annotated[str, Form(description="JSON object: the model's metadata (ModelVersionCreate).")],
    artifact: Annotated[UploadFile, File(description="The model bundle the SDK writes (a zip with genome.json).")],
) -> ModelVersionRead:
    """Store a new version of a model: its bundle and its metadata, numbered after the name's latest."""
    parsed = parse_json_field(ModelVersionCreate, meta, "meta")
    return service.create_version(
        db,
        artifacts,
        parsed,
        artifact.file,
        principal=principal,
        max_bytes=settings.max_request_bytes,
        limits=BundleLimits(max_bytes=settings.bundle_max_bytes),
        accept_untrusted=settings.accept_untrusted_bundles,
    )


@router.get("/models", dependencies=[RUN_TOKENS_ALLOWED])
def list_model_versions(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    application: str | None = None,
    canonicalName: str | None = None,
    versionName: str | None = None,
    framework: str | None = None,
    inputModality: str | None = None,
    predictionType: str | None = None,
    pipelineName: str | None = None,
    pipelineRunId: str | None = None,
    pipelineStage: str | None = None,
    alias: str | None = None,
    createdAfter: Annotated[int | None, Query(description="ms since epoch, inclusive")] = None,
    createdBefore: Annotated[int | None, Query(description="ms since epoch, exclusive")] = None,
    tag: Annotated[list[str], Query(description="key:value, repeatable; all must match")] = [],  # noqa: B006
    q: Annotated[str | None, Query(description="keywords that must all appear in the names")] = None,
    sort: str = "-created",
    limit: int = 50,
    cursor: str | None = None,
) -> ModelVersionPage:
    """List versions matching every given field, newest first, a page at a time."""
    params = {
        "application": application,
        "canonicalName": canonicalName,
        "versionName": versionName,
        "framework": framework,
        "inputModality": inputModality,
        "predictionType": predictionType,
        "pipelineName": pipelineName,
        "pipelineRunId": pipelineRunId,
        "pipelineStage": pipelineStage,
        "alias": alias,
        "createdAfter": createdAfter,
        "createdBefore": createdBefore,
    }
    search = from_params(params, tag, q, sort, limit, cursor)
    return service.search_versions(db, principal, search, page_size_max=settings.page_size_max)


@router.post("/models/search", dependencies=[RUN_TOKENS_ALLOWED])
def search_model_versions(
    db: Db, settings: SettingsDep, principal: CurrentPrincipal, search: ModelVersionSearch
) -> ModelVersionPage:
    """Search with a filter tree (and/or/not over field conditions), keywords, a sort and a cursor."""
    return service.search_versions(db, principal, search, page_size_max=settings.page_size_max)


@router.post("/search", dependencies=[RUN_TOKENS_ALLOWED])
def legacy_search(db: Db, settings: SettingsDep, principal: CurrentPrincipal, body: LegacySearch) -> ModelVersionPage:
    """The original search form: ``{application, canonicalName, ...}`` equalities, paged."""
    return service.search_versions(db, principal, from_legacy(body), page_size_max=settings.page_size_max)


@router.get("/alias-history", dependencies=[RUN_TOKENS_ALLOWED])
def alias_history(
    db: Db,
    principal: CurrentPrincipal,
    application: str,
    canonicalName: str,
    at: Annotated[int | None, Query(ge=0, description="ms since epoch: the state of the aliases then")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AliasHistoryRead:
    """Every move of a model's aliases (who, when, from which version to which), newest first, and where each
    alias pointed at ``at``: which version was ``production`` on a given date."""
    return service.alias_history(db, principal, application, canonicalName, at=at, limit=limit)


@router.get("/resolve", dependencies=[RUN_TOKENS_ALLOWED])
def resolve_model_version(
    db: Db,
    principal: CurrentPrincipal,
    application: str,
    canonicalName: str,
    versionNumber: int | None = None,
    versionName: str | None = None,
    alias: str | None = None,
) -> ModelVersionRead:
    """The version a name means: by number, versionName or alias, else the latest."""
    return service.resolve_version(
        db, principal, application, canonicalName, version_number=versionNumber, version_name=versionName, alias=alias
    )


@router.get("/models/{version_id}", dependencies=[RUN_TOKENS_ALLOWED])
def get_model_version(db: Db, principal: CurrentPrincipal, version_id: str) -> ModelVersionRead:
    return service.get_version(db, principal, version_id)


@router.get("/models/{version_id}/artifact", response_class=Response, dependencies=[RUN_TOKENS_ALLOWED])
def download_artifact(db: Db, artifacts: Artifacts, principal: CurrentPrincipal, version_id: str) -> Response:
    """The version's bundle, checked against its stored sha256 before it is sent."""
    record, data = service.read_artifact(db, artifacts, principal, version_id)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "X-Genome-Sha256": record.artifact.sha256,
            "Content-Disposition": f'attachment; filename="{record.id}.genome.zip"',
        },
    )


@router.put("/models/{version_id}/aliases/{alias}", dependencies=[RUN_TOKENS_ALLOWED])
def set_alias(
    db: Db,
    principal: CurrentPrincipal,
    version_id: str,
    alias: str,
    require_passing: Annotated[
        bool, Query(description="Refuse (409) unless the latest run of each evaluation of this version passed.")
    ] = False,
) -> ModelVersionRead:
    """Point the alias at this version, moving it off any other version of the same model."""
    gate = evaluations.check_passing if require_passing else None
    return service.set_alias(db, principal, version_id, alias, gate=gate)


@router.delete("/models/{version_id}/aliases/{alias}", dependencies=[RUN_TOKENS_ALLOWED])
def remove_alias(db: Db, principal: CurrentPrincipal, version_id: str, alias: str) -> ModelVersionRead:
    return service.remove_alias(db, principal, version_id, alias)


@router.patch("/models/{version_id}/tags", dependencies=[RUN_TOKENS_ALLOWED])
def update_tags(
    db: Db, principal: CurrentPrincipal, version_id: str, changes: Annotated[dict[TagKey, TagValue | None], Body()]
) -> ModelVersionRead:
    """Set tags; a null value removes the tag."""
    return service.update_tags(db, principal, version_id, changes)


@router.delete("/models/{version_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model_version(db: Db, principal: CurrentPrincipal, version_id: str) -> None:
    service.delete_version(db, principal, version_id)

"""Model Store operations. Each function owns its transaction; routers and the CLI only call these."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from genome.auth.principal import Principal
from genome.clock import now_ms
from genome.errors import InvalidInput, NotFound
from genome.formats.bundle import BundleLimits, inspect
from genome.formats.trust import UntrustedContent
from genome.models.schemas import (
    ALIAS_PATTERN,
    AliasEventRead,
    AliasHistoryRead,
    ArtifactRead,
    ModelVersionCreate,
    ModelVersionPage,
    ModelVersionRead,
    ModelVersionSearch,
)
from genome.models.search import FIELDS, build_query
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.store.pagination import fetch_page
from genome.store.tables import AliasEvent, ModelAlias, ModelName, ModelTag, ModelVersion

__all__ = [
    "artifact_bytes",
    "create_version",
    "delete_version",
    "get_version",
    "read_artifact",
    "remove_alias",
    "resolve_version",
    "search_versions",
    "set_alias",
    "update_tags",
]

RESERVED_ALIASES = {"latest"}


def to_read(row: ModelVersion) -> ModelVersionRead:
    return ModelVersionRead(
        id=row.id,
        application=row.application,
        canonicalName=row.canonical_name,
        versionNumber=row.version_number,
        versionName=row.version_name,
        pipelineName=row.pipeline_name,
        pipelineRunId=row.pipeline_run_id,
        pipelineStage=row.pipeline_stage,
        framework=row.framework,
        inputModality=row.input_modality,
        predictionType=row.prediction_type,
        description=row.description,
        intendedUse=row.intended_use,
        code=row.code,
        parameters=row.parameters,
        artifact=ArtifactRead(
            ref=row.artifact_ref,
            sha256=row.artifact_sha256,
            size=row.artifact_size,
            format=row.artifact_format,
            isolated=row.isolated,
        ),
        tags={tag.key: tag.value for tag in row.tags},
        aliases=[alias.alias for alias in row.aliases],
        metrics=row.metrics,
        featureImportance=row.feature_importance,
        created=row.created,
        artifactTime=row.artifact_time,
        createdBy=row.created_by,
    )


def search_text(*parts: str | None) -> str:
    return "\n".join(part.lower() for part in parts if part)


def _next_version_number(session: Session, application: str, canonical_name: str) -> int:
    """Bump the name's counter in the caller's transaction: concurrent savers queue on the row lock,
    and a rolled-back save gives its number back, so numbers have neither gaps nor duplicates."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(ModelName)
        .values(application=application, canonical_name=canonical_name, last_version=1, created=now_ms())
        .on_conflict_do_update(
            index_elements=[ModelName.application, ModelName.canonical_name],
            set_={"last_version": ModelName.last_version + 1},
        )
        .returning(ModelName.last_version)
    )
    return int(session.execute(statement).scalar_one())


def _check_alias(alias: str) -> str:
    if not re.fullmatch(ALIAS_PATTERN, alias):
        raise InvalidInput(
            f"alias {alias!r} must start with a letter and hold only letters, digits, '_', '.' or '-' (≤100)",
            field="alias",
        )
    if alias in RESERVED_ALIASES:
        raise InvalidInput(f"alias {alias!r} is reserved: it always means the newest version", field="alias")
    return alias


def _record_move(
    session: Session, row: ModelVersion, alias: str, actor: str | None, *, to: ModelVersion | None, previous: str | None
) -> None:
    """One line of the alias ledger, in the transaction that moves the alias."""
    before = session.get(ModelVersion, previous) if previous is not None else None
    session.add(
        AliasEvent(
            application=row.application,
            canonical_name=row.canonical_name,
            alias=alias,
            version_id=to.id if to is not None else None,
            version_number=to.version_number if to is not None else None,
            previous_version_id=previous,
            previous_version_number=before.version_number if before is not None else None,
            actor=actor,
            at=now_ms(),
        )
    )


def _point_alias(session: Session, row: ModelVersion, alias: str, actor: str | None) -> None:
    current = session.get(ModelAlias, (row.application, row.canonical_name, alias))
    previous = current.version_id if current is not None else None
    if previous == row.id:
        return  # already there: nothing moved, nothing to record
    if current is None:
        session.add(
            ModelAlias(
                application=row.application,
                canonical_name=row.canonical_name,
                alias=alias,
                version_id=row.id,
                updated=now_ms(),
            )
        )
    else:
        current.version_id = row.id
        current.updated = now_ms()
    _record_move(session, row, alias, actor, to=row, previous=previous)


def _feature_importance(manifest: dict[str, Any]) -> dict[str, float] | None:
    """The mean |SHAP| per feature of the bundle's sample explanations, if it has them."""
    samples = manifest.get("samples")
    if samples is None:
        return None
    importance = samples.get("featureImportance") if isinstance(samples, dict) else None
    if not isinstance(importance, dict) or not all(
        isinstance(name, str) and isinstance(value, int | float) and not isinstance(value, bool)
        for name, value in importance.items()
    ):
        raise InvalidInput(
            "artifact manifest's samples.featureImportance must map feature names to numbers", field="artifact"
        )
    return {name: float(value) for name, value in importance.items()}


def create_version(
    db: Database,
    artifacts: ArtifactStore,
    meta: ModelVersionCreate,
    artifact: BinaryIO,
    *,
    principal: Principal,
    max_bytes: int | None = None,
    limits: BundleLimits | None = None,
    accept_untrusted: bool = True,
) -> ModelVersionRead:
    """Store a model bundle and record a new version of its application + canonicalName (editors only).

    The bundle is checked first (names, sizes, manifest) and whether it carries code is recorded: such a version
    is only ever loaded by the isolated worker, and refused here when ``accept_untrusted`` is off. The artifact
    is written (content-addressed) before the metadata row commits, so a stored version always has its bytes;
    the version number is the name's next one.
    """
    principal.require(meta.application, "editor")
    info = inspect(artifact, limits)
    if info.untrusted and not accept_untrusted:
        raise UntrustedContent(info.untrusted, where="bundle (this server accepts no code in bundles)")
    manifest = info.manifest
    artifact.seek(0)
    fields = manifest["fields"]
    modality = fields.get("modality")
    if meta.inputModality and modality and meta.inputModality != modality:
        raise InvalidInput(
            f"inputModality {meta.inputModality!r} disagrees with the estimator's modality {modality!r}",
            field="inputModality",
        )
    for alias in meta.aliases:
        _check_alias(alias)
    parameters = dict(manifest["parameters"])
    if fields.get("feature_names"):
        parameters["featureNames"] = fields["feature_names"]
    if fields.get("target_classes"):
        parameters["targetClasses"] = fields["target_classes"]
    importance = _feature_importance(manifest)
    stored = artifacts.put(artifact, max_bytes=max_bytes)
    created = now_ms()
    with db.write() as session:
        number = _next_version_number(session, meta.application, meta.canonicalName)
        row = ModelVersion(
            id=uuid.uuid4().hex,
            application=meta.application,
            canonical_name=meta.canonicalName,
            version_number=number,
            version_name=meta.versionName,
            pipeline_name=meta.pipelineName,
            pipeline_run_id=meta.pipelineRunId,
            pipeline_stage=meta.pipelineStage,
            framework=meta.framework or manifest["framework"],
            input_modality=meta.inputModality or modality or "tabular",
            prediction_type=meta.predictionType or parameters.get("predictionType"),
            description=meta.description,
            intended_use=meta.intendedUse,
            code=meta.code.model_dump() if meta.code else None,
            parameters=parameters,
            metrics=meta.metrics,
            feature_importance=importance,
            artifact_ref=stored.key,
            artifact_sha256=stored.sha256,
            artifact_size=stored.size,
            artifact_format=manifest["format"],
            isolated=info.isolated,
            created=created,
            artifact_time=meta.artifactTime or created,
            created_by=principal.username,
            search_text=search_text(
                meta.application,
                meta.canonicalName,
                meta.versionName,
                meta.pipelineName,
                meta.pipelineStage,
                parameters.get("estimatorClass"),
                meta.description,
                meta.intendedUse,
            ),
        )
        row.tags = [ModelTag(key=key, value=value) for key, value in sorted(meta.tags.items())]
        session.add(row)
        session.flush()
        for alias in meta.aliases:
            _point_alias(session, row, alias, principal.username)
        session.flush()
        session.refresh(row)
        return to_read(row)


def _get_row(session: Session, principal: Principal, version_id: str, role: str = "viewer") -> ModelVersion:
    """The version, if the principal may see it (the same 404 otherwise) and holds ``role`` in its application."""
    return principal.fetch(session, ModelVersion, version_id, f"model version {version_id!r}", role=role)


def get_version(db: Database, principal: Principal, version_id: str) -> ModelVersionRead:
    with db.read() as session:
        return to_read(_get_row(session, principal, version_id))


def resolve_version(
    db: Database,
    principal: Principal,
    application: str,
    canonical_name: str,
    *,
    version_number: int | None = None,
    version_name: str | None = None,
    alias: str | None = None,
) -> ModelVersionRead:
    """The version a caller means: by number, name or alias, else the latest (highest number)."""
    chosen = [
        name
        for name, value in (("versionNumber", version_number), ("versionName", version_name), ("alias", alias))
        if value is not None
    ]
    if len(chosen) > 1:
        raise InvalidInput(
            f"give at most one of versionNumber, versionName, alias; got {', '.join(chosen)}", field=chosen[1]
        )
    query = select(ModelVersion).where(
        ModelVersion.application == application, ModelVersion.canonical_name == canonical_name
    )
    if version_number is not None:
        query = query.where(ModelVersion.version_number == version_number)
    elif version_name is not None:
        query = query.where(ModelVersion.version_name == version_name)
    elif alias is not None and alias not in RESERVED_ALIASES:
        query = query.join(ModelAlias, ModelAlias.version_id == ModelVersion.id).where(ModelAlias.alias == alias)
    what = f"model {canonical_name!r} of application {application!r}"
    if chosen:
        value = version_number if version_number is not None else version_name or alias
        what += f" with {chosen[0]} {value!r}"
    principal.require_visible(application, what)
    with db.read() as session:
        row = session.scalars(query.order_by(ModelVersion.version_number.desc()).limit(1)).first()
        if row is None:
            raise NotFound(f"{what} does not exist", field=chosen[0] if chosen else "canonicalName")
        return to_read(row)


def search_versions(
    db: Database, principal: Principal, search: ModelVersionSearch, *, page_size_max: int
) -> ModelVersionPage:
    """One page of the versions matching ``search`` that the principal may see, newest first by default."""
    if search.limit > page_size_max:
        raise InvalidInput(f"limit {search.limit} is above the maximum page size {page_size_max}", field="limit")
    query = principal.only_readable(build_query(search), ModelVersion.application)
    column = FIELDS[search.sort.lstrip("-")]
    with db.read() as session:
        page, cursor = fetch_page(
            session, query, column, ModelVersion.id, sort=search.sort, cursor=search.cursor, limit=search.limit
        )
        return ModelVersionPage(items=[to_read(row) for row in page], nextCursor=cursor)


def _event_read(row: AliasEvent) -> AliasEventRead:
    return AliasEventRead(
        alias=row.alias,
        versionId=row.version_id,
        versionNumber=row.version_number,
        previousVersionId=row.previous_version_id,
        previousVersionNumber=row.previous_version_number,
        actor=row.actor,
        at=row.at,
    )


def alias_history(
    db: Database,
    principal: Principal,
    application: str,
    canonical_name: str,
    *,
    at: int | None = None,
    limit: int = 100,
) -> AliasHistoryRead:
    """The moves of a model's aliases at or before ``at`` (default now), newest first, and where each alias
    pointed then: "which version was production on date X"."""
    principal.require_visible(application, f"model {canonical_name!r} of application {application!r}")
    as_of = now_ms() if at is None else at
    query = (
        select(AliasEvent)
        .where(
            AliasEvent.application == application,
            AliasEvent.canonical_name == canonical_name,
            AliasEvent.at <= as_of,
        )
        .order_by(AliasEvent.at.desc(), AliasEvent.id.desc())
    )
    with db.read() as session:
        events = [_event_read(row) for row in session.scalars(query)]
    state: dict[str, AliasEventRead] = {}
    for event in events:  # newest first: the first move of each alias is where it stood
        state.setdefault(event.alias, event)
    return AliasHistoryRead(
        application=application,
        canonicalName=canonical_name,
        asOf=as_of,
        aliases={alias: event for alias, event in sorted(state.items()) if event.versionId is not None},
        items=events[:limit],
    )


def applications(db: Database, principal: Principal) -> list[str]:
    """The applications holding models that the principal may read (from the names, one row each: cheap)."""
    query = select(ModelName.application).distinct().order_by(ModelName.application)
    with db.read() as session:
        return list(session.scalars(principal.only_readable(query, ModelName.application)))


def counts_by_application(db: Database, principal: Principal) -> dict[str, int]:
    """How many versions each application the principal may read holds (none listed that they may not read)."""
    query = select(ModelVersion.application, func.count()).group_by(ModelVersion.application)
    with db.read() as session:
        rows = session.execute(principal.only_readable(query, ModelVersion.application)).all()
    return {application: count for application, count in sorted(rows)}


def set_alias(
    db: Database,
    principal: Principal,
    version_id: str,
    alias: str,
    *,
    gate: Callable[[Session, ModelVersion, str], None] | None = None,
) -> ModelVersionRead:
    """Point ``alias`` at this version, moving it from any other version of the same name.

    ``gate(session, version, alias)`` runs in the same transaction first and may refuse by raising (the Evaluation
    Store's ``check_passing`` does, for ``require_passing``).
    """
    _check_alias(alias)
    with db.write() as session:
        row = _get_row(session, principal, version_id, "editor")
        if gate is not None:
            gate(session, row, alias)
        _point_alias(session, row, alias, principal.username)
        session.flush()
        session.refresh(row)
        return to_read(row)


def remove_alias(db: Database, principal: Principal, version_id: str, alias: str) -> ModelVersionRead:
    with db.write() as session:
        row = _get_row(session, principal, version_id, "editor")
        current = session.get(ModelAlias, (row.application, row.canonical_name, alias))
        if current is None or current.version_id != version_id:
            raise NotFound(f"model version {version_id!r} has no alias {alias!r}", field="alias")
        session.delete(current)
        _record_move(session, row, alias, principal.username, to=None, previous=version_id)
        session.flush()
        session.refresh(row)
        return to_read(row)


def update_tags(
    db: Database, principal: Principal, version_id: str, changes: dict[str, str | None]
) -> ModelVersionRead:
    """Set tags to the given values; a null value removes that tag."""
    with db.write() as session:
        row = _get_row(session, principal, version_id, "editor")
        existing = {tag.key: tag for tag in row.tags}
        for key, value in changes.items():
            if value is None:
                if key in existing:
                    row.tags.remove(existing[key])
            elif key in existing:
                existing[key].value = value
            else:
                row.tags.append(ModelTag(key=key, value=value))
        session.flush()
        session.refresh(row)
        return to_read(row)


def delete_version(db: Database, principal: Principal, version_id: str) -> None:
    """Forget a version (its aliases and tags go with it); its number is never reused."""
    with db.write() as session:
        row = _get_row(session, principal, version_id, "editor")
        for alias in row.aliases:
            _record_move(session, row, alias.alias, principal.username, to=None, previous=version_id)
        session.execute(delete(ModelAlias).where(ModelAlias.version_id == version_id))
        session.execute(delete(ModelVersion).where(ModelVersion.id == version_id))


def read_artifact(
    db: Database, artifacts: ArtifactStore, principal: Principal, version_id: str
) -> tuple[ModelVersionRead, bytes]:
    """A version's bundle bytes, verified against the checksum recorded when it was stored."""
    record = get_version(db, principal, version_id)
    return record, artifact_bytes(artifacts, record)


def artifact_bytes(artifacts: ArtifactStore, record: ModelVersionRead) -> bytes:
    """The bundle bytes of a version the caller already may read, verified against its recorded checksum."""
    owner = f"model version {record.id} ({record.canonicalName} v{record.versionNumber})"
    return artifacts.get(record.artifact.ref, record.artifact.sha256, owner=owner)

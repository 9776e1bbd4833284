"""A model card, assembled from what the stores hold about a version: its record, the Sequencer run that made it
and the latest run of each evaluation that targeted it."""

from __future__ import annotations

from typing import Any

from genome.auth.principal import Principal
from genome.cards.schemas import CardEvaluation, CardLineage, ModelCardRead
from genome.clock import now_ms
from genome.errors import NotFound
from genome.evaluations import service as evaluations
from genome.evaluations.statuses import run_status
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.sequencer import service as sequencer
from genome.store.db import Database

__all__ = ["model_card"]

_MAX_RUNS = 500  # evaluation runs read for one card: the latest of each evaluation is among the newest
_PAGE = 100
_TOP_FEATURES = 20
_TABULAR = {
    "tree": "SHAP's exact TreeExplainer",
    "ensemble": "SHAP's exact TreeExplainer",
    "linear": "SHAP's LinearExplainer",
}


def _explanations(record: ModelVersionRead) -> dict[str, Any]:
    category = record.parameters.get("category")
    final = record.parameters.get("finalEstimator", {}).get("category") if category == "pipeline" else category
    if record.inputModality == "text":
        return {"explainer": "LIME on the text's words", "route": "POST /routing/explain with text"}
    if record.inputModality == "image":
        return {"explainer": "Grad-CAM on the last convolutional layer", "route": "POST /routing/explain with image"}
    explainer = _TABULAR.get(category or "", "SHAP's permutation explainer over the stored sample")
    visual = {"tree": "its trees", "ensemble": "its trees", "linear": "its coefficients"}.get(final or "")
    return {
        "explainer": explainer,
        "route": "POST /routing/explain with entries",
        "visualization": f"POST /routing/visualization shows {visual}" if visual else None,
        "sampleExplanations": record.featureImportance is not None,
    }


def _latest_evaluations(db: Database, principal: Principal, version_id: str, page_size: int) -> list[CardEvaluation]:
    latest: dict[str, CardEvaluation] = {}
    cursor: str | None = None
    for _ in range(_MAX_RUNS // _PAGE):
        page = evaluations.search_runs(
            db, principal, target=version_id, limit=min(_PAGE, page_size), cursor=cursor, page_size_max=page_size
        )
        for run in page.items:  # newest first: the first run of a name is its latest
            latest.setdefault(
                run.name,
                CardEvaluation(
                    name=run.name,
                    runId=run.id,
                    versionName=run.versionName,
                    status=run.status,
                    summary=run.summary,
                    dataRefs=run.dataRefs,
                    created=run.created,
                ),
            )
        cursor = page.nextCursor
        if cursor is None:
            break
    return sorted(latest.values(), key=lambda run: run.name)


def _run(db: Database, principal: Principal, run_id: str | None) -> dict[str, Any] | None:
    if run_id is None:
        return None
    try:
        run = sequencer.get_run(db, principal, run_id)
    except NotFound:  # made outside Genome's Sequencer, or not visible to this caller
        return None
    return {"id": run.id, "pipelineName": run.pipelineName, "status": run.status, "finished": run.finished}


def model_card(db: Database, principal: Principal, version_id: str, *, page_size: int) -> ModelCardRead:
    """The model card of a version (viewers may read it).

    Example:
        ``GET /v1.0/genome/modelstore/models/{id}/card`` (``?format=markdown`` or ``html`` renders it).
    """
    record = models.get_version(db, principal, version_id)
    runs = _latest_evaluations(db, principal, record.id, page_size)
    importance = sorted((record.featureImportance or {}).items(), key=lambda item: -float(item[1]))
    parameters = record.parameters
    return ModelCardRead(
        model={
            "id": record.id,
            "application": record.application,
            "canonicalName": record.canonicalName,
            "versionNumber": record.versionNumber,
            "versionName": record.versionName,
            "aliases": record.aliases,
            "tags": record.tags,
            "created": record.created,
            "artifactTime": record.artifactTime,
            "createdBy": record.createdBy,
        },
        intendedUse=record.intendedUse,
        notes=record.description,
        details={
            "framework": record.framework,
            "inputModality": record.inputModality,
            "predictionType": record.predictionType,
            "estimatorClass": parameters.get("estimatorClass"),
            "category": parameters.get("category"),
            "parameters": parameters,
            "artifact": record.artifact.model_dump(),
        },
        lineage=CardLineage(
            pipelineName=record.pipelineName,
            pipelineRunId=record.pipelineRunId,
            pipelineStage=record.pipelineStage,
            code=record.code,
            run=_run(db, principal, record.pipelineRunId),
        ),
        metrics=record.metrics,
        featureImportance=[{"feature": name, "importance": value} for name, value in importance[:_TOP_FEATURES]]
        if record.featureImportance
        else None,
        evaluations=runs,
        evaluationStatus=run_status(run.status for run in runs) if runs else None,
        dataRefs=sorted({ref for run in runs for ref in run.dataRefs}),
        explanations=_explanations(record),
        generated=now_ms(),
    )

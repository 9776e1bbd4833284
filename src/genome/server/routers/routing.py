"""Realtime explanation routes (the seed's ``/routing``): thin wrappers over ``genome.explain.service``."""

from __future__ import annotations

from fastapi import APIRouter

from genome.explain import service
from genome.explain.schemas import (
    ExplainRequest,
    ImageExplanationRead,
    SampleExplanationsRead,
    TabularExplanationRead,
    TextExplanationRead,
    VersionRef,
)
from genome.server.deps import RUN_TOKENS_ALLOWED, Artifacts, CurrentPrincipal, Db, Explainers, SettingsDep

router = APIRouter(prefix="/routing", tags=["routing"])


@router.post("/explain", dependencies=[RUN_TOKENS_ALLOWED])
def explain(
    db: Db,
    artifacts: Artifacts,
    explainers: Explainers,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    request: ExplainRequest,
) -> TabularExplanationRead | TextExplanationRead | ImageExplanationRead:
    """Explain rows, a text or an image with a model version (latest of application + canonicalName unless one is
    named)."""
    return service.explain(db, artifacts, explainers, principal, request, max_rows=settings.explain_max_rows)


@router.post("/explanation/samples", dependencies=[RUN_TOKENS_ALLOWED])
def sample_explanations(
    db: Db, artifacts: Artifacts, explainers: Explainers, principal: CurrentPrincipal, ref: VersionRef
) -> SampleExplanationsRead:
    """The explanations computed from a sample when the version was saved."""
    return service.sample_explanations(db, artifacts, explainers, principal, ref)

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
)
from genome.server.deps import RUN_TOKENS_ALLOWED, CurrentPrincipal, Explanations, Models, SettingsDep
from genome.serving.schemas import VersionRef

router = APIRouter(prefix="/routing", tags=["routing"])


@router.post("/explain", dependencies=[RUN_TOKENS_ALLOWED])
def explain(
    models: Models,
    explanations: Explanations,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    request: ExplainRequest,
) -> TabularExplanationRead | TextExplanationRead | ImageExplanationRead:
    """Explain rows, a text or an image with a model version (latest of application + canonicalName unless one is
    named)."""
    return service.explain(
        models,
        explanations,
        principal,
        request,
        max_rows=settings.explain_max_rows,
        text_budget=settings.explain_text_budget,
    )


@router.post("/explanation/samples", dependencies=[RUN_TOKENS_ALLOWED])
def sample_explanations(models: Models, principal: CurrentPrincipal, ref: VersionRef) -> SampleExplanationsRead:
    """The explanations computed from a sample when the version was saved."""
    return service.sample_explanations(models, principal, ref)

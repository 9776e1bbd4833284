"""Model card routes: thin wrappers over ``genome.cards``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from genome.cards import render, service
from genome.cards.compare import compare_versions
from genome.cards.schemas import ModelCardRead, VersionComparison
from genome.server.deps import RUN_TOKENS_ALLOWED, CurrentPrincipal, Db, SettingsDep

router = APIRouter(prefix="/modelstore", tags=["modelstore"])
_RENDERED = {
    200: {
        "content": {"text/markdown": {}, "text/html": {}},
        "description": "The card as JSON, or rendered with ?format=markdown|html.",
    }
}


@router.get(
    "/models/{version_id}/card", response_model=ModelCardRead, responses=_RENDERED, dependencies=[RUN_TOKENS_ALLOWED]
)
def model_card(
    version_id: str,
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    format: Annotated[Literal["json", "markdown", "html"], Query(description="How to answer.")] = "json",
) -> ModelCardRead | Response:
    """A version's model card: intended use, notes, details, lineage, metrics, the latest run of each evaluation,
    the data they used, feature importance and how its predictions are explained."""
    card = service.model_card(db, principal, version_id, page_size=settings.page_size_max)
    if format == "markdown":
        return Response(render.to_markdown(card), media_type="text/markdown; charset=utf-8")
    if format == "html":
        return Response(render.to_html(card), media_type="text/html; charset=utf-8")
    return card


@router.get("/compare", dependencies=[RUN_TOKENS_ALLOWED])
def compare(
    db: Db,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    a: Annotated[str, Query(min_length=1, max_length=32, description="A version id.")],
    b: Annotated[str, Query(min_length=1, max_length=32, description="Another version id.")],
) -> VersionComparison:
    """Two versions' cards side by side, differences first: model, card, metrics (with deltas), parameters, tags,
    feature importance and the latest run of each evaluation."""
    return compare_versions(db, principal, a, b, page_size=settings.page_size_max)

"""Realtime visualization routes: the seed's ``/routing`` entry point and a per-version resource; thin wrappers
over ``genome.visualize.service``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import ValidationError

from genome.errors import InvalidInput
from genome.server.deps import RUN_TOKENS_ALLOWED, CurrentPrincipal, Models, SettingsDep
from genome.server.errors import invalid_from_validation
from genome.serving.schemas import VersionRef
from genome.visualize import service
from genome.visualize.schemas import (
    LinearVisualizationRead,
    TreeVisualizationRead,
    VisualizationOptions,
    VisualizationRequest,
)

router = APIRouter(tags=["visualize"])
_SVG = {200: {"content": {"image/svg+xml": {}}, "description": "The tree or linear model drawn as SVG."}}


def _options(
    tree: Annotated[int, Query(ge=0)] = 0,
    node: Annotated[int, Query(ge=0)] = 0,
    depth: Annotated[int | None, Query(ge=0, le=64)] = None,
    maxNodes: Annotated[int | None, Query(ge=1)] = None,
    record: Annotated[str | None, Query(description="The record as JSON: a list of values or an object.")] = None,
) -> VisualizationOptions:
    fields: dict[str, Any] = {"tree": tree, "node": node, "depth": depth, "maxNodes": maxNodes}
    if record is not None:
        try:
            fields["record"] = json.loads(record)
        except ValueError as exc:
            raise InvalidInput(f"record is not JSON: {exc}", field="record") from exc
    try:
        return VisualizationOptions.model_validate(fields)
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors())) from None


Options = Annotated[VisualizationOptions, Depends(_options)]


@router.post(
    "/routing/visualization",
    response_model=TreeVisualizationRead | LinearVisualizationRead,
    responses=_SVG,
    dependencies=[RUN_TOKENS_ALLOWED],
)
def visualization(
    models: Models,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    request: VisualizationRequest,
) -> TreeVisualizationRead | LinearVisualizationRead | Response:
    """The inside of a model version (latest of application + canonicalName unless one is named): a window of one
    tree with a record's path, or a linear model's coefficients; ``"format": "svg"`` draws either."""
    ref = VersionRef.model_validate(request.model_dump(include=set(VersionRef.model_fields)))
    options = VisualizationOptions.model_validate(request.model_dump(include=set(VisualizationOptions.model_fields)))
    limit = settings.visualize_max_nodes
    if request.format == "svg":
        svg = service.visualization_svg(models, principal, ref, options, max_nodes=limit)
        return Response(svg, media_type="image/svg+xml")
    return service.visualize(models, principal, ref, options, max_nodes=limit)


@router.get("/modelstore/models/{model_id}/visualization", dependencies=[RUN_TOKENS_ALLOWED])
def model_visualization(
    model_id: str,
    models: Models,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    options: Options,
) -> TreeVisualizationRead | LinearVisualizationRead:
    """The inside of one model version; ``record`` (JSON) traces that record's path."""
    return service.visualize(
        models, principal, VersionRef(id=model_id), options, max_nodes=settings.visualize_max_nodes
    )


@router.get(
    "/modelstore/models/{model_id}/visualization.svg",
    response_class=Response,
    responses=_SVG,
    dependencies=[RUN_TOKENS_ALLOWED],
)
def model_visualization_svg(
    model_id: str,
    models: Models,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    options: Options,
) -> Response:
    """One tree of a model version drawn as SVG (usable in an ``<img src>``), the record's path highlighted; or a
    linear model's coefficients per class, with the record's score as a waterfall from the intercept."""
    svg = service.visualization_svg(
        models, principal, VersionRef(id=model_id), options, max_nodes=settings.visualize_max_nodes
    )
    return Response(svg, media_type="image/svg+xml")

"""Realtime visualizations: the version the caller means, served by ``genome.serving``, answers views of its
model; trees and linear models are drawn here, from the validated view."""

from __future__ import annotations

from typing import Any

from genome.auth.principal import Principal
from genome.serving.schemas import VersionRef
from genome.serving.service import ModelServer
from genome.visualize.linear_svg import render_linear
from genome.visualize.schemas import (
    LinearVisualizationRead,
    TreeVisualizationRead,
    Visualization,
    VisualizationOptions,
)
from genome.visualize.svg import render_tree

__all__ = ["visualization_svg", "visualize"]


def visualize(
    models: ModelServer, principal: Principal, ref: VersionRef, options: VisualizationOptions, *, max_nodes: int
) -> Visualization:
    """A view of the version's model (viewers may visualize): for a tree model, the nodes of one tree from
    ``options.node`` down ``options.depth`` levels (never more than ``max_nodes``, and the view says when it left
    nodes out), with the path ``options.record`` takes and, when the version was saved with a sample, the data at
    each node; for a linear model, its coefficients and the record's contributions."""
    served = models.get(principal, ref)
    answer: Any = served.call("visualize", {**options.model_dump(), "limit": max_nodes})
    if isinstance(answer, dict) and answer.get("kind") == "linear":
        return served.checked(LinearVisualizationRead, answer)
    return served.checked(TreeVisualizationRead, answer)


def visualization_svg(
    models: ModelServer, principal: Principal, ref: VersionRef, options: VisualizationOptions, *, max_nodes: int
) -> str:
    """The same view as an SVG drawing: a tree with the record's path highlighted, or a linear model's coefficients
    per class with the record's score as a waterfall from the intercept."""
    view = visualize(models, principal, ref, options, max_nodes=max_nodes)
    if isinstance(view, LinearVisualizationRead):
        return render_linear(view.model_dump(by_alias=True))
    return render_tree(view.model_dump(by_alias=True))

"""Realtime visualizations: resolve the version the caller means, read its model once, answer views of it."""

from __future__ import annotations

from typing import Any

from genome.auth.principal import Principal
from genome.errors import InvalidInput
from genome.explain.cache import LoadedCache
from genome.explain.schemas import VersionRef
from genome.explain.service import resolve_ref
from genome.formats.bundle import extracted, unpack_fields
from genome.formats.registry import SPARK_FORMAT, format_named
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.visualize._spark import read_saved
from genome.visualize.schemas import (
    LinearVisualizationRead,
    TreeVisualizationRead,
    Visualization,
    VisualizationOptions,
)
from genome.visualize.svg import render_tree
from genome.visualize.visualizer import ModelVisualizer

__all__ = ["VisualizerCache", "visualization_svg", "visualize"]

VisualizerCache = LoadedCache[ModelVisualizer]


def _load(
    db: Database, artifacts: ArtifactStore, principal: Principal, record: ModelVersionRead, max_nodes: int
) -> ModelVisualizer:
    if record.inputModality != "tabular":
        raise InvalidInput(
            f"{record.canonicalName} is a {record.inputModality} model; visualizations show tabular models "
            "(trees, ensembles, linear models)",
            field="canonicalName",
        )
    _, data = models.read_artifact(db, artifacts, principal, record.id)
    with extracted(data) as (folder, manifest):
        fields = unpack_fields(folder, manifest)
        if manifest["format"] == SPARK_FORMAT:
            # Spark ML trees are read from the files Spark saved: drawing them needs no JVM on the server
            model = read_saved(folder / manifest["modelFile"], manifest["modelClass"], fields.get("feature_names"))
        else:
            model = format_named(manifest["format"]).load(folder, manifest["modelFile"], manifest["modelClass"])
    samples = fields.get("samples") or {}
    return ModelVisualizer(max_nodes=max_nodes).fit(
        model,
        feature_names=fields.get("feature_names") or None,
        target_classes=fields.get("target_classes") or None,
        sample=samples.get("values"),
        targets=samples.get("targets"),
    )


def _view(
    db: Database,
    artifacts: ArtifactStore,
    cache: VisualizerCache,
    principal: Principal,
    ref: VersionRef,
    options: VisualizationOptions,
    max_nodes: int,
) -> dict[str, Any]:
    record = resolve_ref(db, principal, ref)
    # The record was resolved for this caller (permissions applied); versions are immutable, so the cache by id
    # never goes stale.
    visualizer = cache.get(record.id, lambda: _load(db, artifacts, principal, record, max_nodes))
    view = visualizer.visualize(
        tree=options.tree, node=options.node, depth=options.depth, max_nodes=options.maxNodes, record=options.record
    )
    view["model"] = {"id": record.id, "canonicalName": record.canonicalName, "versionNumber": record.versionNumber}
    return view


def visualize(
    db: Database,
    artifacts: ArtifactStore,
    cache: VisualizerCache,
    principal: Principal,
    ref: VersionRef,
    options: VisualizationOptions,
    *,
    max_nodes: int,
) -> Visualization:
    """A view of the version's model (viewers may visualize): for a tree model, the nodes of one tree from
    ``options.node`` down ``options.depth`` levels (never more than ``max_nodes``, and the view says when it left
    nodes out), with the path ``options.record`` takes and, when the version was saved with a sample, the data at
    each node; for a linear model, its coefficients and the record's contributions."""
    view = _view(db, artifacts, cache, principal, ref, options, max_nodes)
    if view["kind"] == "linear":
        return LinearVisualizationRead.model_validate(view)
    return TreeVisualizationRead.model_validate(view)


def visualization_svg(
    db: Database,
    artifacts: ArtifactStore,
    cache: VisualizerCache,
    principal: Principal,
    ref: VersionRef,
    options: VisualizationOptions,
    *,
    max_nodes: int,
) -> str:
    """The same view of a tree as an SVG drawing, the record's path highlighted."""
    view = _view(db, artifacts, cache, principal, ref, options, max_nodes)
    if view["kind"] != "tree":
        raise InvalidInput(
            f"{view['estimatorClass']} is a linear model: its drawing is the JSON view's coefficients; SVG draws trees",
            field="format",
        )
    return render_tree(view)

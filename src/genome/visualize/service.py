"""Realtime visualizations: resolve the version the caller means, read its model once, answer views of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genome.auth.principal import Principal
from genome.errors import InvalidInput
from genome.explain.cache import LoadedCache
from genome.explain.schemas import VersionRef
from genome.explain.service import resolve_ref
from genome.formats.bundle import unpack
from genome.formats.registry import ModelFormat, default_formats
from genome.models import service as models
from genome.models.schemas import ModelVersionRead
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
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


class _SavedSpark:
    """Reads a Spark ML model's saved tree data straight from its files: the server needs no JVM to draw it."""

    name = "spark-ml"

    def matches(self, model: Any) -> bool:
        return False  # only for reading

    def dump(self, model: Any, folder: Path) -> str:
        raise NotImplementedError

    def load(self, folder: Path, file_name: str, model_class: str) -> Any:
        from genome.visualize._spark import read_saved

        return read_saved(folder / file_name, model_class, None)


def _formats() -> list[ModelFormat]:
    return [_SavedSpark(), *default_formats()]


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
    model, fields, _manifest = unpack(data, _formats())
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

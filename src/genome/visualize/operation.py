"""Visualizing a loaded version: extract its trees (or coefficients) once, then answer each view of them.

Runs wherever the version is loaded (an isolated worker; the server for Spark ML trees) and answers a plain
JSON-able dict, which the service validates (``genome.visualize.service``).
"""

from __future__ import annotations

from typing import Any

from genome.errors import InvalidInput
from genome.serving.loaded import LoadedVersion
from genome.visualize.visualizer import ModelVisualizer

__all__ = ["visualize"]


def _fit(loaded: LoadedVersion, max_nodes: int) -> ModelVisualizer:
    meta = loaded.meta
    if meta.inputModality != "tabular":
        article = "an" if meta.inputModality[:1] in "aeiou" else "a"
        raise InvalidInput(
            f"{meta.canonicalName} ({loaded.manifest.get('modelClass', 'a model')}) is {article} "
            f"{meta.inputModality} model; visualizations show tabular models (trees, ensembles, linear models): "
            f"explain its predictions instead (POST /routing/explain)",
            field="canonicalName",
        )
    fields = loaded.fields
    samples = fields.get("samples") or {}
    return ModelVisualizer(max_nodes=max_nodes).fit(
        loaded.model,
        feature_names=fields.get("feature_names") or None,
        target_classes=fields.get("target_classes") or None,
        sample=samples.get("values"),
        targets=samples.get("targets"),
    )


def visualize(loaded: LoadedVersion, params: dict[str, Any]) -> dict[str, Any]:
    """A view of the version's model: ``params`` holds the view's options and the server's node limit."""
    limit = int(params["limit"])
    visualizer = loaded.memo(f"visualizer:{limit}", lambda: _fit(loaded, limit))
    view: dict[str, Any] = visualizer.visualize(
        tree=params.get("tree", 0),
        node=params.get("node", 0),
        depth=params.get("depth"),
        max_nodes=params.get("maxNodes"),
        record=params.get("record"),
    )
    return view

"""Two versions' model cards compared field by field, differences first: what changed between the model in
production and the candidate, reproducible from the two ids alone."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from genome.auth.principal import Principal
from genome.cards.schemas import ComparisonRow, ComparisonSection, ModelCardRead, VersionComparison
from genome.cards.service import model_card
from genome.store.db import Database

__all__ = ["compare_versions"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> Any:
    """A value as the comparison shows it: scalars as they are, anything nested as compact JSON."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _section(name: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> ComparisonSection:
    rows = []
    for key in sorted(set(a) | set(b)):
        left, right = _plain(a.get(key)), _plain(b.get(key))
        delta = float(right) - float(left) if _number(left) and _number(right) else None
        rows.append(ComparisonRow(key=key, a=left, b=right, changed=left != right, delta=delta))
    rows.sort(key=lambda row: not row.changed)  # differences first, each group in key order
    return ComparisonSection(name=name, changed=sum(row.changed for row in rows), rows=rows)


def _which(card: ModelCardRead) -> dict[str, Any]:
    model = card.model
    return {key: model.get(key) for key in ("id", "application", "canonicalName", "versionNumber", "versionName")}


def _sections(a: ModelCardRead, b: ModelCardRead) -> list[ComparisonSection]:
    def model(card: ModelCardRead) -> dict[str, Any]:
        details = card.details
        return {
            "application": card.model.get("application"),
            "canonicalName": card.model.get("canonicalName"),
            "versionName": card.model.get("versionName"),
            "aliases": card.model.get("aliases"),
            "framework": details.get("framework"),
            "estimatorClass": details.get("estimatorClass"),
            "inputModality": details.get("inputModality"),
            "predictionType": details.get("predictionType"),
            "createdBy": card.model.get("createdBy"),
            "bundle sha256": (details.get("artifact") or {}).get("sha256"),
        }

    def importance(card: ModelCardRead) -> dict[str, Any]:
        return {item["feature"]: item["importance"] for item in card.featureImportance or []}

    def evaluations(card: ModelCardRead) -> dict[str, Any]:
        return {run.name: run.status for run in card.evaluations}

    return [
        _section("Model", model(a), model(b)),
        _section(
            "Card", {"intendedUse": a.intendedUse, "notes": a.notes}, {"intendedUse": b.intendedUse, "notes": b.notes}
        ),
        _section("Metrics", a.metrics, b.metrics),
        _section("Parameters", a.details.get("parameters") or {}, b.details.get("parameters") or {}),
        _section("Tags", a.model.get("tags") or {}, b.model.get("tags") or {}),
        _section("Feature importance (mean |SHAP|)", importance(a), importance(b)),
        _section("Latest evaluation runs", evaluations(a), evaluations(b)),
    ]


def compare_versions(db: Database, principal: Principal, a: str, b: str, *, page_size: int) -> VersionComparison:
    """Version ``a``'s card against version ``b``'s (the principal must be able to read both)."""
    left = model_card(db, principal, a, page_size=page_size)
    right = model_card(db, principal, b, page_size=page_size)
    sections = _sections(left, right)
    return VersionComparison(
        a=_which(left), b=_which(right), changed=sum(section.changed for section in sections), sections=sections
    )

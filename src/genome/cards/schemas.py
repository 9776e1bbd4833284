"""Wire schema of a model card."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CardEvaluation", "CardLineage", "ComparisonRow", "ComparisonSection", "ModelCardRead", "VersionComparison"]


class CardLineage(BaseModel):
    pipelineName: str | None
    pipelineRunId: str | None
    pipelineStage: str | None
    code: dict[str, Any] | None
    run: dict[str, Any] | None = Field(description="The Sequencer run that made the model, when Genome ran it.")


class CardEvaluation(BaseModel):
    """The latest run of one evaluation of this version."""

    name: str
    runId: str
    versionName: str | None
    status: str
    summary: dict[str, int]
    dataRefs: list[str]
    created: int


class ModelCardRead(BaseModel):
    model: dict[str, Any] = Field(description="Which version: id, names, number, aliases, tags, when and by whom.")
    intendedUse: str | None
    notes: str | None = Field(description="The version's description.")
    details: dict[str, Any] = Field(description="Framework, modality, prediction type, estimator and its parameters.")
    lineage: CardLineage
    metrics: dict[str, Any]
    featureImportance: list[dict[str, Any]] | None = Field(
        description="Mean |SHAP| per feature from the stored sample, largest first."
    )
    evaluations: list[CardEvaluation]
    evaluationStatus: str | None = Field(
        description="passed when every evaluation's latest run passed; else the worst status; null without runs."
    )
    dataRefs: list[str] = Field(description="The data the evaluations used.")
    explanations: dict[str, Any] = Field(description="How Genome explains and draws this model's predictions.")
    generated: int


class ComparisonRow(BaseModel):
    """One field of two versions side by side; ``delta`` is b - a when both are numbers."""

    key: str
    a: Any
    b: Any
    changed: bool
    delta: float | None = None


class ComparisonSection(BaseModel):
    """A part of the card compared (model, card, parameters, tags, metrics, feature importance, evaluations),
    the rows that differ first."""

    name: str
    changed: int = Field(description="How many rows differ.")
    rows: list[ComparisonRow]


class VersionComparison(BaseModel):
    """Two versions' cards compared: ``a`` and ``b`` say which, each section lists differences first."""

    a: dict[str, Any]
    b: dict[str, Any]
    changed: int = Field(description="How many rows differ in all.")
    sections: list[ComparisonSection]

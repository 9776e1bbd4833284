"""Wire schemas of the realtime explainer: the seed's request and response, plus the model that answered."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["ExplainRequest", "ExplainedModel", "SampleExplanationsRead", "TabularExplanationRead", "VersionRef"]

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class VersionRef(BaseModel):
    """Which model version: its ``id``, or ``application`` + ``canonicalName`` (latest, or by number, name or
    alias)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    application: Label | None = None
    canonicalName: Label | None = None
    versionNumber: int | None = Field(default=None, ge=1)
    versionName: Label | None = None
    alias: Label | None = None


class ExplainRequest(VersionRef):
    """The seed's body: what to explain is ``entries`` (tabular), ``image`` or ``text``."""

    entries: list[list[float]] | list[dict[str, float]] | None = Field(
        default=None,
        description="Rows to explain: lists of feature values in the model's order, or objects keyed by feature name.",
    )
    image: str | None = Field(default=None, description="A base64 image (image models; not available yet).")
    text: str | None = Field(default=None, description="A text (text models; not available yet).")


class ExplainedModel(BaseModel):
    id: str
    canonicalName: str
    versionNumber: int


class TabularExplanationRead(BaseModel):
    """``expected[k] + sum(shapley[k][row])`` is output k of the model on that row (``output`` says which)."""

    expected: list[float]
    number_labels: int
    shapley: list[Any] = Field(description="rows x features; for k outputs, one rows x features list per class")
    feature_names: list[str]
    prediction: list[Any]
    explainer: str
    output: str
    model: ExplainedModel


class SampleExplanationsRead(BaseModel):
    """The explanations computed from a sample when the model was saved (``sampleExplanations``)."""

    expected: list[float]
    number_labels: int
    shapley: list[Any]
    values: list[list[float]]
    feature_names: list[str]
    featureImportance: dict[str, float]
    rows: int
    explainer: str
    model: ExplainedModel

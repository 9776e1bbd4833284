"""Wire schemas of the realtime explainer: the seed's request and response, plus the model that answered."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from genome.serving.schemas import ServedModel, VersionRef

__all__ = [
    "ExplainRequest",
    "Explanation",
    "ImageExplanationRead",
    "SampleExplanationsRead",
    "TabularExplanationRead",
    "TextExplanationRead",
]


class ExplainRequest(VersionRef):
    """The seed's body: what to explain is ``entries`` (tabular), ``image`` or ``text``."""

    entries: list[list[float]] | list[dict[str, float]] | None = Field(
        default=None,
        description="Rows to explain: lists of feature values in the model's order, or objects keyed by feature name.",
    )
    image: str | None = Field(
        default=None,
        description="A base64 PNG or JPEG (image models), the size the model takes; a data: URL prefix is allowed.",
    )
    text: str | None = Field(default=None, description="A text to explain (text models).")
    num_samples: int | None = Field(
        default=None, ge=50, le=5000, description="Perturbed texts LIME scores (text models; default 250)."
    )
    target: int | Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="The class to explain, by name or index (image models; default the predicted one)."
    )


class TabularExplanationRead(BaseModel):
    """``expected[k] + sum(shapley[k][row])`` is output k of the model on that row (``output`` says which)."""

    expected: list[float]
    number_labels: int
    shapley: list[Any] = Field(description="rows x features; for k outputs, one rows x features list per class")
    feature_names: list[str]
    prediction: list[Any]
    explainer: str
    output: str
    model: ServedModel


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
    model: ServedModel


class TextMetrics(BaseModel):
    """How faithful the surrogate is: weighted R² (mean over classes) and mean KL(model || surrogate)."""

    score: float
    mean_KL_divergence: float


class WeightedSpans(BaseModel):
    spans: list[tuple[str, list[tuple[int, int]], float]] = Field(
        description="[word, [[start, end], ...], weight]: every occurrence of the word, as text[start:end]"
    )


class TextTarget(BaseModel):
    target: str
    proba: float = Field(description="the model's probability of this class")
    score: float = Field(description="the surrogate's prediction for this class")
    weighted_spans: WeightedSpans


class TextExplanationBody(BaseModel):
    estimator: str
    method: str
    targets: list[TextTarget]


class TextExplanationRead(BaseModel):
    """The seed's LIME explanation of a text: fidelity metrics and per-class word weights."""

    metrics: TextMetrics
    textExplanation: TextExplanationBody
    model: ServedModel


class ClassScore(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class")
    score: float


class ImageExplanationRead(BaseModel):
    """The seed's Grad-CAM answer: the class explained, its softmax probability and the heat-map over the input."""

    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="the explained class, named by the model's target_classes")
    classIndex: int
    score: float = Field(description="the model's (softmax) probability of the class")
    number_labels: int = Field(description="how many classes are explained: 1")
    image: str = Field(description="base64 PNG of the heat-map coloured over the input, for an <img src=data:...>")
    heatmap: list[list[float]] = Field(description="Grad-CAM at the layer's resolution, scaled to [0, 1]")
    layer: str = Field(description="the convolutional layer explained")
    predictions: list[ClassScore] = Field(description="the model's five most probable classes")
    model: ServedModel


Explanation = TabularExplanationRead | TextExplanationRead | ImageExplanationRead

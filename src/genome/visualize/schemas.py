"""Wire schemas of the realtime visualizer: what to show of which version, and the tree or linear view."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genome.serving.schemas import ServedModel, VersionRef
from genome.visualize.visualizer import MAX_NODES

__all__ = [
    "LinearVisualizationRead",
    "TreeNodeRead",
    "TreePathRead",
    "TreeVisualizationRead",
    "Visualization",
    "VisualizationOptions",
    "VisualizationRequest",
]

Record = list[float | None] | dict[str, float | None]


class VisualizationOptions(BaseModel):
    """Which part of the model to show, and the record whose path to trace."""

    model_config = ConfigDict(extra="forbid")

    tree: int = Field(default=0, ge=0, description="Index of the tree in an ensemble (0-based).")
    node: int = Field(default=0, ge=0, description="The node the view starts from (0 is the root).")
    depth: int | None = Field(default=None, ge=0, le=64, description="Levels shown below `node` (default 4).")
    maxNodes: int | None = Field(
        default=None, ge=1, le=MAX_NODES, description="The most nodes in the view (default and cap: the server's)."
    )
    record: Record | None = Field(
        default=None,
        description="A row of feature values (the model's input order, or keyed by feature name; null for missing) "
        "whose prediction path to trace.",
    )


class VisualizationRequest(VersionRef, VisualizationOptions):
    """The version (id, or application + canonicalName and optionally number, name or alias) and what to show."""

    format: Literal["json", "svg"] = Field(
        default="json",
        description="`svg` answers with a drawing: of the tree, or of a linear model's coefficients and the record's "
        "score (a waterfall from the intercept).",
    )


class TreeNodeRead(BaseModel):
    id: int
    depth: int
    parent: int | None
    leaf: bool
    left: int | None
    right: int | None
    feature: str | None
    featureIndex: int | None
    threshold: float | None
    categories: list[float] | None = Field(description="Categories sent left by a categorical split.")
    strict: bool = Field(description="A record goes left when its value is < threshold (else <=).")
    missingGoesLeft: bool | None
    samples: float | None = Field(
        description="Training rows reaching the node, where the model records them (a bootstrap forest's tree: "
        "the distinct rows of its bootstrap sample; `weight` counts the repeats)."
    )
    weight: float | None = Field(description="Weighted sample count, or the hessian sum (XGBoost's cover).")
    impurity: float | None
    gain: float | None
    classCounts: list[float] | None
    value: float | None = Field(description="Mean target (regression) or the raw score a boosted tree adds.")
    valueStd: float | None
    prediction: Any = Field(description="What the tree predicts at this node.")
    collapsed: bool = Field(description="Its children are outside this view: ask for it as `node`.")
    descendants: int = Field(description="Nodes below this one in the whole tree.")


class PathStepRead(BaseModel):
    node: int
    feature: str
    value: float | None
    threshold: float | None
    categories: list[float] | None
    wentLeft: bool
    missing: bool
    condition: str


class TreePathRead(BaseModel):
    record: dict[str, float | None] = Field(
        description="The record as the model sees it (after a pipeline's transforms)."
    )
    input: list[float | None] | None = Field(description="The record as sent, when a pipeline transformed it.")
    nodes: list[int]
    steps: list[PathStepRead]
    leaf: int
    prediction: Any = Field(description="This tree's prediction at the leaf.")
    rules: list[str]
    rule: str = Field(description='The path in plain words: "bmi > 0.03 and s5 <= 0.02 → 212.4".')
    modelPrediction: Any = Field(description="The whole model's prediction for the record.")


class _ViewHead(BaseModel):
    model: ServedModel
    framework: str
    estimatorClass: str
    predictionType: str
    featureNames: list[str]
    targetClasses: list[Any] | None
    pipeline: list[dict[str, str]] | None = Field(description="A scikit-learn Pipeline's steps, the model last.")


class TreeVisualizationRead(_ViewHead):
    kind: Literal["tree"]
    trees: int
    tree: int
    treeClass: Any = Field(description="The class this tree scores, in a multi-class boosted model.")
    treeScale: float = Field(description="What the ensemble multiplies this tree's output by.")
    combine: Literal["single", "mean", "sum"]
    root: int
    depth: int
    maxNodes: int
    truncated: bool = Field(description="Nodes were left out (by depth or maxNodes); collapsed ones say where.")
    totalNodes: int
    shownNodes: int
    treeDepth: int
    leaves: int
    strict: bool
    nodes: list[TreeNodeRead]
    path: TreePathRead | None
    data: dict[str, Any] | None = Field(
        description="Per node, the stored sample's rows there: split feature histograms by class (classifiers) or "
        "value scatter and summary (regressors); null when the model was saved without a sample."
    )


class LinearVisualizationRead(_ViewHead):
    kind: Literal["linear"]
    link: Literal["identity", "logistic", "logistic-ovr", "softmax", "log"] = Field(
        description="How scores become predictions: as they are, the logistic of the one score, the softmax of the "
        "class scores, each class's logistic normalized to sum to 1 (one-vs-rest), or exp (log-linked models)."
    )
    outputs: list[Any]
    coefficients: list[dict[str, Any]] = Field(description="Per output (class): intercept and weights by feature.")
    record: dict[str, Any] | None = Field(description="The record's score per output and each feature's part in it.")


Visualization = TreeVisualizationRead | LinearVisualizationRead

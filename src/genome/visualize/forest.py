"""What an extractor reads off a model: its trees (``Forest``) or its coefficients (``LinearModel``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from genome.errors import InvalidInput
from genome.visualize.graph import TreeGraph

__all__ = ["Forest", "LinearModel", "plain"]

PredictionType = Literal["classification", "regression"]


def plain(values: Any) -> list[Any]:
    """Labels or names as plain Python values (numpy scalars unwrapped), ready for JSON."""
    return [value.item() if hasattr(value, "item") else value for value in values]


@dataclass
class Forest:
    """The trees of a tree model, extracted one at a time as they are asked for (a boosted model may hold
    thousands).

    ``combine`` says how the model joins its trees' outputs: ``"single"`` (one tree), ``"mean"`` (a random
    forest averages its trees' predictions) or ``"sum"`` (boosting adds the trees' raw scores, each times its
    ``scale``, to a base score); ``classes_per_round`` is how many trees a multi-class boosted model grows per round
    (one per class).
    """

    framework: str
    estimator_class: str
    prediction_type: PredictionType
    n_trees: int
    n_features: int
    extract: Callable[[int], TreeGraph]
    combine: Literal["single", "mean", "sum"]
    feature_names: list[str] | None = None
    classes: list[Any] | None = None
    classes_per_round: int = 1
    _trees: dict[int, TreeGraph] = field(default_factory=dict, repr=False)

    def tree(self, index: int) -> TreeGraph:
        """The tree at ``index`` (0-based), extracted on first use."""
        if not 0 <= index < self.n_trees:
            raise InvalidInput(
                f"tree {index} does not exist: this {self.estimator_class} has {self.n_trees} trees (0-"
                f"{self.n_trees - 1})",
                field="tree",
            )
        if index not in self._trees:
            self._trees[index] = self.extract(index)
        return self._trees[index]


@dataclass
class LinearModel:
    """A linear or logistic model: one row of ``coefficients`` (and one intercept) per output.

    ``outputs`` names the rows: the classes of a multinomial model, the positive class of a binary one, or the
    target of a regression.
    """

    framework: str
    estimator_class: str
    prediction_type: PredictionType
    coefficients: np.ndarray  # outputs x features
    intercepts: np.ndarray  # outputs
    outputs: list[Any]
    feature_names: list[str] | None = None
    classes: list[Any] | None = None
    # how scores become predictions; "logistic-ovr": each class's logistic, normalized to sum to 1 (one-vs-rest)
    link: Literal["identity", "logistic", "logistic-ovr", "softmax", "log"] = "identity"

    @property
    def n_features(self) -> int:
        return int(self.coefficients.shape[1])

"""SHAP from what Genome reads off a model itself: trees as arrays (exact Tree SHAP) and coefficients (linear SHAP).

Spark ML models are served from the trees and coefficients Spark saved (``genome.visualize._spark``, no JVM), and
shap's own ``TreeExplainer`` refuses or misreads some scikit-learn ensembles the visualizer reads (a multi-class
``GradientBoostingClassifier``, boosting started from ``init="zero"``, the exponential loss's start, the categorical
splits of HistGradientBoosting). Their ``TreeGraph``s are handed to shap's TreeExplainer as arrays (its dict model),
which runs the same exact, path-dependent algorithm over them. What has to agree with the models' own predictions:

- shap sends a record left when ``x <= threshold``, as Spark and scikit-learn split (in the precision the library
  compares in: ``input_dtype``); XGBoost's ``x < threshold`` (``strict``) is ``<=`` the float just below.
- a categorical split has no array form that holds every category: for each record, the way it goes at each such
  node is decided first and written as a threshold of +inf (left) or -inf (right); a missing value follows
  ``children_default``, the way the model sends it.
- each node's cover (weighted rows, or XGBoost's hessian) is summed from the leaves up, so the two children's
  shares of a node add up to one; shap derives the inner nodes' values from the leaves with the same covers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.visualize.forest import Forest, LinearModel
from genome.visualize.graph import TreeGraph

__all__ = ["ArrayTrees", "Coefficients", "boosted_start", "read_spark", "sklearn_forest"]


def _covers(graph: TreeGraph, where: str) -> np.ndarray:
    given = graph.weight if graph.weight is not None else graph.samples
    if given is None:
        raise InvalidInput(f"{where} keeps no count of training rows per node, which Tree SHAP weighs paths by")
    cover = np.asarray(given, dtype=np.float64).copy()
    for node in reversed(graph.order):  # children before parents
        if graph.left[node] >= 0:
            cover[node] = cover[graph.left[node]] + cover[graph.right[node]]
    if not (cover[graph.left < 0] > 0).all():
        raise InvalidInput(f"{where} has a leaf no training row reached, so Tree SHAP cannot weigh its paths")
    return cover


def _arrays(graph: TreeGraph, values: np.ndarray, where: str) -> dict[str, np.ndarray]:
    """One tree in shap's dict form (``shap.explainers._tree.SingleTree``)."""
    leaf = graph.left < 0
    numeric = ~leaf
    numeric[list(graph.categories)] = False
    thresholds = np.where(numeric, graph.threshold, 0.0)
    if graph.strict:  # x < t is x <= the largest value below t, in the precision the model compares in
        below = np.nextafter(thresholds.astype(graph.input_dtype), graph.input_dtype(-np.inf))
        thresholds = np.where(numeric, below.astype(np.float64), 0.0)
    return {
        "children_left": graph.left.astype(np.int32),
        "children_right": graph.right.astype(np.int32),
        "children_default": np.where(leaf, -1, np.where(graph.missing_left, graph.left, graph.right)).astype(np.int32),
        "features": np.where(leaf, -1, graph.feature).astype(np.int32),
        "thresholds": thresholds.astype(np.float64),
        "values": np.ascontiguousarray(values, dtype=np.float64),
        "node_sample_weight": _covers(graph, where),
    }


def _leaf_values(forest: Forest, graph: TreeGraph, outputs: int, factor: float) -> np.ndarray:
    """What a tree adds to each output at each node, as the model joins its trees."""
    shares = 1.0 / forest.n_trees if forest.combine == "mean" else 1.0
    if graph.task == "classification":
        # class counts; Spark's forests (and single trees) average each tree's class proportions
        counts = np.asarray(graph.value, dtype=np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        proportions: np.ndarray = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        return proportions * shares
    values = np.zeros((graph.node_count, outputs))
    column = graph.class_index if graph.class_index is not None and outputs > 1 else 0
    values[:, column] = graph.value[:, 0] * graph.scale * factor * shares
    return values


class ArrayTrees:
    """shap's exact TreeExplainer over a ``Forest``'s trees handed to it as arrays.

    ``start`` is the raw score the model adds to its trees' sum (per output); ``factor`` multiplies every tree's
    output (a Spark GBT classifier's log-odds are twice its trees' sum). Explaining is not thread-safe: the
    categorical splits' thresholds are written per record.
    """

    def __init__(self, shap: Any, forest: Forest, start: Any = 0.0, factor: float = 1.0) -> None:
        classification = forest.prediction_type == "classification"
        first = forest.tree(0)
        if classification and first.task == "classification":
            outputs = len(forest.classes or []) or first.value.shape[1]
        else:
            outputs = forest.classes_per_round
        trees: list[dict[str, np.ndarray]] = []
        self.categorical_: list[tuple[int, int, int, frozenset[float]]] = []  # tree, node, feature, left categories
        for index in range(forest.n_trees):
            graph = forest.tree(index)
            where = f"tree {index} of this {forest.estimator_class}"
            trees.append(_arrays(graph, _leaf_values(forest, graph, outputs, factor), where))
            self.categorical_.extend(
                (index, node, int(graph.feature[node]), graph.categories[node]) for node in sorted(graph.categories)
            )
        self.input_dtype_ = first.input_dtype
        base = np.broadcast_to(np.asarray(start, dtype=np.float64).ravel(), (outputs,)).copy()
        model = {"trees": trees, "base_offset": base, "input_dtype": self.input_dtype_, "internal_dtype": np.float64}
        self.explainer_ = shap.TreeExplainer(model)  # no background: path-dependent, as for library models
        self.expected_value = self.explainer_.expected_value

    def shap_values(self, X: np.ndarray, check_additivity: bool = False) -> np.ndarray:
        """SHAP values, rows x features (x outputs, when there are several)."""
        if not self.categorical_:
            return np.asarray(self.explainer_.shap_values(X, check_additivity=False))
        return np.stack([self._one(row) for row in X])

    def _one(self, row: np.ndarray) -> np.ndarray:
        thresholds = self.explainer_.model.thresholds  # trees x nodes, as shap laid them out from our arrays
        values = row.astype(self.input_dtype_).astype(np.float64).tolist()
        for tree, node, feature, left in self.categorical_:
            thresholds[tree, node] = np.inf if values[feature] in left else -np.inf
        one: np.ndarray = np.asarray(self.explainer_.shap_values(row[None], check_additivity=False))[0]
        return one


class Coefficients:
    """Linear SHAP of a ``LinearModel``: each feature's coefficient times its distance from the background's mean
    (zero without a background), per output, as shap's ``LinearExplainer`` with an independent masker."""

    def __init__(self, linear: LinearModel, background: np.ndarray | None) -> None:
        self.coefficients_ = np.asarray(linear.coefficients, dtype=np.float64)
        self.mean_ = np.zeros(linear.n_features) if background is None else background.mean(axis=0)
        self.expected_value = self.coefficients_ @ self.mean_ + np.asarray(linear.intercepts, dtype=np.float64)

    def shap_values(self, X: np.ndarray, check_additivity: bool = False) -> np.ndarray:
        values: np.ndarray = (X - self.mean_)[:, :, None] * self.coefficients_.T[None]  # rows x features x outputs
        return values[:, :, 0] if values.shape[2] == 1 else values


def boosted_start(model: Any) -> np.ndarray | None:
    """The constant raw score a scikit-learn boosted ensemble starts from (per output); None when it starts from
    another model's prediction, which differs per record, or when the model is no boosted ensemble."""
    baseline = getattr(model, "_baseline_prediction", None)  # HistGradientBoosting*
    if baseline is not None:
        return np.asarray(baseline, dtype=np.float64).ravel()
    init = getattr(model, "init_", None)  # GradientBoosting*
    if init is None or not hasattr(model, "estimators_"):
        return None
    if isinstance(init, str):
        return np.zeros(model.estimators_.shape[1]) if init == "zero" else None
    from sklearn.dummy import DummyClassifier, DummyRegressor

    constant = isinstance(init, DummyRegressor) or (
        isinstance(init, DummyClassifier) and init.strategy in ("prior", "most_frequent", "constant")
    )
    if not constant:
        return None
    start = model._raw_predict_init(np.zeros((1, model.n_features_in_)))  # what decision_function starts from
    return np.asarray(start, dtype=np.float64).ravel()


def sklearn_forest(model: Any) -> tuple[Forest, np.ndarray] | None:
    """A scikit-learn boosted ensemble's trees as the visualizer reads them, with the score they start from; None
    for a model this path does not explain exactly."""
    from genome.visualize.visualizer import extract

    start = boosted_start(model)
    if start is None:
        return None
    try:
        forest = extract(model)
    except InvalidInput:
        return None
    return (forest, start) if isinstance(forest, Forest) and forest.combine == "sum" else None


def read_spark(model: Any) -> Forest | LinearModel:
    """A live pyspark model's trees or coefficients, read back from the files it saves, as the server reads a stored
    version's (training code has the JVM this needs)."""
    from genome.formats.registry import class_path
    from genome.visualize._spark import read_saved

    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "model.spark"
        model.write().save(str(saved))
        return read_saved(saved, class_path(model), None)  # reads every table at once: the folder may go

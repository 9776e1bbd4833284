"""scikit-learn trees, forests and boosted ensembles as ``TreeGraph``s; linear and logistic models' coefficients."""

from __future__ import annotations

from typing import Any

import numpy as np

from genome.formats.registry import class_path
from genome.visualize.forest import Forest, LinearModel
from genome.visualize.graph import TreeGraph

__all__ = ["extract"]


def _plain(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def _prediction_type(model: Any) -> str:
    return "classification" if hasattr(model, "classes_") else "regression"


def _tree(estimator: Any, *, boosted: bool = False, scale: float = 1.0, class_index: int | None = None) -> TreeGraph:
    """A fitted ``tree_`` (DecisionTree*, ExtraTree*, and the trees inside forests and GradientBoosting*)."""
    tree = estimator.tree_
    leaf = tree.children_left < 0
    weighted = tree.weighted_n_node_samples.astype(np.float64)
    values = tree.value.astype(np.float64)
    if boosted:
        task, value = "raw", values[:, 0, :1]
    elif hasattr(estimator, "classes_"):
        # scikit-learn >= 1.4 keeps class proportions; counts are proportions times the weighted sample count
        task, value = "classification", values[:, 0, :] * weighted[:, None]
    else:
        task, value = "regression", values[:, 0, :1]
    impurity = tree.impurity.astype(np.float64)
    squared = getattr(estimator, "criterion", None) in ("squared_error", "friedman_mse")
    return TreeGraph(
        feature=np.where(leaf, -1, tree.feature).astype(np.int64),
        threshold=np.where(leaf, np.nan, tree.threshold).astype(np.float64),
        left=tree.children_left.astype(np.int64),
        right=tree.children_right.astype(np.int64),
        missing_left=np.asarray(tree.missing_go_to_left, dtype=bool),
        value=value,
        task=task,  # type: ignore[arg-type]
        samples=tree.n_node_samples.astype(np.float64),
        weight=weighted,
        impurity=impurity,
        gain=_gain(tree, impurity, weighted, leaf),
        value_std=np.sqrt(np.maximum(impurity, 0.0)) if task != "classification" and squared else None,
        input_dtype=np.float32,  # scikit-learn's trees compare float32 features with float64 thresholds
        class_index=class_index,
        scale=scale,
    )


def _gain(tree: Any, impurity: np.ndarray, weighted: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """The weighted impurity decrease of each split, as ``feature_importances_`` sums it."""
    left, right = np.maximum(tree.children_left, 0), np.maximum(tree.children_right, 0)
    decrease = weighted * impurity - weighted[left] * impurity[left] - weighted[right] * impurity[right]
    return np.where(leaf, np.nan, decrease / weighted[0])


def _hist_tree(model: Any, predictor: Any, class_index: int | None) -> TreeGraph:
    """A HistGradientBoosting predictor: its ``nodes`` record array, categorical splits from its bitsets."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    categories = {}
    for node in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
        bits = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]]
        categories[int(node)] = frozenset(float(c) for c in range(32 * len(bits)) if int(bits[c // 32]) >> (c % 32) & 1)
    return TreeGraph(
        feature=np.where(leaf, -1, nodes["feature_idx"].astype(np.int64)),
        threshold=np.where(leaf | nodes["is_categorical"].astype(bool), np.nan, nodes["num_threshold"]),
        left=np.where(leaf, -1, nodes["left"].astype(np.int64)),  # unsigned in the record array
        right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
        missing_left=nodes["missing_go_to_left"].astype(bool),
        value=nodes["value"].astype(np.float64)[:, None],
        task="raw",
        samples=nodes["count"].astype(np.float64),
        gain=np.where(leaf, np.nan, nodes["gain"]).astype(np.float64),
        categories=categories,
        class_index=class_index,
    )


def _forest(model: Any, names: list[str] | None, n_trees: int, extract: Any, combine: str, per_round: int) -> Forest:
    classes = _plain(model.classes_) if hasattr(model, "classes_") else None
    return Forest(
        framework="sklearn",
        estimator_class=class_path(model),
        prediction_type=_prediction_type(model),  # type: ignore[arg-type]
        n_trees=n_trees,
        n_features=int(model.n_features_in_),
        extract=extract,
        combine=combine,  # type: ignore[arg-type]
        feature_names=names,
        classes=classes,
        classes_per_round=per_round,
    )


def _linear(model: Any, names: list[str] | None) -> LinearModel:
    coefficients = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercepts = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64), coefficients.shape[:1]).copy()
    classes = _plain(model.classes_) if hasattr(model, "classes_") else None
    logistic = type(model).__name__.startswith("LogisticRegression")
    if classes is not None:
        # a binary classifier keeps one row, which scores the second class
        outputs = classes[1:] if coefficients.shape[0] == 1 and len(classes) == 2 else classes
        link = ("logistic" if len(outputs) == 1 else "softmax") if logistic else "identity"
    else:
        outputs = ["prediction"] if coefficients.shape[0] == 1 else [f"target_{i}" for i in range(len(coefficients))]
        link = "identity"
    return LinearModel(
        framework="sklearn",
        estimator_class=class_path(model),
        prediction_type=_prediction_type(model),  # type: ignore[arg-type]
        coefficients=coefficients,
        intercepts=intercepts,
        outputs=outputs,
        feature_names=names,
        classes=classes,
        link=link,  # type: ignore[arg-type]
    )


def extract(model: Any, feature_names: list[str] | None) -> Forest | LinearModel | None:
    """The trees or coefficients of a fitted scikit-learn estimator; None for a kind this module does not read."""
    names = feature_names or (_plain(model.feature_names_in_) if hasattr(model, "feature_names_in_") else None)
    if hasattr(model, "tree_"):
        return _forest(model, names, 1, lambda index: _tree(model), "single", 1)
    if hasattr(model, "estimators_") and hasattr(model, "learning_rate"):  # GradientBoosting*: (rounds, K) trees
        grid = model.estimators_
        per_round = grid.shape[1]

        def boosted(index: int) -> TreeGraph:
            round_, k = divmod(index, per_round)
            return _tree(
                grid[round_, k], boosted=True, scale=model.learning_rate, class_index=k if per_round > 1 else None
            )

        return _forest(model, names, grid.size, boosted, "sum", per_round)
    if hasattr(model, "estimators_") and all(hasattr(tree, "tree_") for tree in model.estimators_):
        trees = model.estimators_
        return _forest(model, names, len(trees), lambda index: _tree(trees[index]), "mean", 1)
    if hasattr(model, "_predictors"):  # HistGradientBoosting*: a list per iteration, one predictor per class
        predictors = model._predictors
        per_round = len(predictors[0])

        def hist(index: int) -> TreeGraph:
            round_, k = divmod(index, per_round)
            return _hist_tree(model, predictors[round_][k], k if per_round > 1 else None)

        return _forest(model, names, len(predictors) * per_round, hist, "sum", per_round)
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        return _linear(model, names)
    return None

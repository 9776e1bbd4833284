"""LightGBM boosters (and the scikit-learn wrappers around them) as ``TreeGraph``s, read from ``dump_model()``.

A numerical split sends a record left when its value is ``<= threshold``; a categorical one (``==``) when it is one
of the listed categories. Missing values follow the split's ``missing_type``, as LightGBM's own predictor does:

- ``NaN``: a missing value goes to the ``default_left`` side;
- ``None``: a missing value is read as 0, so it goes left when ``0 <= threshold``;
- ``Zero`` (``zero_as_missing``): a missing value goes to the ``default_left`` side, exactly. LightGBM sends an
  exact 0 there too; a ``TreeGraph`` compares 0 with the threshold instead, which differs where the default side
  is not the side 0 falls on (a limit of the ``TreeGraph`` form).
- categorical splits send a missing value right.

Leaf values already include the learning rate and, in the first trees, the starting score; a random forest
(``boosting="rf"``) averages its rounds, so each tree's ``scale`` is one over their number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.formats.registry import class_path
from genome.visualize.forest import Forest, plain
from genome.visualize.graph import TreeGraph

__all__ = ["extract"]


def _missing_left(node: dict[str, Any]) -> bool:
    if node["decision_type"] == "==":
        return False
    if node.get("missing_type") == "None":  # LightGBM reads a missing value as 0
        return float(node["threshold"]) >= 0.0
    return bool(node["default_left"])


def _tree(structure: dict[str, Any], class_index: int | None, scale: float) -> TreeGraph:
    """One tree's ``tree_structure``, numbered depth-first from 0."""
    order: list[dict[str, Any]] = []
    stack = [structure]
    while stack:
        node = stack.pop()
        order.append(node)
        if "split_index" in node:
            stack.extend((node["right_child"], node["left_child"]))
    ids = {id(node): at for at, node in enumerate(order)}
    count = len(order)
    feature = np.full(count, -1, dtype=np.int64)
    threshold = np.full(count, np.nan)
    left = np.full(count, -1, dtype=np.int64)
    right = np.full(count, -1, dtype=np.int64)
    missing_left = np.zeros(count, dtype=bool)
    value, samples, weight, gain = (np.full(count, np.nan) for _ in range(4))
    categories = {}
    for at, node in enumerate(order):
        if "split_index" not in node:
            value[at] = node["leaf_value"]
            # a tree that is a single leaf records no count or weight
            samples[at], weight[at] = node.get("leaf_count", np.nan), node.get("leaf_weight", np.nan)
            continue
        feature[at] = node["split_feature"]
        left[at], right[at] = ids[id(node["left_child"])], ids[id(node["right_child"])]
        missing_left[at] = _missing_left(node)
        value[at], samples[at] = node["internal_value"], node["internal_count"]
        weight[at], gain[at] = node["internal_weight"], node["split_gain"]
        if node["decision_type"] == "==":
            categories[at] = frozenset(float(c) for c in str(node["threshold"]).split("||"))
        else:
            threshold[at] = node["threshold"]
    return TreeGraph(
        feature=feature,
        threshold=threshold,
        left=left,
        right=right,
        missing_left=missing_left,
        value=value[:, None],
        task="raw",
        samples=samples,
        weight=weight,
        gain=gain,
        categories=categories,
        class_index=class_index,
        scale=scale,
    )


def _linear(trees: list[dict[str, Any]]) -> bool:
    """Whether the model grew linear trees (``linear_tree``): each leaf then holds a linear model."""
    node = trees[0]["tree_structure"] if trees else {}
    while "left_child" in node:
        node = node["left_child"]
    return "leaf_coeff" in node


def extract(model: Any, feature_names: list[str] | None) -> Forest:
    """The trees of a ``lightgbm.Booster``, ``LGBMClassifier`` or ``LGBMRegressor``."""
    booster = model.booster_ if hasattr(model, "booster_") else model
    dump = booster.dump_model()
    per_round = int(dump["num_tree_per_iteration"])
    trees = dump["tree_info"]
    if _linear(trees):
        raise InvalidInput(
            f"{class_path(model)} grew linear trees, whose leaves are linear models: they cannot be visualized",
            field="model",
        )
    scale = per_round / len(trees) if dump.get("average_output") and trees else 1.0
    names = [str(name) for name in booster.feature_name()]
    if names == [f"Column_{i}" for i in range(len(names))]:  # LightGBM's invented names
        names = []

    def tree(i: int) -> TreeGraph:
        return _tree(trees[i]["tree_structure"], i % per_round if per_round > 1 else None, scale)

    classes = plain(model.classes_) if hasattr(model, "classes_") else None
    objective = str(dump.get("objective", "")).split(" ")[0]
    classification = classes is not None or objective in ("binary", "multiclass", "multiclassova")
    return Forest(
        framework="lightgbm",
        estimator_class=class_path(model),
        prediction_type="classification" if classification else "regression",
        n_trees=len(trees),
        n_features=int(dump["max_feature_idx"]) + 1,
        extract=tree,
        combine="sum",
        feature_names=feature_names or names or None,
        classes=classes,
        classes_per_round=per_round,
    )

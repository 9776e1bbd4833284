"""XGBoost boosters (and the scikit-learn wrappers around them) as ``TreeGraph``s, read from the booster's JSON
dump.

A split sends a record to ``yes`` when its value is ``< split_condition``, compared in float32, and a categorical
split when its value is one of the listed categories; a missing value goes to ``missing``. Leaf values already
include the learning rate; the base score is not part of any tree.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.formats.registry import class_path
from genome.visualize.forest import Forest, plain
from genome.visualize.graph import TreeGraph

__all__ = ["extract"]


def _feature_index(split: str, index: dict[str, int]) -> int:
    """The column a dump's split names: one of the booster's feature names, or ``f3`` when it has none."""
    if split in index:
        return index[split]
    if split.startswith("f") and split[1:].isdigit():
        return int(split[1:])
    raise InvalidInput(f"XGBoost split on unknown feature {split!r}", field="model")


def _tree(dump: str, index: dict[str, int], class_index: int | None, scale: float) -> TreeGraph:
    """One tree of ``get_dump(dump_format="json")``, renumbered depth-first from 0 (the dump's ids may have gaps)."""
    order: list[dict[str, Any]] = []
    ids: dict[int, int] = {}
    stack = [json.loads(dump)]
    while stack:
        node = stack.pop()
        ids[node["nodeid"]] = len(order)
        order.append(node)
        if "children" in node:
            left, right = _sides(node)
            stack.extend((right, left))
    count = len(order)
    feature = np.full(count, -1, dtype=np.int64)
    threshold = np.full(count, np.nan)
    left_ids = np.full(count, -1, dtype=np.int64)
    right_ids = np.full(count, -1, dtype=np.int64)
    missing_left = np.zeros(count, dtype=bool)
    value = np.full((count, 1), np.nan)  # XGBoost keeps no value at internal nodes
    gain = np.full(count, np.nan)
    categories = {}
    for at, node in enumerate(order):
        if "leaf" in node:
            value[at, 0] = float(np.float32(node["leaf"]))
            continue
        left, right = _sides(node)
        feature[at] = _feature_index(node["split"], index)
        left_ids[at], right_ids[at] = ids[left["nodeid"]], ids[right["nodeid"]]
        missing_left[at] = node["missing"] == left["nodeid"]
        gain[at] = node["gain"]
        if isinstance(node["split_condition"], list):
            categories[at] = frozenset(float(c) for c in node["split_condition"])
        else:
            # the dump prints float32 thresholds with all 9 digits, so the cast recovers the model's exact value
            threshold[at] = float(np.float32(node["split_condition"]))
    return TreeGraph(
        feature=feature,
        threshold=threshold,
        left=left_ids,
        right=right_ids,
        missing_left=missing_left,
        value=value,
        task="raw",
        weight=np.asarray([float(node["cover"]) for node in order]),
        gain=gain,
        categories=categories,
        strict=True,
        input_dtype=np.float32,
        class_index=class_index,
        scale=scale,
    )


def _sides(node: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (left, right) children: ``yes``, then ``no``."""
    children = {child["nodeid"]: child for child in node["children"]}
    return children[node["yes"]], children[node["no"]]


def extract(model: Any, feature_names: list[str] | None) -> Forest | None:
    """The trees of an ``xgboost.Booster``, ``XGBClassifier`` or ``XGBRegressor``; None for a linear booster."""
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    config = json.loads(booster.save_config())["learner"]
    gradient = config["gradient_booster"]
    if gradient["name"] == "gblinear":
        return None
    params = config["learner_model_param"]
    if config.get("learner_train_param", {}).get("multi_strategy") == "multi_output_tree":
        raise InvalidInput(
            f"{class_path(model)} grows vector-leaf trees (multi_strategy='multi_output_tree'), which XGBoost cannot "
            "dump: only one-output-per-tree models can be visualized",
            field="model",
        )
    if int(params.get("num_target", "1")) > 1:
        raise InvalidInput(
            f"{class_path(model)} predicts {params['num_target']} targets: only single-target XGBoost models can be "
            "visualized",
            field="model",
        )
    dart = gradient["name"] == "dart"
    parallel = int((gradient["gbtree"] if dart else gradient)["gbtree_model_param"]["num_parallel_tree"])
    n_classes = int(params["num_class"])
    per_class = n_classes if n_classes > 1 else 1
    weights = None
    if dart:  # DART weighs each tree at prediction time; the weights live in the model, not its config
        weights = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
    dumps = booster.get_dump(dump_format="json", with_stats=True)
    names = list(booster.feature_names) if booster.feature_names else None
    index = {name: i for i, name in enumerate(names or [])}

    def tree(i: int) -> TreeGraph:
        # a round grows num_parallel_tree trees for each class in turn
        class_index = (i // parallel) % per_class if per_class > 1 else None
        return _tree(dumps[i], index, class_index, float(weights[i]) if weights else 1.0)

    classes = plain(model.classes_) if hasattr(model, "classes_") else None
    objective = config["objective"]["name"]
    classification = classes is not None or objective.startswith(("binary:", "multi:"))
    return Forest(
        framework="xgboost",
        estimator_class=class_path(model),
        prediction_type="classification" if classification else "regression",
        n_trees=len(dumps),
        n_features=int(booster.num_features()),
        extract=tree,
        combine="sum",
        feature_names=feature_names or names,
        classes=classes,
        classes_per_round=per_class,
    )

"""TreeGraph: one framework-neutral form of a fitted decision tree, and what can be read off it.

Every extractor (sklearn, XGBoost, LightGBM, Spark ML) turns one tree of its model into a ``TreeGraph``: arrays
indexed by node id, the root at 0, ids in depth-first order. Walking a record, the window of nodes a response
shows and the plain-language rules of a path are written once, here, for all of them.

A split sends a record left when its value is ``<= threshold`` (``< threshold`` where ``strict``, as XGBoost
splits), when it is one of the node's ``categories`` (categorical splits), or, for a missing value, when
``missing_left`` says so.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from genome.errors import InvalidInput

__all__ = ["TreeGraph", "Window", "format_number"]

Task = Literal["classification", "regression", "raw"]
_WALK_ROWS = 8  # up to this many rows, walking each one beats vectorizing


def format_number(value: float) -> str:
    """A short, readable number: 4 significant digits (``0.03``, ``212.4``, ``1.235e+05``)."""
    return f"{value:.4g}"


@dataclass(frozen=True)
class Window:
    """The nodes a response shows: breadth-first from ``root``, at most ``depth`` levels and ``max_nodes`` nodes."""

    root: int
    depth: int
    nodes: list[int]
    truncated: bool  # some node below the root was left out, by depth or by the node budget


@dataclass
class TreeGraph:
    """One decision tree as arrays indexed by node id (0 is the root; -1 marks "no child" at leaves).

    ``value`` holds, per node: class counts (``task="classification"``, one column per class, weighted when the
    model weighs samples), the mean target (``"regression"``), or the raw score the tree adds to the ensemble's
    sum (``"raw"``, boosted trees; at internal nodes the value the node would have as a leaf, where known).
    """

    feature: np.ndarray  # int64, -1 at leaves
    threshold: np.ndarray  # float64, nan at leaves and categorical splits
    left: np.ndarray  # int64, -1 at leaves
    right: np.ndarray  # int64, -1 at leaves
    missing_left: np.ndarray  # bool: where a missing value goes
    value: np.ndarray  # float64, nodes x outputs
    task: Task
    samples: np.ndarray | None = None  # training rows reaching each node
    weight: np.ndarray | None = None  # weighted sample count, or the hessian sum (XGBoost's cover)
    impurity: np.ndarray | None = None
    gain: np.ndarray | None = None
    value_std: np.ndarray | None = None  # std of the target at each node (regression trees)
    categories: dict[int, frozenset[float]] = field(default_factory=dict)  # left categories of categorical splits
    strict: bool = False  # a record goes left when value < threshold (XGBoost) instead of <=
    input_dtype: type = np.float64  # the precision the library compares in (sklearn trees cast X to float32)
    class_index: int | None = None  # the class a tree of a multi-class boosted model scores
    scale: float = 1.0  # what the ensemble multiplies this tree's output by (learning rate, Spark GBT weight)

    def __post_init__(self) -> None:
        count = len(self.feature)
        self.depth = np.zeros(count, dtype=np.int64)
        self.parent = np.full(count, -1, dtype=np.int64)
        self._lists = (
            self.feature.tolist(),
            self.threshold.tolist(),
            self.left.tolist(),
            self.right.tolist(),
            self.missing_left.tolist(),
        )
        order = self.order = self._preorder()
        for node in order:
            for child in (self.left[node], self.right[node]):
                if child >= 0:
                    self.parent[child] = node
                    self.depth[child] = self.depth[node] + 1
        # descendants (the node included), children before parents: reverse preorder
        self.size = np.ones(count, dtype=np.int64)
        for node in reversed(order):
            if self.parent[node] >= 0:
                self.size[self.parent[node]] += self.size[node]

    @property
    def node_count(self) -> int:
        return len(self.feature)

    def is_leaf(self, node: int) -> bool:
        return bool(self.left[node] < 0)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max()) if self.node_count else 0

    def _preorder(self) -> list[int]:
        order, stack, seen = [], [0], set()
        while stack:
            node = stack.pop()
            if node in seen or not 0 <= node < len(self.feature):  # only a corrupt model links nodes this way
                raise InvalidInput(
                    f"the model's tree is not a tree: node {node} is reached twice or missing", field="model"
                )
            seen.add(node)
            order.append(node)
            if self.left[node] >= 0:
                stack.extend((int(self.right[node]), int(self.left[node])))
        return order

    def goes_left(self, node: int, values: np.ndarray) -> np.ndarray:
        """For each value of the node's feature, whether it goes to the left child."""
        values = np.asarray(values, dtype=self.input_dtype).astype(np.float64)
        missing = np.isnan(values)
        if node in self.categories:
            left = np.isin(values, list(self.categories[node]))
        elif self.strict:
            left = values < self.threshold[node]
        else:
            left = values <= self.threshold[node]
        return np.where(missing, bool(self.missing_left[node]), left)

    def path(self, record: np.ndarray) -> list[int]:
        """The node ids one record visits, root to leaf (walked on plain lists: a realtime view walks every tree
        of an ensemble for one record, where numpy's per-call cost would dominate)."""
        feature, threshold, left, right, missing_left = self._lists
        values = np.asarray(record, dtype=self.input_dtype).astype(np.float64).tolist()
        nodes, node = [0], 0
        while left[node] >= 0:
            value = values[feature[node]]
            if value != value:  # NaN: missing
                went_left = missing_left[node]
            elif node in self.categories:
                went_left = value in self.categories[node]
            else:
                went_left = value < threshold[node] if self.strict else value <= threshold[node]
            node = left[node] if went_left else right[node]
            nodes.append(node)
        return nodes

    def apply(self, table: np.ndarray) -> np.ndarray:
        """The leaf each row of ``table`` ends in, level by level for all rows at once (a few rows walk alone)."""
        if table.shape[0] <= _WALK_ROWS:
            return np.asarray([self.path(row)[-1] for row in table], dtype=np.int64)
        nodes = np.zeros(table.shape[0], dtype=np.int64)
        active = np.flatnonzero(self.left[nodes] >= 0)
        while len(active):
            current = nodes[active]
            values = table[active, self.feature[current]].astype(self.input_dtype).astype(np.float64)
            left = values < self.threshold[current] if self.strict else values <= self.threshold[current]
            for node in self.categories.keys() & set(current.tolist()):
                at = current == node
                left[at] = np.isin(values[at], list(self.categories[node]))
            left = np.where(np.isnan(values), self.missing_left[current], left)
            nodes[active] = np.where(left, self.left[current], self.right[current])
            active = active[self.left[nodes[active]] >= 0]
        return nodes

    def reach(self, table: np.ndarray, nodes: list[int]) -> dict[int, np.ndarray]:
        """Which rows of ``table`` reach each of ``nodes``, as boolean masks."""
        wanted = set(nodes)
        for node in nodes:  # a node's mask comes from its ancestors'
            parent = int(self.parent[node])
            while parent >= 0 and parent not in wanted:
                wanted.add(parent)
                parent = int(self.parent[parent])
        masks = {0: np.ones(table.shape[0], dtype=bool)}
        for node in self.order:
            if node not in masks or self.left[node] < 0:
                continue
            children = [int(self.left[node]), int(self.right[node])]
            if not any(child in wanted for child in children):
                continue
            left = self.goes_left(node, table[:, self.feature[node]])
            masks[children[0]] = masks[node] & left
            masks[children[1]] = masks[node] & ~left
        return {node: masks[node] for node in nodes}

    def window(self, root: int, depth: int, max_nodes: int) -> Window:
        """Breadth-first from ``root``: ``depth`` levels below it at most, ``max_nodes`` nodes at most."""
        nodes: list[int] = []
        queue = deque([root])
        truncated = False
        while queue:
            node = queue.popleft()
            if len(nodes) == max_nodes:
                truncated = True
                break
            nodes.append(node)
            if self.left[node] < 0:
                continue
            if self.depth[node] - self.depth[root] >= depth:
                truncated = True
                continue
            queue.extend((int(self.left[node]), int(self.right[node])))
        return Window(root=root, depth=depth, nodes=nodes, truncated=truncated)

    def leaf_prediction(self, node: int, classes: list[Any] | None) -> Any:
        """What the tree predicts at a node: a class (classification), a mean or a raw score."""
        if self.task == "classification":
            index = int(np.argmax(self.value[node]))
            return classes[index] if classes and index < len(classes) else index
        return float(self.value[node][0])

    def condition(self, node: int, went_left: bool, names: list[str]) -> str:
        """The test a record passed at a split, in words: ``bmi <= 0.03``, ``city in {1, 4}``."""
        name = names[self.feature[node]]
        if not (node in self.categories or np.isfinite(self.threshold[node])):
            return f"{name} {'is not missing' if went_left else 'is missing'}"  # HistGradientBoosting's NaN splits
        if node in self.categories:
            listed = ", ".join(format_number(c) for c in sorted(self.categories[node]))
            return f"{name} {'in' if went_left else 'not in'} {{{listed}}}"
        ops = ("<", ">=") if self.strict else ("<=", ">")
        return f"{name} {ops[0] if went_left else ops[1]} {format_number(self.threshold[node])}"

    def rules(self, path: list[int], names: list[str], record: np.ndarray | None = None) -> list[str]:
        """The conditions of a path, one per feature: repeated tests of one feature merge into one interval; a
        feature the ``record`` lacks (NaN) reads "is missing", whichever way the split sent it."""
        bounds: dict[int, list[tuple[float, bool] | None]] = {}  # feature -> [lower, upper], (value, inclusive)
        categorical: dict[int, list[str]] = {}
        order: list[int] = []
        for node, child in itertools.pairwise(path):
            feature = int(self.feature[node])
            if feature not in order:
                order.append(feature)
            went_left = child == self.left[node]
            if record is not None and np.isnan(record[feature]):
                categorical[feature] = [f"{names[feature]} is missing"]
                continue
            if node in self.categories or not np.isfinite(self.threshold[node]):
                categorical.setdefault(feature, []).append(self.condition(node, went_left, names))
                continue
            low, high = bounds.setdefault(feature, [None, None])
            threshold = float(self.threshold[node])
            # <= splits: left is value <= t (upper, inclusive), right value > t (lower, exclusive); strict flips both
            if went_left:
                candidate = (threshold, not self.strict)
                if high is None or threshold < high[0]:
                    bounds[feature][1] = candidate
            else:
                candidate = (threshold, self.strict)
                if low is None or threshold > low[0]:
                    bounds[feature][0] = candidate
        rules = []
        for feature in order:
            rules.extend(categorical.get(feature, []))
            if feature not in bounds:
                continue
            low, high = bounds[feature]
            name = names[feature]
            upper = f"{'<=' if high[1] else '<'} {format_number(high[0])}" if high else ""
            if low and high:
                rules.append(f"{format_number(low[0])} {'<=' if low[1] else '<'} {name} {upper}")
            elif low:
                rules.append(f"{name} {'>=' if low[1] else '>'} {format_number(low[0])}")
            else:
                rules.append(f"{name} {upper}")
        return rules

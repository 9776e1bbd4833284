"""``ModelVisualizer``: the inside of a fitted tree or linear model, as JSON-ready data a UI or the SVG draws.

Fit once per model version (extraction and the stored sample's predictions are kept), then ask for any tree,
window and record; each answer is bounded by the visualizer's ``max_nodes``.
"""

from __future__ import annotations

import importlib
import itertools
import math
from dataclasses import replace
from typing import Any

import numpy as np

from genome.errors import InvalidInput, NotFitted
from genome.explain.tabular import check_entries
from genome.formats.registry import class_path, module_root
from genome.visualize.forest import Forest, LinearModel
from genome.visualize.graph import TreeGraph, format_number

__all__ = ["MAX_NODES", "ModelVisualizer", "extract"]

MAX_NODES = 4095
_BINS = 10
_SCATTER_POINTS = 100
_MAX_CELLS = 250_000  # numbers one tree view may hold, whatever the node budget (~2-3 MB of JSON)
_NODE_FIELDS = 20 + 2 * _SCATTER_POINTS  # a node's own fields, and a regressor's scatter with a sample
# module root -> the module reading that framework's models (Spark models are read from their saved files instead)
_EXTRACTORS = {"sklearn": "_sklearn", "xgboost": "_xgboost", "lightgbm": "_lightgbm"}


def extract(model: Any, feature_names: list[str] | None = None) -> Forest | LinearModel:
    """The trees or coefficients of a fitted model; an unsupported model raises ``InvalidInput`` naming its type."""
    if isinstance(model, Forest | LinearModel):  # read from a saved model's files (Spark ML)
        return model if model.feature_names or not feature_names else replace(model, feature_names=feature_names)
    reader = _EXTRACTORS.get(module_root(model))
    extracted: Forest | LinearModel | None = (
        importlib.import_module(f"genome.visualize.{reader}").extract(model, feature_names) if reader else None
    )
    if extracted is None:
        raise InvalidInput(
            f"{class_path(model)} cannot be visualized: the visualizer reads decision trees, random forests and "
            "gradient-boosted trees of scikit-learn, XGBoost, LightGBM and Spark ML (saved with the Model Store), "
            "and scikit-learn's linear and logistic models",
            field="model",
        )
    return extracted


def _number(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _label(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class ModelVisualizer:
    """Reads a fitted model's trees (or coefficients) and answers views of them.

    Args:
        depth: levels shown below the window's root when a request does not say.
        max_nodes: the most nodes one view holds, whatever the request asks (at most ``MAX_NODES``).

    Example:
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> model = DecisionTreeRegressor(max_depth=1).fit([[0.0], [1.0]], [0.0, 2.0])
        >>> view = ModelVisualizer().fit(model, feature_names=["x"]).visualize(record=[0.9])
        >>> view["path"]["rule"]
        'x > 0.5 → 2'
    """

    def __init__(self, depth: int = 4, max_nodes: int = 255) -> None:
        self.depth = depth
        self.max_nodes = max_nodes

    def fit(
        self,
        model: Any,
        *,
        feature_names: list[str] | None = None,
        target_classes: list[Any] | None = None,
        sample: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> ModelVisualizer:
        """Extract the model (the final step of a scikit-learn Pipeline, after its transforms) and, given a stored
        ``sample`` of inputs, keep it in the model's own feature space with the labels to group it by: its
        ``targets`` when given, else the model's predictions."""
        steps = getattr(model, "steps", None)
        self.transforms_ = model[:-1] if steps else None
        self.pipeline_ = [{"name": name, "estimatorClass": class_path(step)} for name, step in steps] if steps else None
        self.input_names_ = feature_names or _names_in(model)
        self.extracted_ = extract(steps[-1][1] if steps else model, self._model_space_names())
        self.model_ = None if isinstance(model, Forest | LinearModel) else model
        n_features = self.extracted_.n_features
        names = self.extracted_.feature_names
        if names is not None and len(names) != n_features:
            raise InvalidInput(
                f"the model takes {n_features} features but {len(names)} feature names were given",
                field="feature_names",
            )
        self.feature_names_ = names or [f"feature_{i}" for i in range(n_features)]
        self.input_names_ = self.input_names_ or (names if self.transforms_ is None else None)
        codes = self.extracted_.classes
        # the saved class names, when they name the model's classes one for one
        fits = target_classes and (not codes or len(target_classes) == len(codes))
        # (a regressor's "target_classes" name its target, as in the seed's examples: no classes to show)
        classification = self.extracted_.prediction_type == "classification"
        self.classes_ = (target_classes if fits else codes) if classification else None
        self.sample_ = self.groups_ = self.group_by_ = None
        if sample is not None and len(sample) and isinstance(self.extracted_, Forest):
            table = self._check_sample(sample, targets)
            self.sample_ = self._model_space(table)
            self.group_by_ = "target" if targets is not None else "prediction"
            self.groups_ = (
                self._class_names(np.asarray(targets).ravel()) if targets is not None else self._predict(table)
            )
            # one set of histogram bins per feature, so a node's histogram compares with its parent's
            self.edges_ = [_edges(column) for column in self.sample_.T]
        return self

    def _n_inputs(self) -> int:
        return getattr(self.model_, "n_features_in_", None) or self.extracted_.n_features

    def _check_sample(self, sample: Any, targets: Any) -> np.ndarray:
        """The stored sample as a float table of the model's inputs, with one target per row when given."""
        table = np.asarray(sample, dtype=float)
        if table.ndim != 2 or table.shape[1] != self._n_inputs():
            raise InvalidInput(
                f"the stored sample has shape {table.shape}; the model takes rows of {self._n_inputs()} features",
                field="samples",
            )
        if targets is not None and len(np.asarray(targets).ravel()) != table.shape[0]:
            raise InvalidInput(
                f"the stored sample has {table.shape[0]} rows but a different number of targets", field="samples"
            )
        return table

    def _class_names(self, groups: np.ndarray) -> np.ndarray:
        """Labels the model knows by code (0, 1, 2) shown by the names it was saved with (``target_classes``)."""
        codes, names = self.extracted_.classes, self.classes_
        if self.extracted_.prediction_type != "classification" or not codes or not names or len(codes) != len(names):
            return groups
        named = {str(code): name for code, name in zip(codes, names, strict=True)}
        return np.asarray([named.get(str(_label(g)), _label(g)) for g in groups], dtype=object)

    def _model_space_names(self) -> list[str] | None:
        if self.transforms_ is None:
            return self.input_names_
        try:
            return [str(name) for name in self.transforms_.get_feature_names_out(self.input_names_)]
        except (AttributeError, ValueError, TypeError):  # a transform that cannot name its outputs
            return None

    def _as_input(self, table: np.ndarray) -> Any:
        """A table as the model was fitted on it: a pipeline fitted on a DataFrame picks its columns by name."""
        names = getattr(self.model_, "feature_names_in_", None)
        if names is None or self.transforms_ is None:
            return table
        import pandas

        return pandas.DataFrame(table, columns=list(names))

    def _model_space(self, table: np.ndarray) -> np.ndarray:
        if self.transforms_ is None:
            return table
        transformed = self.transforms_.transform(self._as_input(table))
        return np.asarray(transformed.toarray() if hasattr(transformed, "toarray") else transformed, dtype=float)

    def _predict(self, table: np.ndarray) -> np.ndarray:
        """The model's predictions, one per row, classes by the names the model was saved with. Trees that vote or
        average are combined here from their extracted form (exact, and far quicker for one row than a forest's own
        ``predict``); boosted models, whose base score only their library knows, ask the library."""
        model, extracted = self.model_, self.extracted_
        if model is None or (isinstance(extracted, Forest) and extracted.combine != "sum"):
            return self._class_names(_combined(extracted, self._model_space(table), extracted.classes))
        if module_root(model) == "xgboost" and not hasattr(model, "get_booster"):  # a raw Booster takes a DMatrix
            import xgboost

            predicted = np.asarray(model.predict(xgboost.DMatrix(table, feature_names=model.feature_names)))
        else:
            predicted = np.asarray(model.predict(self._as_input(table)))
        if extracted.prediction_type == "classification" and predicted.dtype.kind == "f":
            # raw boosters answer with probabilities: per class, or of the second class
            predicted = _picks(predicted.reshape(len(table), -1), extracted.classes, 0.5)
        return self._class_names(predicted.ravel())

    def _check_fitted(self) -> None:
        if not hasattr(self, "extracted_"):
            raise NotFitted("call fit(model) before visualize()")

    def visualize(
        self,
        *,
        tree: int = 0,
        node: int = 0,
        depth: int | None = None,
        max_nodes: int | None = None,
        record: list[float | None] | dict[str, float | None] | None = None,
    ) -> dict[str, Any]:
        """A view of tree ``tree`` from node ``node`` (``depth`` levels, at most ``max_nodes`` nodes), with the
        path ``record`` takes; for a linear model, its coefficients and the record's contributions."""
        self._check_fitted()
        row = self._record(record) if record is not None else None
        head = {
            "framework": self.extracted_.framework,
            "estimatorClass": self.extracted_.estimator_class,
            "predictionType": self.extracted_.prediction_type,
            "featureNames": self.feature_names_,
            "targetClasses": self.classes_,
            "pipeline": self.pipeline_,
        }
        if isinstance(self.extracted_, LinearModel):
            return {"kind": "linear", **head, **self._linear(self.extracted_, row)}
        return {"kind": "tree", **head, **self._tree(self.extracted_, tree, node, depth, max_nodes, row)}

    def _record(self, record: list[float | None] | dict[str, float | None]) -> tuple[np.ndarray, np.ndarray]:
        """The record as the caller sent it (the pipeline's input) and in the model's feature space."""
        raw = check_entries([record], self.input_names_, self._n_inputs(), field="record")
        if np.isinf(raw).any():
            raise InvalidInput("record values must be finite numbers, or null for a missing value", field="record")
        return raw, self._library_call(lambda: self._model_space(raw)[0])

    def _library_call(self, call: Any) -> Any:
        """Run the model's own code on a caller's record: what it refuses (a missing value it cannot take, a column
        it cannot read) is the caller's 400, not a server error."""
        try:
            return call()
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InvalidInput(f"the model cannot take this record: {exc}", field="record") from exc

    def _tree(
        self,
        forest: Forest,
        index: int,
        node: int,
        depth: int | None,
        max_nodes: int | None,
        row: tuple[np.ndarray, np.ndarray] | None,
    ) -> dict[str, Any]:
        graph = forest.tree(index)
        if not 0 <= node < graph.node_count:
            raise InvalidInput(
                f"node {node} does not exist: tree {index} has nodes 0-{graph.node_count - 1}", field="node"
            )
        budget = min(max_nodes or self.max_nodes, self.max_nodes, MAX_NODES, self._node_cap())
        window = graph.window(node, self.depth if depth is None else depth, budget)
        shown = set(window.nodes)
        classes = self.classes_ or []
        tree_class = None
        if graph.class_index is not None:
            known = graph.class_index < len(classes)
            tree_class = _label(classes[graph.class_index]) if known else graph.class_index
        path = self._path(graph, row) if row is not None else None
        data_nodes = list(dict.fromkeys(window.nodes + (path["nodes"] if path else [])))  # the path's leaf too
        return {
            "trees": forest.n_trees,
            "tree": index,
            "treeClass": tree_class,
            "treeScale": graph.scale,
            "combine": forest.combine,
            "root": window.root,
            "depth": window.depth,
            "maxNodes": budget,
            "truncated": window.truncated,
            "totalNodes": graph.node_count,
            "shownNodes": len(window.nodes),
            "treeDepth": graph.max_depth,
            "leaves": int((graph.left < 0).sum()),
            "strict": graph.strict,
            "nodes": [self._node(graph, n, shown) for n in window.nodes],
            "path": path,
            "data": self._data(graph, data_nodes, self.sample_, self.groups_) if self.sample_ is not None else None,
        }

    def _node_cap(self) -> int:
        """Nodes that fit the view's bound on numbers (``_MAX_CELLS``): a node carries a count per class, and with
        a stored sample a histogram per class, so a model of many classes shows fewer nodes per view."""
        classes = len(self.classes_ or []) or 1
        per_node = _NODE_FIELDS + classes * (1 + (_BINS + 1 if self.sample_ is not None else 0))
        return max(1, _MAX_CELLS // per_node)

    def _node(self, graph: TreeGraph, node: int, shown: set[int]) -> dict[str, Any]:
        leaf = graph.is_leaf(node)
        left, right = int(graph.left[node]), int(graph.right[node])
        counts = graph.value[node] if graph.task == "classification" else None
        value = None if graph.task == "classification" else _number(graph.value[node][0])
        has_prediction = graph.task == "classification" or value is not None
        return {
            "id": node,
            "depth": int(graph.depth[node]),
            "parent": None if graph.parent[node] < 0 else int(graph.parent[node]),
            "leaf": leaf,
            "left": None if leaf else left,
            "right": None if leaf else right,
            "feature": None if leaf else self.feature_names_[graph.feature[node]],
            "featureIndex": None if leaf else int(graph.feature[node]),
            "threshold": None if leaf else _number(graph.threshold[node]),
            "categories": sorted(graph.categories[node]) if node in graph.categories else None,
            "strict": graph.strict,
            "missingGoesLeft": None if leaf else bool(graph.missing_left[node]),
            "samples": _at(graph.samples, node),
            "weight": _at(graph.weight, node),
            "impurity": _at(graph.impurity, node),
            "gain": _at(graph.gain, node),
            "classCounts": None if counts is None else [float(c) for c in counts],
            "value": value,
            "valueStd": _at(graph.value_std, node),
            "prediction": _label(graph.leaf_prediction(node, self.classes_)) if has_prediction else None,
            "collapsed": not leaf and (left not in shown or right not in shown),
            "descendants": int(graph.size[node] - 1),
        }

    def _path(self, graph: TreeGraph, row: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        raw, values = row
        nodes = graph.path(values)
        steps = []
        for node, child in itertools.pairwise(nodes):
            value = float(values[graph.feature[node]])
            went_left = child == graph.left[node]
            steps.append(
                {
                    "node": node,
                    "feature": self.feature_names_[graph.feature[node]],
                    "value": _number(value),
                    "threshold": _number(graph.threshold[node]),
                    "categories": sorted(graph.categories[node]) if node in graph.categories else None,
                    "wentLeft": bool(went_left),
                    "missing": bool(np.isnan(value)),
                    "condition": graph.condition(node, bool(went_left), self.feature_names_),
                }
            )
        leaf = nodes[-1]
        prediction = _label(graph.leaf_prediction(leaf, self.classes_))
        rules = graph.rules(nodes, self.feature_names_, values)
        shown = prediction if isinstance(prediction, str) else _shown(prediction)
        return {
            "record": {name: _number(v) for name, v in zip(self.feature_names_, values, strict=True)},
            "input": raw[0].tolist() if self.transforms_ is not None else None,
            "nodes": nodes,
            "steps": steps,
            "leaf": leaf,
            "prediction": prediction,
            "rules": rules,
            "rule": f"{' and '.join(rules) or 'always'} → {shown}",
            "modelPrediction": _label(self._library_call(lambda: self._predict(raw))[0]),
        }

    def _data(self, graph: TreeGraph, nodes: list[int], table: np.ndarray, groups: Any) -> dict[str, Any]:
        classification = self.extracted_.prediction_type == "classification"
        labels: list[Any] = []
        if classification:
            order = {str(name): index for index, name in enumerate(self.classes_ or [])}
            labels = sorted({_label(g) for g in groups}, key=lambda g: (order.get(str(g), len(order)), str(g)))
        masks = graph.reach(table, nodes)
        described = {}
        for node in nodes:
            mask = masks[node]
            entry: dict[str, Any] = {"rows": int(mask.sum())}
            if graph.is_leaf(node):
                if classification:
                    entry["classCounts"] = {str(g): int((groups[mask] == g).sum()) for g in labels}
                else:
                    entry["summary"] = _summary(groups[mask].astype(float))
            else:
                feature = int(graph.feature[node])
                column, edges = table[:, feature], self.edges_[feature]
                if classification:
                    counts = {str(g): np.histogram(column[mask & (groups == g)], edges)[0].tolist() for g in labels}
                    entry["histogram"] = {
                        "feature": self.feature_names_[feature],
                        "edges": edges.tolist(),
                        "counts": counts,
                    }
                else:
                    entry["scatter"] = _scatter(column[mask], groups[mask].astype(float), self.feature_names_[feature])
                    entry["summary"] = _summary(groups[mask].astype(float))
            described[str(node)] = entry
        groups_shown = labels if classification else None
        return {"rows": int(table.shape[0]), "groupBy": self.group_by_, "groups": groups_shown, "nodes": described}

    def _linear(self, linear: LinearModel, row: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
        names = self.feature_names_
        coefficients = [
            {
                "output": _label(output),
                "intercept": float(intercept),
                "weights": {name: float(w) for name, w in zip(names, weights, strict=True)},
            }
            for output, intercept, weights in zip(linear.outputs, linear.intercepts, linear.coefficients, strict=True)
        ]
        view: dict[str, Any] = {"link": linear.link, "outputs": linear.outputs, "coefficients": coefficients}
        view["record"] = None
        if row is not None:
            raw, values = row
            if np.isnan(values).any():  # a coefficient times a missing value is no contribution
                missing = [name for name, v in zip(names, values, strict=True) if np.isnan(v)]
                raise InvalidInput(
                    f"the model cannot take this record: a linear model needs every feature's value, and "
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing",
                    field="record",
                )
            scores = linear.coefficients @ values + linear.intercepts
            contributions = linear.coefficients * values
            view["record"] = {
                "values": {name: _number(v) for name, v in zip(names, values, strict=True)},
                "input": raw[0].tolist() if self.transforms_ is not None else None,
                "outputs": [
                    {
                        "output": _label(output),
                        "score": float(score),
                        "contributions": {name: float(c) for name, c in zip(names, parts, strict=True)},
                    }
                    for output, score, parts in zip(linear.outputs, scores, contributions, strict=True)
                ],
                "modelPrediction": _label(self._library_call(lambda: self._predict(raw))[0]),
            }
        return view


def _edges(column: np.ndarray) -> np.ndarray:
    finite = column[np.isfinite(column)]
    return np.histogram_bin_edges(finite if len(finite) else [0.0], bins=_BINS)


def _names_in(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _at(values: np.ndarray | None, node: int) -> float | None:
    return None if values is None else _number(values[node])


def _shown(value: Any) -> str:
    return format_number(value) if isinstance(value, float) else str(value)


def _summary(values: np.ndarray) -> dict[str, float | int | None]:
    values = values[np.isfinite(values)]  # a sample's target may be missing
    if not len(values):
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "count": len(values),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _scatter(x: np.ndarray, y: np.ndarray, feature: str) -> dict[str, Any]:
    """At most ``_SCATTER_POINTS`` (x, y) points, evenly spaced through the rows so the view stays small."""
    known = np.isfinite(y)
    x, y = x[known], y[known]
    keep = np.linspace(0, len(x) - 1, min(len(x), _SCATTER_POINTS)).astype(int) if len(x) else np.array([], int)
    return {"feature": feature, "x": [_number(v) for v in x[keep].tolist()], "y": y[keep].tolist()}


def _picks(scores: np.ndarray, classes: list[Any] | None, threshold: float | None) -> np.ndarray:
    """Classes from per-class scores (the highest wins), or from one column scoring the second class against a
    ``threshold`` (None: the one column is the only class's share)."""
    binary = scores.shape[1] == 1 and threshold is not None
    picks = (scores[:, 0] > threshold).astype(int) if binary else scores.argmax(axis=1)
    return np.asarray([classes[i] if classes else i for i in picks])


def _combined(extracted: Forest | LinearModel, table: np.ndarray, classes: list[Any] | None) -> np.ndarray:
    """The model's prediction from its extracted form, for models read from saved files (Spark ML), where no
    library object is loaded to ask. Boosted sums carry no base score: Spark's GBT has none."""
    if isinstance(extracted, LinearModel):
        scores = table @ extracted.coefficients.T + extracted.intercepts
        return scores[:, 0] if extracted.prediction_type == "regression" else _picks(scores, classes, 0.0)
    trees = [extracted.tree(i) for i in range(extracted.n_trees)]
    if extracted.combine == "sum":
        joined = np.zeros((table.shape[0], extracted.classes_per_round))
        for graph in trees:
            joined[:, graph.class_index or 0] += graph.scale * graph.value[graph.apply(table), 0]
    else:
        outputs = np.stack([graph.value[graph.apply(table)] for graph in trees])
        if extracted.prediction_type == "classification":  # a forest averages its trees' class shares
            outputs = outputs / outputs.sum(axis=2, keepdims=True)
            return _picks(outputs.mean(axis=0), classes, None)
        joined = outputs.mean(axis=0)
    return joined[:, 0] if extracted.prediction_type == "regression" else _picks(joined, classes, 0.0)

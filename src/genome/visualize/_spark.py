"""Spark ML trees, forests, boosted ensembles and linear models, read from the folder Spark saved them to.

The server draws a Spark model without a JVM: ``model.write().save(path)`` leaves JSON metadata (``metadata/part-*``)
and Parquet data (``data/``; per-tree weights of an ensemble in ``treesMetadata/``), which pyarrow reads.

Each tree is saved as one row per node (``NodeData``): a continuous split sends a record left when its value is
``<= threshold`` (the first of ``leftCategoriesOrThreshold``, ``numCategories == -1``); a categorical split sends the
listed categories left. Spark has no missing-value handling, so ``missing_left`` is False throughout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.extras import require
from genome.visualize.forest import Forest, LinearModel
from genome.visualize.graph import TreeGraph

__all__ = ["read_saved"]

# Spark model class name -> how its trees join
_COMBINE = {
    "DecisionTreeClassificationModel": "single",
    "DecisionTreeRegressionModel": "single",
    "RandomForestClassificationModel": "mean",
    "RandomForestRegressionModel": "mean",
    "GBTClassificationModel": "sum",
    "GBTRegressionModel": "sum",
}
_LINEAR = ("LinearRegressionModel", "LogisticRegressionModel")


def _parquet() -> Any:
    return require("pyarrow.parquet", "reading a saved Spark ML model")


def _read_metadata(folder: Path) -> dict[str, Any]:
    parts = sorted((folder / "metadata").glob("part-*"))
    if not parts:
        raise InvalidInput(
            f"the saved Spark model lacks its metadata ({folder.name}/metadata/part-*)", field="artifact"
        )
    metadata: dict[str, Any] = json.loads(parts[0].read_text().splitlines()[0])
    return metadata


def _read_table(folder: Path) -> Any:
    if not folder.is_dir():
        raise InvalidInput(f"the saved Spark model lacks its {folder.name}/ folder", field="artifact")
    return _parquet().read_table(folder)  # pyarrow skips Spark's _SUCCESS and .crc files


def _vector(saved: dict[str, Any]) -> np.ndarray:
    """A saved ``VectorUDT``: type 0 sparse (size, indices, values), 1 dense."""
    values = np.asarray(saved["values"], dtype=np.float64)
    if saved["type"] == 1:
        return values
    dense = np.zeros(saved["size"])
    dense[np.asarray(saved["indices"], dtype=np.int64)] = values
    return dense


def _matrix(saved: dict[str, Any]) -> np.ndarray:
    """A saved ``MatrixUDT``: column-major (dense) or CSC (sparse), row-major or CSR when ``isTransposed``."""
    rows, cols, transposed = saved["numRows"], saved["numCols"], saved["isTransposed"]
    values = np.asarray(saved["values"], dtype=np.float64)
    if saved["type"] == 1:
        return values.reshape(rows, cols) if transposed else values.reshape(cols, rows).T
    # compressed along the major axis: colPtrs points into rowIndices per column (per row when transposed)
    major = np.zeros((rows, cols) if transposed else (cols, rows))
    pointers, indices = saved["colPtrs"], saved["rowIndices"]
    for outer in range(len(pointers) - 1):
        span = slice(pointers[outer], pointers[outer + 1])
        major[outer, indices[span]] = values[span]
    return major if transposed else major.T


def _linear(folder: Path, name: str, model_class: str, feature_names: list[str] | None) -> LinearModel:
    saved = _read_table(folder / "data").to_pylist()[0]
    if name == "LinearRegressionModel":
        coefficients = _vector(saved["coefficients"])[None, :]
        return LinearModel(
            framework="spark",
            estimator_class=model_class,
            prediction_type="regression",
            coefficients=coefficients,
            intercepts=np.asarray([saved["intercept"]], dtype=np.float64),
            outputs=["prediction"],
            feature_names=feature_names,
        )
    if "coefficientMatrix" not in saved:
        raise InvalidInput(
            f"{model_class} was saved by Spark before 2.1, whose layout cannot be read; save it again with a newer "
            "Spark",
            field="model",
        )
    classes = list(range(int(saved["numClasses"])))
    multinomial = bool(saved["isMultinomial"])
    return LinearModel(
        framework="spark",
        estimator_class=model_class,
        prediction_type="classification",
        coefficients=_matrix(saved["coefficientMatrix"]),
        intercepts=_vector(saved["interceptVector"]),
        # a binomial model keeps one row, which scores class 1
        outputs=classes if multinomial else classes[1:],
        feature_names=feature_names,
        classes=classes,
        link="softmax" if multinomial else "logistic",
    )


class _Nodes:
    """The node rows of every tree of one saved model, as columns; trees are cut out of them when asked for."""

    def __init__(self, table: Any) -> None:
        if "nodeData" in table.column_names:  # an ensemble: (treeID, nodeData) rows
            self.tree_id = table.column("treeID").to_numpy().astype(np.int64)
            struct = table.column("nodeData").combine_chunks()
            columns = {struct.type.field(i).name: struct.field(i) for i in range(struct.type.num_fields)}
        else:  # a single tree: NodeData rows
            self.tree_id = np.zeros(table.num_rows, dtype=np.int64)
            columns = {name: table.column(name).combine_chunks() for name in table.column_names}
        split = columns["split"]
        self.split_feature = split.field("featureIndex").to_numpy(zero_copy_only=False).astype(np.int64)
        self.num_categories = split.field("numCategories").to_numpy(zero_copy_only=False).astype(np.int64)
        self.left_values = split.field("leftCategoriesOrThreshold").to_pylist()
        self.stats = columns["impurityStats"].to_pylist()
        numeric = ("id", "prediction", "impurity", "gain", "leftChild", "rightChild")
        self.columns = {name: columns[name].to_numpy(zero_copy_only=False) for name in numeric}
        # rawCount (Spark >= 3.0): unweighted rows per node; before that only the (weighted) stats tell
        raw = columns.get("rawCount")
        self.raw_count = raw.to_numpy(zero_copy_only=False).astype(np.float64) if raw is not None else None

    def tree(self, tree_id: int, task: str, scale: float = 1.0) -> TreeGraph:
        rows = np.flatnonzero(self.tree_id == tree_id)
        spark_id = self.columns["id"][rows]
        row_of = dict(zip(spark_id.tolist(), rows.tolist(), strict=True))
        left_of = dict(zip(spark_id.tolist(), self.columns["leftChild"][rows].tolist(), strict=True))
        right_of = dict(zip(spark_id.tolist(), self.columns["rightChild"][rows].tolist(), strict=True))
        # Spark numbers nodes depth-first from 0 already; renumbering from the root keeps that contract whatever
        # order the rows come back in
        children = {child for child in (*left_of.values(), *right_of.values()) if child >= 0}
        roots = [node for node in row_of if node not in children]
        if len(roots) != 1:
            raise InvalidInput(f"tree {tree_id} of the saved Spark model has no single root", field="artifact")
        order, stack = [], [roots[0]]
        while stack:
            node = stack.pop()
            order.append(node)
            if left_of[node] >= 0:
                stack.extend((right_of[node], left_of[node]))
        new_id = {node: at for at, node in enumerate(order)}
        at_rows = np.asarray([row_of[node] for node in order], dtype=np.int64)
        internal = np.asarray([left_of[node] >= 0 for node in order])
        count = len(order)
        left = np.asarray([new_id[left_of[node]] if left_of[node] >= 0 else -1 for node in order], dtype=np.int64)
        right = np.asarray([new_id[right_of[node]] if right_of[node] >= 0 else -1 for node in order], dtype=np.int64)
        threshold = np.full(count, np.nan)
        categories = {}
        for at in np.flatnonzero(internal):
            row = at_rows[at]
            if self.num_categories[row] == -1:
                threshold[at] = self.left_values[row][0]
            else:
                categories[int(at)] = frozenset(float(c) for c in self.left_values[row])
        stats = np.asarray([self.stats[row] for row in at_rows], dtype=np.float64)
        prediction = self.columns["prediction"][at_rows].astype(np.float64)
        classification = task == "classification"
        # classification stats are class counts; variance (regression) stats are [count, sum, sum of squares]
        weight = stats.sum(axis=1) if classification else stats[:, 0]
        value_std = None
        if not classification and stats.shape[1] == 3:
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = stats[:, 1] / stats[:, 0]
                value_std = np.sqrt(np.maximum(stats[:, 2] / stats[:, 0] - mean**2, 0.0))
        return TreeGraph(
            feature=np.where(internal, self.split_feature[at_rows], -1).astype(np.int64),
            threshold=threshold,
            left=left,
            right=right,
            missing_left=np.zeros(count, dtype=bool),
            value=stats if classification else prediction[:, None],
            task=task,  # type: ignore[arg-type]
            samples=self.raw_count[at_rows] if self.raw_count is not None else weight,
            weight=weight,
            impurity=self.columns["impurity"][at_rows].astype(np.float64),
            gain=np.where(internal, self.columns["gain"][at_rows], np.nan).astype(np.float64),
            value_std=value_std,
            categories=categories,
            scale=scale,
        )


def _tree_weights(folder: Path, n_trees: int) -> list[float]:
    """Each tree's weight in the ensemble's sum, from ``treesMetadata`` (columns treeID, metadata, weights;
    Spark 4 writes them unnamed, as _1, _2, _3)."""
    table = _read_table(folder / "treesMetadata")
    names = table.column_names
    ids = table.column("treeID" if "treeID" in names else names[0]).to_pylist()
    weights = table.column("weights" if "weights" in names else names[2]).to_pylist()
    by_id = dict(zip(ids, weights, strict=True))
    return [float(by_id[i]) for i in range(n_trees)]


def read_saved(folder: Path, model_class: str, feature_names: list[str] | None) -> Forest | LinearModel:
    """The trees or coefficients of the Spark ML model saved in ``folder`` (``model.write().save(folder)``), read
    with pyarrow alone; ``model_class`` is the pyspark class path the bundle recorded. Files that are not what Spark
    writes are an ``InvalidInput`` on ``artifact``."""
    try:
        return _read_saved(folder, model_class, feature_names)
    except (KeyError, IndexError, TypeError, ValueError, OSError) as exc:  # pyarrow's errors derive from these
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"the saved Spark model in the bundle is not readable: {exc!r}", field="artifact") from exc


def _read_saved(folder: Path, model_class: str, feature_names: list[str] | None) -> Forest | LinearModel:
    name = model_class.rpartition(".")[2]
    if name not in _COMBINE and name not in _LINEAR:
        supported = ", ".join([*_COMBINE, *_LINEAR])
        raise InvalidInput(
            f"{model_class} cannot be visualized: supported Spark ML models are {supported}", field="model"
        )
    if name in _LINEAR:
        return _linear(folder, name, model_class, feature_names)
    metadata = _read_metadata(folder)
    combine = _COMBINE[name]
    classification = "Classification" in name
    nodes = _Nodes(_read_table(folder / "data"))
    n_trees = int(metadata.get("numTrees", len(np.unique(nodes.tree_id))))
    if combine == "sum":
        # GBT trees are regression trees fit to pseudo-residuals; the model sums them, each times its weight
        weights = _tree_weights(folder, n_trees)

        def extract(index: int) -> TreeGraph:
            return nodes.tree(index, "raw", weights[index])
    else:
        task = "classification" if classification else "regression"

        def extract(index: int) -> TreeGraph:
            return nodes.tree(index, task)

    # a GBT classifier is binary and its metadata keeps no numClasses
    n_classes = int(metadata.get("numClasses", 2))
    return Forest(
        framework="spark",
        estimator_class=model_class,
        prediction_type="classification" if classification else "regression",
        n_trees=n_trees,
        n_features=int(metadata["numFeatures"]),
        extract=extract,
        combine=combine,  # type: ignore[arg-type]
        feature_names=feature_names,
        classes=list(range(n_classes)) if classification else None,
    )

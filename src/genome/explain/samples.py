"""Sample explanations: SHAP values of a representative sample, the global view saved with a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.explain.tabular import TabularExplainer, check_table

__all__ = ["CHUNK_ROWS", "SampleExplanations", "explain_sample"]

CHUNK_ROWS = 100
_PROGRESS_ROWS = 200
_MAX_ROWS = 100_000
_ARRAYS = ("expected", "shapley", "values", "feature_names", "importance", "number_labels", "explainer")


@dataclass
class SampleExplanations:
    """SHAP values of every row of a sample: ``shapley`` is rows x features, or outputs x rows x features."""

    expected: list[float]
    shapley: np.ndarray
    values: np.ndarray
    feature_names: list[str]
    number_labels: int
    explainer: str
    targets: np.ndarray | None = None  # the sample's true labels or values, if given: the visualizer groups by them

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def importance(self) -> dict[str, float]:
        """Mean |SHAP| per feature, over rows and outputs."""
        magnitude = np.abs(self.shapley)
        means = magnitude.mean(axis=tuple(range(magnitude.ndim - 1)))
        return {name: float(value) for name, value in zip(self.feature_names, means, strict=True)}

    def summary(self) -> dict[str, Any]:
        """The small JSON part that goes into the bundle's manifest."""
        return {"rows": self.rows, "explainer": self.explainer, "featureImportance": self.importance}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no object dtype), so ``np.load(..., allow_pickle=False)`` reads them back."""
        targets = {} if self.targets is None else {"targets": _plain_array(self.targets)}
        return targets | {
            "expected": np.asarray(self.expected, dtype=float),
            "shapley": np.asarray(self.shapley, dtype=float),
            "values": np.asarray(self.values, dtype=float),
            "feature_names": np.asarray(self.feature_names, dtype=str),
            "importance": np.asarray(list(self.importance.values()), dtype=float),
            "number_labels": np.asarray(self.number_labels),
            "explainer": np.asarray(self.explainer, dtype=str),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SampleExplanations:
        missing = [name for name in _ARRAYS if name not in arrays]
        if missing:
            raise InvalidInput(f"the bundle's sample explanations lack {', '.join(missing)}", field="artifact")
        return cls(
            expected=[float(v) for v in arrays["expected"]],
            shapley=np.asarray(arrays["shapley"], dtype=float),
            values=np.asarray(arrays["values"], dtype=float),
            feature_names=[str(name) for name in arrays["feature_names"]],
            number_labels=int(arrays["number_labels"]),
            explainer=str(arrays["explainer"]),
            targets=arrays.get("targets"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "number_labels": self.number_labels,
            "shapley": self.shapley.tolist(),
            "values": self.values.tolist(),
            "feature_names": self.feature_names,
            "featureImportance": self.importance,
            "rows": self.rows,
            "explainer": self.explainer,
        }


def _plain_array(values: np.ndarray) -> np.ndarray:
    """Labels as numbers or strings: an object array (mixed or Python values) is stored as strings."""
    array = np.asarray(values)
    return array.astype(str) if array.dtype.hasobject else array


def _names(model: Any, feature_names: Sequence[str] | None, n_features: int) -> list[str]:
    if feature_names is not None:
        names = [str(name) for name in feature_names]
    elif getattr(model, "feature_names_in_", None) is not None:
        names = [str(name) for name in model.feature_names_in_]
    else:
        names = [f"feature_{i}" for i in range(n_features)]
    if len(names) != n_features:
        raise InvalidInput(f"X has {n_features} features but there are {len(names)} feature names", field="X")
    return names


def explain_sample(
    model: Any,
    X: Any,
    *,
    feature_names: Sequence[str] | None = None,
    explainer: TabularExplainer | None = None,
    method: str | None = None,
    progress: bool | None = None,
    y: Any = None,
) -> SampleExplanations:
    """SHAP values of every row of ``X``, with ``X`` as the background; in chunks, behind a progress bar for
    samples over 200 rows (``progress`` forces it on or off). ``y``, the rows' true labels or values, is kept
    beside them for the visualizer's per-node data."""
    table = check_table(X, "X", getattr(model, "n_features_in_", None))
    targets = None if y is None else np.asarray(y).ravel()
    if targets is not None and len(targets) != table.shape[0]:
        raise InvalidInput(f"y has {len(targets)} values but X has {table.shape[0]} rows", field="y")
    if table.shape[0] > _MAX_ROWS:
        raise InvalidInput(
            f"X has {table.shape[0]} rows; a sample of 1-3k rows is enough (at most {_MAX_ROWS})", field="X"
        )
    names = _names(model, feature_names, table.shape[1])
    fitted = (explainer or TabularExplainer()).fit(model, table, method=method)
    chunks = [table[start : start + CHUNK_ROWS] for start in range(0, table.shape[0], CHUNK_ROWS)]
    parts = []
    shown = table.shape[0] > _PROGRESS_ROWS if progress is None else progress
    if shown:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("explaining sample", total=table.shape[0])
            for chunk in chunks:
                parts.append(fitted.explain(chunk))
                bar.advance(task, chunk.shape[0])
    else:
        parts = [fitted.explain(chunk) for chunk in chunks]
    axis = 1 if parts[0].number_labels > 1 else 0
    shapley = np.concatenate([np.asarray(part.shapley, dtype=float) for part in parts], axis=axis)
    return SampleExplanations(
        expected=parts[0].expected,
        shapley=shapley,
        values=table,
        feature_names=names,
        number_labels=parts[0].number_labels,
        explainer=parts[0].explainer,
        targets=targets,
    )

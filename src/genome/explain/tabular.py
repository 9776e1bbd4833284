"""SHAP explanations of models on tabular data: Tree, Linear, or a model-agnostic Permutation explainer."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genome.errors import InvalidInput, NotFitted

__all__ = ["ALGORITHMS", "TabularExplainer", "TabularExplanation", "check_entries", "check_table", "is_classifier"]

ALGORITHMS = ("auto", "tree", "linear", "permutation")
_TREE_CLASSES = {
    f"{kind}{role}"
    for kind in ("DecisionTree", "ExtraTree", "RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting")
    for role in ("Classifier", "Regressor")
}
_TREE_ROOTS = {"xgboost", "lightgbm"}


def _shap() -> Any:
    try:
        with warnings.catch_warnings():
            # shap's plotting module, imported with it, calls matplotlib functions due to be deprecated.
            warnings.filterwarnings("ignore", r"The set_\w+ function", PendingDeprecationWarning)
            import shap
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tabular explanations need shap: pip install 'genome[explain]'") from exc
    return shap


def is_classifier(model: Any) -> bool:
    """Whether the model answers with class probabilities (a classifier, or a Pipeline ending in one)."""
    return callable(getattr(model, "predict_proba", None)) and hasattr(model, "classes_")


def _kind(model: Any) -> str:
    roots = {cls.__module__.partition(".")[0] for cls in type(model).__mro__}
    if type(model).__name__ in _TREE_CLASSES or roots & _TREE_ROOTS:
        return "tree"
    if "linear_model" in type(model).__module__ and hasattr(model, "coef_"):
        return "linear"
    return "permutation"


def check_table(X: Any, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """``X`` as a 2-D float array; the error names ``name``, the shape found and the expected feature count."""
    try:
        table = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be a table of numbers (rows x features): {exc}", field=name) from exc
    if table.ndim == 1 and n_features is not None and table.shape[0] == n_features:
        table = table.reshape(1, -1)
    if table.ndim != 2 or table.shape[0] == 0:
        raise InvalidInput(f"{name} must be a non-empty table (rows x features); got shape {table.shape}", field=name)
    if n_features is not None and table.shape[1] != n_features:
        raise InvalidInput(
            f"{name} has {table.shape[1]} features per row but the model expects {n_features}", field=name
        )
    return table


def check_entries(
    entries: list[Any], feature_names: list[str] | None, n_features: int | None, *, field: str = "entries"
) -> np.ndarray:
    """The rows as a float table in the model's feature order (None for a missing value); errors name ``field``
    (one row sent alone, as the visualizer's ``record``, is named without an index) and the features."""
    expected = f"the features {feature_names}" if feature_names else f"{n_features} features per row"

    def row_name(index: int) -> str:
        return field if field != "entries" else f"entries[{index}]"

    if all(isinstance(row, dict) for row in entries):
        if not feature_names:
            raise InvalidInput(
                f"{field} holds objects keyed by feature name, but this model was saved without feature_names: "
                "send each row as a list of values",
                field=field,
            )
        for index, row in enumerate(entries):
            unknown, missing = sorted(set(row) - set(feature_names)), [n for n in feature_names if n not in row]
            if unknown or missing:
                raise InvalidInput(
                    f"{row_name(index)} has unknown features {unknown} and lacks {missing}; expected {expected}",
                    field=field,
                )
        return np.asarray([[row[name] for name in feature_names] for row in entries], dtype=float)
    width = len(feature_names) if feature_names else n_features
    for index, row in enumerate(entries):
        if width is not None and len(row) != width:
            raise InvalidInput(f"{row_name(index)} has {len(row)} values; expected {expected}", field=field)
    return np.asarray(entries, dtype=float)


@dataclass
class TabularExplanation:
    """SHAP values of some rows: ``expected[k] + sum(shapley[k][row]) == output k of the model on that row``.

    ``shapley`` is rows x features for a single output, else one rows x features list per output (class).
    ``output`` says what the SHAP values add up to: ``"probability"``, ``"margin"`` (log-odds or raw boosting
    score) or ``"value"`` (a regressor's prediction).
    """

    expected: list[float]
    shapley: list[Any]
    number_labels: int
    prediction: list[Any]
    explainer: str
    output: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TabularExplainer:
    """Explains a tabular model with SHAP, choosing the algorithm from the model's type.

    Args:
        algorithm: ``"auto"`` (Tree for tree ensembles, Linear for linear models, Permutation otherwise),
            or one of ``"tree"``, ``"linear"``, ``"permutation"``.
        background_size: at most this many k-means centres summarise the background of the Permutation explainer.
        seed: random seed of the Permutation explainer.

    Example:
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> model = DecisionTreeRegressor(max_depth=2).fit([[0, 0], [1, 0], [0, 1], [1, 1]], [0, 1, 0, 1])
        >>> result = TabularExplainer().fit(model).explain([[1, 0]])
        >>> result.explainer, [round(v, 3) for v in result.shapley[0]]
        ('tree', [0.5, 0.0])
    """

    def __init__(self, algorithm: str = "auto", background_size: int = 100, seed: int = 0) -> None:
        self.algorithm = algorithm
        self.background_size = background_size
        self.seed = seed

    def __repr__(self) -> str:
        return f"TabularExplainer(algorithm={self.algorithm!r}, background_size={self.background_size})"

    def fit(self, model: Any, background: Any = None, *, method: str | None = None) -> TabularExplainer:
        """Prepare the SHAP explainer for ``model``; ``background`` is a representative sample of inputs.

        ``method`` names the model's function the Permutation explainer calls (default ``predict_proba`` for
        classifiers, else ``predict``).
        """
        if self.algorithm not in ALGORITHMS:
            raise InvalidInput(
                f"algorithm must be one of {', '.join(ALGORITHMS)}; got {self.algorithm!r}", field="algorithm"
            )
        if not isinstance(self.background_size, int) or self.background_size < 1:
            raise InvalidInput(
                f"background_size must be a positive integer; got {self.background_size!r}", field="background_size"
            )
        shap = _shap()
        n_features = getattr(model, "n_features_in_", None)
        data = None if background is None else check_table(background, "background", n_features)
        kind = _kind(model) if self.algorithm == "auto" else self.algorithm
        self.classifier_ = is_classifier(model)
        self.model_ = model
        self.predict_: Any = None
        self.explainer_: Any = None
        if kind == "tree":
            self._fit_tree(shap, model)
        if self.explainer_ is None and kind == "linear":
            self._fit_linear(shap, model, data, n_features)
        elif self.explainer_ is None:
            self._fit_permutation(shap, model, data, method)
        self.n_features_in_ = n_features if isinstance(n_features, int) else None
        return self

    def _fit_tree(self, shap: Any, model: Any) -> None:
        try:
            # Path-dependent: exact, needs no background, and fast enough for realtime requests.
            self.explainer_ = shap.TreeExplainer(model)
        except Exception:
            if self.algorithm == "tree":
                raise
            return  # a tree model shap's TreeExplainer does not cover (multiclass GradientBoosting)
        self.name_ = "tree"
        if not self.classifier_:
            self.output_ = "value"
        else:
            self.output_ = "probability" if _tree_output_is_probability(model) else "margin"

    def _fit_linear(self, shap: Any, model: Any, data: np.ndarray | None, n_features: Any) -> None:
        n = n_features if isinstance(n_features, int) else np.shape(model.coef_)[-1]
        if data is None:
            masker, self.name_ = np.zeros((1, n)), "linear (zero baseline: no background sample given)"
        else:
            masker, self.name_ = data, "linear (background: given sample)"
        self.explainer_ = shap.LinearExplainer(model, masker)
        self.output_ = "margin" if self.classifier_ else "value"

    def _fit_permutation(self, shap: Any, model: Any, data: np.ndarray | None, method: str | None) -> None:
        if data is None:
            raise InvalidInput(
                f"{type(model).__name__} is explained by the model-agnostic Permutation explainer, which needs "
                "a background sample: call genome_model.explainer.sampleExplanations(X) before saving",
                field="background",
            )
        name = method or ("predict_proba" if self.classifier_ else "predict")
        self.predict_ = getattr(model, name)
        summary = data if len(data) <= self.background_size else shap.kmeans(data, self.background_size).data
        masker = shap.maskers.Independent(summary, max_samples=len(summary))
        self.explainer_ = shap.explainers.Permutation(self.predict_, masker, seed=self.seed)
        self.name_ = f"permutation (k-means background of {len(summary)})"
        self.output_ = "probability" if name == "predict_proba" else "value"

    def explain(self, X: Any) -> TabularExplanation:
        """SHAP values of the rows of ``X`` (rows x features)."""
        if getattr(self, "explainer_", None) is None:
            raise NotFitted("this TabularExplainer is not fitted yet: call fit(model, background) first")
        table = check_table(X, "X", self.n_features_in_)
        exact_tree = self.name_ == "tree" and self.output_ != "margin"
        if self.predict_ is None:
            # TreeExplainer's additivity check runs the whole model again (~4 ms for a 120-tree forest); the
            # test suite checks local accuracy instead.
            values = (
                self.explainer_.shap_values(table, check_additivity=False)
                if exact_tree
                else (self.explainer_.shap_values(table))
            )
            expected = self.explainer_.expected_value
        else:
            evaluations = max(500, 2 * table.shape[1] + 1)
            result = self.explainer_(table, max_evals=evaluations, silent=True)
            values, expected = result.values, result.base_values[0]
        values = np.asarray(values, dtype=float)
        if values.ndim == 3:
            # shap gives rows x features x outputs; the seed's response has one rows x features list per class.
            values = np.moveaxis(values, -1, 0)
            if values.shape[0] == 1:
                values = values[0]
        expected_list = [float(v) for v in np.atleast_1d(np.asarray(expected, dtype=float)).ravel()]
        labels = values.shape[0] if values.ndim == 3 else 1
        if labels == 1:
            expected_list = expected_list[:1]
        if exact_tree:
            # Exact tree SHAP values add up to the model's output (local accuracy), so the prediction needs no
            # second pass over the trees.
            per_output = values if values.ndim == 3 else values[None]  # outputs x rows x features
            totals = np.asarray(expected_list)[:, None] + per_output.sum(axis=-1)  # outputs x rows
            prediction = (totals.T if self.classifier_ else totals[0]).tolist()
        else:
            prediction = _prediction(self.model_, table, self.classifier_)
        return TabularExplanation(
            expected=expected_list,
            shapley=values.tolist(),
            number_labels=labels,
            prediction=prediction,
            explainer=self.name_,
            output=self.output_,
        )


def _tree_output_is_probability(model: Any) -> bool:
    # sklearn's forests and single trees average class frequencies in their leaves; boosters sum log-odds.
    return type(model).__module__.startswith("sklearn") and "Boosting" not in type(model).__name__


def _prediction(model: Any, table: np.ndarray, classifier: bool) -> list[Any]:
    output = model.predict_proba(table) if classifier else model.predict(table)
    return np.asarray(output, dtype=float).tolist()  # type: ignore[no-any-return]

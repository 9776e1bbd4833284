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
        internals = _internals(model)
        n_features = getattr(model, "n_features_in_", None) if internals is None else internals.n_features
        data = None if background is None else check_table(background, "background", n_features)
        self.model_ = model
        self.predict_: Any = None
        self.explainer_: Any = None
        self.link_: str | None = None  # how the SHAP sums become the prediction; None: ask the model
        if internals is not None:
            self.classifier_ = internals.prediction_type == "classification"
            self._fit_internals(shap, internals, data)
        else:
            kind = _kind(model) if self.algorithm == "auto" else self.algorithm
            self.classifier_ = is_classifier(model)
            if kind == "tree":
                self._fit_tree(shap, model)
            if self.explainer_ is None and kind == "linear":
                self._fit_linear(shap, model, data, n_features)
            elif self.explainer_ is None:
                self._fit_permutation(shap, model, data, method)
        self.n_features_in_ = n_features if isinstance(n_features, int) else None
        return self

    def _fit_tree(self, shap: Any, model: Any) -> None:
        from genome.explain._extracted import ArrayTrees, sklearn_forest

        refusal: Exception | None = None
        try:
            # Path-dependent: exact, needs no background, and fast enough for realtime requests.
            explainer = shap.TreeExplainer(model)
        except Exception as exc:
            explainer, refusal = None, exc
        if explainer is None or _misread(model, explainer):
            # a tree ensemble shap refuses (multi-class GradientBoosting, init="zero") or misreads: its trees as
            # the visualizer reads them, handed to shap as arrays
            extracted = sklearn_forest(model)
            if extracted is None:
                if self.algorithm == "tree" and refusal is not None:
                    raise refusal
                return  # e.g. boosting that starts from another model's predictions: the Permutation explainer
            forest, start = extracted
            explainer = ArrayTrees(shap, forest, start)
        self.explainer_ = explainer
        self.name_ = "tree"
        if not self.classifier_:
            self.output_ = "margin" if _log_link(model) else "value"
        else:
            self.output_ = "probability" if _tree_output_is_probability(model) else "margin"
        self.link_ = _margin_link(model) if self.output_ == "margin" else "identity"

    def _fit_internals(self, shap: Any, internals: Any, data: np.ndarray | None) -> None:
        """A model Genome read itself (Spark ML's saved trees or coefficients): Tree SHAP or linear SHAP."""
        from genome.explain._extracted import ArrayTrees, Coefficients
        from genome.visualize.forest import Forest

        tree = isinstance(internals, Forest)
        if self.algorithm not in ("auto", "tree" if tree else "linear"):
            raise InvalidInput(
                f"{internals.estimator_class} is explained from its {'trees' if tree else 'coefficients'}, with "
                f"algorithm 'auto' or '{'tree' if tree else 'linear'}'; got {self.algorithm!r}",
                field="algorithm",
            )
        if not tree:
            self.explainer_ = Coefficients(internals, data)
            given = "zero baseline: no background sample given" if data is None else "background: given sample"
            self.name_ = f"linear ({given})"
            self.output_ = "margin" if self.classifier_ else "value"
            self.link_ = internals.link if internals.link in ("identity", "logistic", "softmax") else None
            return
        boosted_classifier = self.classifier_ and internals.combine == "sum"
        # Spark's GBT classifier: probability of class 1 = 1 / (1 + exp(-2 * margin)), margin = its trees' sum
        self.explainer_ = ArrayTrees(shap, internals, 0.0, 2.0 if boosted_classifier else 1.0)
        self.name_ = "tree"
        self.output_ = "margin" if boosted_classifier else "probability" if self.classifier_ else "value"
        self.link_ = "logistic" if boosted_classifier else "identity"

    def _fit_linear(self, shap: Any, model: Any, data: np.ndarray | None, n_features: Any) -> None:
        n = n_features if isinstance(n_features, int) else np.shape(model.coef_)[-1]
        if data is None:
            masker, self.name_ = np.zeros((1, n)), "linear (zero baseline: no background sample given)"
        else:
            masker, self.name_ = data, "linear (background: given sample)"
        self.explainer_ = shap.LinearExplainer(model, masker)
        self.output_ = "margin" if self.classifier_ else "value"

    def _fit_permutation(self, shap: Any, model: Any, data: np.ndarray | None, method: str | None) -> None:
        name = method or ("predict_proba" if self.classifier_ else "predict")
        if not callable(getattr(model, name, None)):  # a bare PyTorch module, say: a background would not help
            raise InvalidInput(
                f"{type(model).__name__} has no {name} method for the model-agnostic Permutation explainer to call "
                "on rows of numbers: save an object whose predict(X) takes them, or name the method with "
                "GenomeEstimator(estimator_predict=...); a CNN is explained from images (modality='image')",
                field="estimator_predict",
            )
        if data is None:
            raise InvalidInput(
                f"{type(model).__name__} is explained by the model-agnostic Permutation explainer, which needs "
                "a background sample: call genome_model.explainer.sampleExplanations(X) before saving",
                field="background",
            )
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
        if self.predict_ is None:
            # TreeExplainer's additivity check runs the whole model again (~4 ms for a 120-tree forest); the
            # test suite checks local accuracy instead.
            exact = self.link_ is not None
            values = (
                self.explainer_.shap_values(table, check_additivity=False)
                if exact
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
        if self.link_ is not None:
            # Exact SHAP values add up to the model's output (local accuracy), so the prediction needs no second
            # pass over the model.
            per_output = values if values.ndim == 3 else values[None]  # outputs x rows x features
            totals = np.asarray(expected_list)[:, None] + per_output.sum(axis=-1)  # outputs x rows
            prediction = _linked(totals, self.link_, self.classifier_)
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


def _internals(model: Any) -> Any:
    """The trees or coefficients of a Spark ML model, which Genome reads itself from the files Spark saves (the
    server gets them so, without a JVM; a live pyspark model, in training code, is saved to read them), or None for
    any other model."""
    module = type(model).__module__
    if module.startswith("pyspark."):
        from genome.explain._extracted import read_spark

        return read_spark(model)
    if module != "genome.visualize.forest":  # a library model: no need to import the visualizer
        return None
    from genome.visualize.forest import Forest, LinearModel

    return model if isinstance(model, Forest | LinearModel) else None


def _misread(model: Any, explainer: Any) -> bool:
    """Whether shap's TreeExplainer accepted a scikit-learn ensemble it does not read exactly: HistGradientBoosting's
    categorical splits (taken as thresholds), or a boosted start other than the model's (the exponential loss)."""
    from genome.explain._extracted import boosted_start

    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        return True
    start = boosted_start(model)
    offset = np.ravel(getattr(explainer.model, "base_offset", np.nan))
    return start is not None and not (offset.shape == start.shape and np.allclose(offset, start, rtol=0, atol=1e-12))


def _margin_link(model: Any) -> str | None:
    """How a scikit-learn boosted classifier's margin becomes its predict_proba under the log loss (the sigmoid of
    one margin, or the softmax of one per class); None (ask the model) for other losses and libraries."""
    if not type(model).__module__.startswith("sklearn") or getattr(model, "loss", None) != "log_loss":
        return None
    return "softmax" if len(model.classes_) > 2 else "logistic"


def _log_link(model: Any) -> bool:
    # HistGradientBoosting's Poisson and Gamma losses predict exp(the trees' sum)
    return type(model).__module__.startswith("sklearn") and getattr(model, "loss", None) in ("poisson", "gamma")


def _linked(totals: np.ndarray, link: str, classifier: bool) -> list[Any]:
    """The prediction from each output's SHAP sum (outputs x rows): probabilities per row for a classifier."""
    if link == "logistic":  # one margin, of the second class
        positive = 1.0 / (1.0 + np.exp(-totals[0]))
        return np.column_stack([1.0 - positive, positive]).tolist()  # type: ignore[no-any-return]
    if link == "softmax":
        shifted = np.exp(totals - totals.max(axis=0))
        return (shifted / shifted.sum(axis=0)).T.tolist()  # type: ignore[no-any-return]
    return (totals.T if classifier else totals[0]).tolist()  # type: ignore[no-any-return]


def _tree_output_is_probability(model: Any) -> bool:
    # sklearn's forests and single trees average class frequencies in their leaves; boosters sum log-odds.
    return type(model).__module__.startswith("sklearn") and "Boosting" not in type(model).__name__


def _prediction(model: Any, table: np.ndarray, classifier: bool) -> list[Any]:
    output = model.predict_proba(table) if classifier else model.predict(table)
    return np.asarray(output, dtype=float).tolist()  # type: ignore[no-any-return]

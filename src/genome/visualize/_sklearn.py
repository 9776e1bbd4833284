"""scikit-learn trees, forests and boosted ensembles as ``TreeGraph``s; linear and logistic models' coefficients."""

from __future__ import annotations

from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.formats.registry import class_path
from genome.visualize.forest import Forest, LinearModel, plain
from genome.visualize.graph import TreeGraph

__all__ = ["extract"]


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


def _encoded_columns(model: Any) -> tuple[list[int], dict[int, np.ndarray]]:
    """How a HistGradientBoosting model with categorical features sees its input: it re-encodes the categories as
    codes and moves those columns first. Returns the input column of each encoded column, and the raw categories
    behind the codes of each encoded categorical column."""
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return list(range(model.n_features_in_)), {}
    columns: list[int] = []
    raw: dict[int, np.ndarray] = {}
    names = list(getattr(model, "feature_names_in_", []))
    for _name, transformer, selected in preprocessor.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        picked = np.asarray(selected)
        if picked.dtype == bool:
            indices = np.flatnonzero(picked).tolist()
        elif picked.dtype.kind in "iu":
            indices = picked.tolist()
        else:
            indices = [names.index(str(name)) for name in picked]
        for position, column in enumerate(indices):
            if hasattr(transformer, "categories_"):
                raw[len(columns)] = np.asarray(transformer.categories_[position])
            columns.append(column)
    return columns, raw


def _hist_tree(predictor: Any, class_index: int | None, columns: list[int], raw: dict[int, np.ndarray]) -> TreeGraph:
    """A HistGradientBoosting predictor (its ``nodes`` record array), mapped back to the model's input columns;
    a categorical split lists the raw categories its bitset of codes sends left."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    categories = {}
    for node in np.flatnonzero(categorical):
        bits = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]]
        codes = [c for c in range(32 * len(bits)) if int(bits[c // 32]) >> (c % 32) & 1]
        known = raw.get(int(nodes["feature_idx"][node]))
        values = [known[c] for c in codes if c < len(known)] if known is not None else codes
        categories[int(node)] = frozenset(float(v) for v in values)
    feature = np.asarray([columns[f] for f in nodes["feature_idx"]], dtype=np.int64)
    return TreeGraph(
        feature=np.where(leaf, -1, feature),
        threshold=np.where(leaf | categorical, np.nan, nodes["num_threshold"]),
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
    classes = plain(model.classes_) if hasattr(model, "classes_") else None
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


_LOG_LINK = ("PoissonRegressor", "GammaRegressor")


def _link(model: Any, outputs: int) -> str:
    name = type(model).__name__
    probabilistic = name.startswith("LogisticRegression") or getattr(model, "loss", None) == "log_loss"
    if hasattr(model, "classes_"):
        # one-vs-rest: SGD's log loss, and logistic regression fit per class (liblinear, or multi_class="ovr" before
        # scikit-learn 1.7) normalize each class's logistic; a multinomial one takes the softmax
        ovr = not name.startswith("LogisticRegression") or "ovr" in (
            getattr(model, "multi_class", None),
            "ovr" if getattr(model, "solver", None) == "liblinear" else None,
        )
        if not probabilistic:
            return "identity"
        return "logistic" if outputs == 1 else "logistic-ovr" if ovr else "softmax"
    tweedie_log = name == "TweedieRegressor" and (model.link == "log" or (model.link == "auto" and model.power > 0))
    return "log" if name in _LOG_LINK or tweedie_log else "identity"


def _linear(model: Any, names: list[str] | None) -> LinearModel:
    coefficients = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercepts = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64), coefficients.shape[:1]).copy()
    classes = plain(model.classes_) if hasattr(model, "classes_") else None
    if classes is not None:
        # a binary classifier keeps one row, which scores the second class
        outputs = classes[1:] if coefficients.shape[0] == 1 and len(classes) == 2 else classes
    else:
        outputs = ["prediction"] if coefficients.shape[0] == 1 else [f"target_{i}" for i in range(len(coefficients))]
    return LinearModel(
        framework="sklearn",
        estimator_class=class_path(model),
        prediction_type=_prediction_type(model),  # type: ignore[arg-type]
        coefficients=coefficients,
        intercepts=intercepts,
        outputs=outputs,
        feature_names=names,
        classes=classes,
        link=_link(model, len(outputs)),  # type: ignore[arg-type]
    )


def _single_output(model: Any) -> None:
    if getattr(model, "n_outputs_", 1) > 1:
        raise InvalidInput(
            f"{class_path(model)} predicts {model.n_outputs_} outputs: only single-output trees can be visualized",
            field="model",
        )


def extract(model: Any, feature_names: list[str] | None) -> Forest | LinearModel | None:
    """The trees or coefficients of a fitted scikit-learn estimator; None for a kind this module does not read
    (other ensembles of trees, such as bagging, AdaBoost, stacking or voting, combine their trees differently)."""
    from sklearn import ensemble, svm, tree

    names = feature_names or (plain(model.feature_names_in_) if hasattr(model, "feature_names_in_") else None)
    if isinstance(model, tree.DecisionTreeClassifier | tree.DecisionTreeRegressor):
        _single_output(model)
        return _forest(model, names, 1, lambda index: _tree(model), "single", 1)
    if isinstance(model, ensemble.GradientBoostingClassifier | ensemble.GradientBoostingRegressor):
        grid = model.estimators_  # (rounds, K) trees: one per class and round, K = 1 for two classes
        per_round = grid.shape[1]

        def boosted(index: int) -> TreeGraph:
            round_, k = divmod(index, per_round)
            return _tree(
                grid[round_, k], boosted=True, scale=model.learning_rate, class_index=k if per_round > 1 else None
            )

        return _forest(model, names, grid.size, boosted, "sum", per_round)
    forests = (
        ensemble.RandomForestClassifier,
        ensemble.RandomForestRegressor,
        ensemble.ExtraTreesClassifier,
        ensemble.ExtraTreesRegressor,
    )
    if isinstance(model, forests):
        _single_output(model)
        trees = model.estimators_
        return _forest(model, names, len(trees), lambda index: _tree(trees[index]), "mean", 1)
    if isinstance(model, ensemble.HistGradientBoostingClassifier | ensemble.HistGradientBoostingRegressor):
        predictors = model._predictors  # one list per iteration, one predictor per class
        per_round = len(predictors[0])
        columns, raw = _encoded_columns(model)

        def hist(index: int) -> TreeGraph:
            round_, k = divmod(index, per_round)
            return _hist_tree(predictors[round_][k], k if per_round > 1 else None, columns, raw)

        return _forest(model, names, len(predictors) * per_round, hist, "sum", per_round)
    # linear models whose coefficient rows score the classes (or the target); SVC's rows are one-vs-one pairs
    linear = type(model).__module__.startswith("sklearn.linear_model") or isinstance(
        model, svm.LinearSVC | svm.LinearSVR
    )
    if linear and hasattr(model, "coef_") and hasattr(model, "intercept_"):
        return _linear(model, names)
    return None

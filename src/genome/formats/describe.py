"""What kind of model an object is: its framework, category and the parameters stored with it."""

from __future__ import annotations

from typing import Any

from genome.formats.registry import class_path

__all__ = ["FRAMEWORKS", "describe"]

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "pytorch", "keras", "tensorflow", "spark", "custom")
_FRAMEWORK_BY_MODULE = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "pytorch",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "tf_keras": "keras",
    "pyspark": "spark",
}
_PREDICTION_TYPES = {"classifier": "classification", "regressor": "regression"}
_TREE_CLASSES = {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"}


def _framework(model: Any) -> str:
    roots = [cls.__module__.partition(".")[0] for cls in type(model).__mro__]
    if "keras" in roots:
        return "keras"
    for root in roots:
        if root in _FRAMEWORK_BY_MODULE:
            return _FRAMEWORK_BY_MODULE[root]
    return "custom"


def _spark_category(name: str) -> str:
    if name.startswith("DecisionTree"):
        return "tree"
    if name.startswith(("RandomForest", "GBT")):
        return "ensemble"
    if name in ("LinearRegressionModel", "LogisticRegressionModel"):
        return "linear"
    return "other"


def _input_shape(model: Any) -> list[int | None] | None:
    """What one input of a Keras model looks like, batch left out (e.g. [224, 224, 3]), when it has one input."""
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or not shape or not all(isinstance(part, int | None) for part in shape):
        return None
    return list(shape[1:])


def _spark_details(model: Any) -> dict[str, Any]:
    """What a Spark ML model tells about itself; Spark keeps no feature names or class labels in the model."""
    module, name = type(model).__module__, type(model).__name__
    # by module first: LogisticRegressionModel is a classifier whose name says "Regression"
    if module.endswith(".classification") or "Classification" in name:
        prediction_type = "classification"
    elif module.endswith(".regression") or "Regression" in name:
        prediction_type = "regression"
    else:
        prediction_type = None
    trees = getattr(model, "getNumTrees", None)  # a property on Spark's tree ensembles (a Params getter elsewhere)
    if callable(trees):
        trees = trees()
    if trees is None and hasattr(model, "trees"):
        trees = len(model.trees)
    return {
        "numberOfEstimators": trees,
        "numberOfFeatures": getattr(model, "numFeatures", None),
        "predictionType": prediction_type,
        "targetClasses": None,
    }


def _category(model: Any, framework: str) -> str:
    name = type(model).__name__
    module = type(model).__module__
    if framework == "spark":
        return _spark_category(name)
    if hasattr(model, "steps") and framework == "sklearn":
        return "pipeline"
    if framework in ("pytorch", "keras", "tensorflow") or "neural_network" in module:
        return "neural-network"
    if name in _TREE_CLASSES or name.startswith("DecisionTree"):
        return "tree"
    if framework in ("xgboost", "lightgbm") or "ensemble" in module or hasattr(model, "estimators_"):
        return "ensemble"
    if "linear_model" in module or "LinearRegression" in name or "LogisticRegression" in name:
        return "linear"
    if "svm" in module:
        return "svm"
    return "other"


def _n_estimators(model: Any) -> int | None:
    for attribute in ("n_estimators_", "n_estimators", "n_iter_"):
        value = getattr(model, attribute, None)
        if isinstance(value, int):
            return value
    if hasattr(model, "num_trees"):  # lightgbm.Booster
        return int(model.num_trees())
    try:  # an xgboost.Booster, or a wrapper left at n_estimators=None (the library's default of 100)
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        return int(booster.num_boosted_rounds()) if hasattr(booster, "num_boosted_rounds") else None
    except (AttributeError, ValueError):  # an unfitted wrapper has no booster yet
        return None


def _estimator_type(model: Any) -> str | None:
    tags = getattr(model, "__sklearn_tags__", None)
    try:
        return tags().estimator_type if tags else getattr(model, "_estimator_type", None)
    except Exception:  # a third-party estimator whose tags are broken tells us nothing
        return None


def _as_list(values: Any) -> list[Any] | None:
    if values is None:
        return None
    return [v.item() if hasattr(v, "item") else v for v in list(values)]


def describe(model: Any) -> dict[str, Any]:
    """The ``parameters`` a model version records about its estimator.

    Example:
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> describe(DecisionTreeClassifier())["category"]
        'tree'
    """
    framework = _framework(model)
    final = model.steps[-1][1] if framework == "sklearn" and hasattr(model, "steps") else model
    described: dict[str, Any] = {
        "estimatorClass": class_path(model),
        "framework": framework,
        "category": _category(model, framework),
        "numberOfEstimators": _n_estimators(final),
        "featureNames": _as_list(getattr(model, "feature_names_in_", None)),
        "targetClasses": _as_list(getattr(model, "classes_", None)),
        "numberOfFeatures": getattr(model, "n_features_in_", None),
        "predictionType": _PREDICTION_TYPES.get(_estimator_type(final) or ""),
    }
    if framework == "spark":
        described.update(_spark_details(model))
    if framework == "keras":
        described["inputShape"] = _input_shape(model)
    if described["category"] == "pipeline":
        described["steps"] = [{"name": name, "estimatorClass": class_path(step)} for name, step in model.steps]
        described["finalEstimator"] = {
            "estimatorClass": class_path(final),
            "category": _category(final, _framework(final)),
        }
    return {k: v for k, v in described.items() if v is not None}

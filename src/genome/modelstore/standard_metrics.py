"""Built-in evaluation: a stored model's standard metrics on a labelled dataset, with thresholds, stored as an
ordinary evaluation run.

Example:
    >>> run = evaluate_metrics(  # doctest: +SKIP
    ...     saved["id"], "s3://lake/housing/test.parquet", label="price", thresholds={"rmse": 0.6, "r2": 0.7}
    ... )
    >>> run["status"]  # doctest: +SKIP
    'passed'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from genome.errors import InvalidInput
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "evaluate_metrics", "standard_metrics"]

HIGHER_IS_BETTER = ("accuracy", "f1", "roc_auc", "r2")
LOWER_IS_BETTER = ("rmse", "mae")
_KINDS = {"classification": ("accuracy", "f1", "roc_auc"), "regression": ("rmse", "mae", "r2")}


def standard_metrics(prediction_type: str, model: Any, features: Any, labels: Any) -> dict[str, float]:
    """Accuracy, macro F1 and ROC AUC (one-vs-rest; when the model gives probabilities) for classifiers; RMSE, MAE
    and R² for regressors."""
    from sklearn import metrics

    predicted = model.predict(features)
    if prediction_type == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(labels, predicted))),
            "mae": float(metrics.mean_absolute_error(labels, predicted)),
            "r2": float(metrics.r2_score(labels, predicted)),
        }
    scores = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "f1": float(metrics.f1_score(labels, predicted, average="macro")),
    }
    if hasattr(model, "predict_proba") and len(np.unique(labels)) > 1:
        probabilities = model.predict_proba(features)
        classes = getattr(model, "classes_", None)
        if probabilities.shape[1] == 2:
            scores["roc_auc"] = float(metrics.roc_auc_score(labels, probabilities[:, 1]))
        else:
            scores["roc_auc"] = float(metrics.roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))
    return scores


def _check_thresholds(thresholds: Mapping[str, float], prediction_type: str) -> dict[str, float]:
    known = _KINDS[prediction_type]
    for metric, bound in thresholds.items():
        if metric not in known:
            raise InvalidInput(
                f"threshold {metric!r} is not a metric of a {prediction_type} model; use {', '.join(known)}",
                field="thresholds",
            )
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            raise InvalidInput(f"threshold {metric!r} must be a number; got {bound!r}", field="thresholds")
    return dict(thresholds)


def evaluate_metrics(
    target: str,
    dataset: str,
    label: str,
    thresholds: Mapping[str, float] | None = None,
    *,
    features: Sequence[str] | None = None,
    name: str = "genome/standard-metrics",
    model_store: Any = None,
    evaluation_store: Any = None,
) -> dict[str, Any]:
    """Evaluate model version ``target`` on the labelled ``dataset`` (a csv/parquet/json path or URL fsspec can
    read) and store the run.

    ``label`` is the column to predict; the features are ``features``, else the model's feature names, else every
    other column. ``thresholds`` bound metrics: higher-is-better ones (accuracy, f1, roc_auc, r2) must reach theirs,
    lower-is-better ones (rmse, mae) must stay at or under. Returns the stored run; a threshold missed makes it
    ``failed``, one alias gate (``require_passing``) then refuses the version.
    """
    from genome.modelstore.client import ModelStore

    models = model_store or ModelStore()
    try:
        record = models.get_model(target)
        kind = str(record.get("predictionType"))
        if kind not in _KINDS:
            raise InvalidInput(
                f"model version {target} has predictionType {kind!r}; standard metrics need classification or "
                "regression",
                field="target",
            )
        bounds = _check_thresholds(thresholds or {}, kind)
        estimator = models.load_model(target)
    finally:
        if model_store is None:
            models.close()

    @evaluation(name=name, versionName=record.get("versionName"))
    class StandardMetrics(GenomeEvaluationRun):
        @task(dataset={"ref": dataset}, name=f"{kind} metrics")
        def measure(self, t: Any, data: Any) -> None:
            frame = data.load()
            if label not in frame.columns:
                raise InvalidInput(f"dataset {dataset} has no label column {label!r}", field="label")
            columns = list(features or estimator.feature_names or [c for c in frame.columns if c != label])
            missing = [column for column in columns if column not in frame.columns]
            if missing:
                raise InvalidInput(f"dataset {dataset} lacks the feature columns {missing}", field="features")
            scores = standard_metrics(kind, estimator.estimator, frame[columns].to_numpy(), frame[label].to_numpy())
            t.add_metric("rows", len(frame))
            for metric, value in scores.items():
                t.add_metric(metric, value)
            for metric, bound in bounds.items():
                if metric not in scores:
                    t.expect(None, var=metric).toBeGreaterOrEqual(bound)
                elif metric in HIGHER_IS_BETTER:
                    t.expect(scores[metric], var=metric).toBeGreaterOrEqual(bound)
                else:
                    t.expect(scores[metric], var=metric).toBeLessOrEqual(bound)

    return StandardMetrics(evaluation_store, target=target).to_run()

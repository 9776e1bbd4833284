"""``GenomeEstimator``: a trained model plus what Genome needs to explain and show it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from genome.errors import InvalidInput

if TYPE_CHECKING:
    from genome.explain.samples import SampleExplanations

__all__ = ["MODALITIES", "GenomeEstimator", "SampleExplainerHandle"]

MODALITIES = ("tabular", "image", "text")


class GenomeEstimator:
    """Wraps a trained model of any framework for the Model Store.

    The constructor only stores its arguments; they are checked when the model is saved, and the error then
    names the argument at fault.

    Args:
        estimator: the trained model (scikit-learn estimator or Pipeline, XGBoost, LightGBM, PyTorch module,
            Keras model, or anything cloudpickle can carry).
        estimator_predict: name of the estimator's method that explainers call, e.g. ``"predict_proba"``.
        data_preprocessor: function applied to raw input before the estimator (e.g. image preprocessing).
        explainer: explainer settings to use instead of the one chosen from modality and model type. Without
            them, ``genome_model.explainer`` is a handle whose ``sampleExplanations(X)`` computes the sample
            explanations saved with the model (in ``samples_``).
        feature_names: names of the input columns (tabular models).
        target_classes: names of the classes, in the order of the model's outputs.
        target_name: name of the predicted quantity.
        modality: ``"tabular"``, ``"image"`` or ``"text"``.

    Example:
        >>> from sklearn.linear_model import LinearRegression
        >>> model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
        >>> GenomeEstimator(model, feature_names=["x"], target_classes=["y"]).modality
        'tabular'
    """

    # Set by ``explainer.sampleExplanations(X)``, never by the constructor.
    samples_: SampleExplanations

    def __init__(
        self,
        estimator: Any,
        estimator_predict: str | None = None,
        data_preprocessor: Callable[..., Any] | None = None,
        explainer: Any = None,
        feature_names: Sequence[str] | None = None,
        target_classes: Sequence[Any] | None = None,
        target_name: str | None = None,
        modality: str = "tabular",
    ) -> None:
        self.estimator = estimator
        self.estimator_predict = estimator_predict
        self.data_preprocessor = data_preprocessor
        self.explainer = explainer
        self.feature_names = feature_names
        self.target_classes = target_classes
        self.target_name = target_name
        self.modality = modality

    @property
    def explainer(self) -> Any:
        """The explainer settings given, else a handle: ``genome_model.explainer.sampleExplanations(X)``."""
        if self._explainer is not None:
            return self._explainer
        return SampleExplainerHandle(self)

    @explainer.setter
    def explainer(self, value: Any) -> None:
        self._explainer = value

    def __repr__(self) -> str:
        return f"GenomeEstimator({type(self.estimator).__name__}, modality={self.modality!r})"

    def bundle_fields(self) -> dict[str, Any]:
        """The checked wrapper fields that travel with the model in its bundle."""
        return {
            "estimator_predict": check_estimator_predict(self.estimator, self.estimator_predict),
            "data_preprocessor": check_callable(self.data_preprocessor, "data_preprocessor"),
            "explainer": self._explainer,
            "feature_names": check_feature_names(self.estimator, self.feature_names),
            "target_classes": _plain_list(self.target_classes, "target_classes"),
            "target_name": check_optional_str(self.target_name, "target_name"),
            "modality": check_modality(self.modality),
        }

    def bundle_samples(self) -> SampleExplanations | None:
        """The sample explanations to save with the model, if ``sampleExplanations`` was called."""
        samples: SampleExplanations | None = getattr(self, "samples_", None)
        return samples

    @classmethod
    def from_bundle_fields(cls, estimator: Any, fields: dict[str, Any]) -> GenomeEstimator:
        """The estimator back from a bundle's fields (``unpack`` puts saved sample explanations' arrays
        under ``"samples"``)."""
        names = ("estimator_predict", "data_preprocessor", "explainer", "feature_names", "target_classes")
        loaded = cls(
            estimator,
            **{name: fields.get(name) for name in names},
            target_name=fields.get("target_name"),
            modality=fields.get("modality", "tabular"),
        )
        if fields.get("samples") is not None:
            from genome.explain.samples import SampleExplanations

            loaded.samples_ = SampleExplanations.from_arrays(fields["samples"])
        return loaded


class SampleExplainerHandle:
    """What ``genome_model.explainer`` is when no explainer settings were given (the seed's usage)."""

    def __init__(self, genome_estimator: GenomeEstimator) -> None:
        self._genome_estimator = genome_estimator

    def sampleExplanations(self, X: Any, y: Any = None, *, progress: bool | None = None) -> SampleExplanations:
        """Explain every row of a representative sample (1-3k rows work well) and keep the result in the
        estimator's ``samples_``; it is saved with the model and served as its global explanation. With ``y``, the
        sample's true labels or values, the model's visualization shows the data in each tree node by them
        (otherwise by the model's own predictions).

        Returns:
            The ``SampleExplanations``: expected value, SHAP values, feature values and names, importance.
        """
        from genome.explain.samples import explain_sample

        owner = self._genome_estimator
        if owner.modality != "tabular":
            raise InvalidInput(
                f"sample explanations are available for tabular models only; this model is {owner.modality!r}",
                field="modality",
            )
        owner.samples_ = explain_sample(
            owner.estimator,
            X,
            feature_names=owner.feature_names,
            method=owner.estimator_predict,
            progress=progress,
            y=y,
        )
        return owner.samples_


def check_modality(modality: Any) -> str:
    if modality not in MODALITIES:
        raise InvalidInput(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}", field="modality")
    return str(modality)


def check_optional_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string; got {type(value).__name__}", field=name)
    return value


def check_callable(value: Any, name: str) -> Any:
    if value is not None and not callable(value):
        raise InvalidInput(f"{name} must be a function; got {type(value).__name__}", field=name)
    return value


def check_estimator_predict(estimator: Any, method: Any) -> str | None:
    if method is None:
        return None
    if not isinstance(method, str) or not callable(getattr(estimator, method, None)):
        raise InvalidInput(
            f"estimator_predict must name a method of {type(estimator).__name__}, such as 'predict' or "
            f"'predict_proba'; got {method!r}",
            field="estimator_predict",
        )
    return method


def _plain_list(values: Any, name: str) -> list[Any] | None:
    if values is None:
        return None
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise InvalidInput(f"{name} must be a list; got {type(values).__name__}", field=name)
    return [v.item() if hasattr(v, "item") else v for v in values]


def check_feature_names(estimator: Any, feature_names: Any) -> list[str] | None:
    names = _plain_list(feature_names, "feature_names")
    if names is None:
        return None
    if not all(isinstance(n, str) for n in names):
        raise InvalidInput("feature_names must all be strings", field="feature_names")
    expected = getattr(estimator, "n_features_in_", None)
    if isinstance(expected, int) and len(names) != expected:
        raise InvalidInput(
            f"feature_names has {len(names)} names but the estimator was fitted on {expected} features",
            field="feature_names",
        )
    return names

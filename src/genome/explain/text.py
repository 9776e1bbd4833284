"""LIME explanations of text classifiers: a weighted linear surrogate fitted around one document."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genome.errors import InvalidInput, NotFitted

__all__ = ["TextExplainer", "TextExplanation"]

_KERNEL_WIDTH = 25.0  # LIME's default for text: cosine distances (x 100) through an exponential kernel
_EPSILON = 1e-6  # floor of the surrogate's probabilities, so the KL divergence stays finite


def _lime_text() -> Any:
    try:
        from lime import lime_text
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("text explanations need lime: pip install 'genome[explain]'") from exc
    return lime_text


@dataclass
class TextExplanation:
    """The seed's text explanation: fidelity ``metrics`` and, per class, the words' weights and character spans.

    ``textExplanation["targets"][k]["weighted_spans"]["spans"]`` holds ``[word, [[start, end], ...], weight]``:
    every occurrence of the word in the text, as ``text[start:end]``.
    """

    metrics: dict[str, float]
    textExplanation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TextExplainer:
    """Explains a text classifier with LIME: words are dropped at random and a Ridge surrogate is fitted per class.

    Args:
        num_samples: perturbed documents per explanation (the model scores each one).
        num_features: at most this many words are weighted per class.
        seed: random seed of the perturbations; the same seed gives the same explanation.

    Example:
        >>> from sklearn.feature_extraction.text import CountVectorizer
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.pipeline import make_pipeline
        >>> texts, labels = ["a zebra here", "nothing here", "zebra again", "quiet again"], [1, 0, 1, 0]
        >>> model = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
        >>> result = TextExplainer(num_samples=100).fit(model, ["calm", "alert"]).explain("a zebra here")
        >>> result.textExplanation["targets"][1]["weighted_spans"]["spans"][0][:2]
        ['zebra', [[2, 7]]]
    """

    def __init__(self, num_samples: int = 250, num_features: int = 20, seed: int = 0) -> None:
        self.num_samples = num_samples
        self.num_features = num_features
        self.seed = seed

    def __repr__(self) -> str:
        return f"TextExplainer(num_samples={self.num_samples}, num_features={self.num_features}, seed={self.seed})"

    def fit(self, model: Any, class_names: Any = None, method: str = "predict_proba") -> TextExplainer:
        """Prepare to explain ``model``, whose ``method`` maps a list of texts to class probabilities.

        ``class_names`` default to the model's ``classes_`` as strings.
        """
        for name in ("num_samples", "num_features"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(f"{name} must be a positive integer; got {value!r}", field=name)
        predict = getattr(model, method or "predict_proba", None)
        if not callable(predict):
            raise InvalidInput(
                f"estimator_predict must name a method of {type(model).__name__} giving class probabilities, "
                f"such as 'predict_proba'; got {method!r}",
                field="estimator_predict",
            )
        _lime_text()
        if class_names is None and getattr(model, "classes_", None) is not None:
            class_names = list(model.classes_)
        self.class_names_ = None if class_names is None else [str(name) for name in class_names]
        self.method_ = method or "predict_proba"
        self.predict_ = predict
        return self

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        output = np.asarray(self.predict_(texts), dtype=float)
        if output.ndim != 2 or output.shape[1] < 2:
            raise InvalidInput(
                f"{self.method_} must give one probability per class for each text (texts x classes); got shape "
                f"{output.shape}: text explanations need a classifier",
                field="estimator_predict",
            )
        return output

    def explain(self, text: str, num_samples: int | None = None) -> TextExplanation:
        """Explain the model's probability of every class for ``text``."""
        if getattr(self, "predict_", None) is None:
            raise NotFitted("this TextExplainer is not fitted yet: call fit(model, class_names) first")
        if not isinstance(text, str):
            raise InvalidInput(f"text must be a string; got {type(text).__name__}", field="text")
        samples = self.num_samples if num_samples is None else num_samples
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 2:
            raise InvalidInput(f"num_samples must be an integer of at least 2; got {samples!r}", field="num_samples")
        lime_text = _lime_text()
        indexed = lime_text.IndexedString(text, bow=True)
        if indexed.num_words() == 0:
            raise InvalidInput("text has no words to explain", field="text")
        # A LimeTextExplainer per call: its random state is the only mutable state, so concurrent requests
        # share nothing and the same seed always draws the same neighbourhood.
        lime = lime_text.LimeTextExplainer(class_names=self.class_names_, random_state=self.seed)
        data, probabilities, distances = lime._LimeTextExplainer__data_labels_distances(
            indexed, self._probabilities, samples
        )
        weights = np.sqrt(np.exp(-(distances**2) / _KERNEL_WIDTH**2))
        classes = probabilities.shape[1]
        names = self.class_names_ or [str(k) for k in range(classes)]
        if len(names) != classes:
            raise InvalidInput(
                f"the model gives {classes} class probabilities but target_classes names {len(names)} classes",
                field="target_classes",
            )
        surrogate_outputs = np.empty_like(probabilities)
        targets, scores = [], []
        for k in range(classes):
            used, surrogate = self._surrogate(data, probabilities[:, k], weights)
            surrogate_outputs[:, k] = surrogate.predict(data[:, used])
            scores.append(float(surrogate.score(data[:, used], probabilities[:, k], sample_weight=weights)))
            spans = [
                _span(str(indexed.word(int(feature))), indexed.string_position(int(feature)), float(weight))
                for feature, weight in zip(used, surrogate.coef_, strict=True)
            ]
            spans.sort(key=lambda span: -abs(span[2]))
            targets.append(
                {
                    "proba": float(probabilities[0, k]),
                    "score": float(surrogate_outputs[0, k]),
                    "target": names[k],
                    "weighted_spans": {"spans": spans},
                }
            )
        return TextExplanation(
            metrics={"score": float(np.mean(scores)), "mean_KL_divergence": _mean_kl(probabilities, surrogate_outputs)},
            textExplanation={"estimator": "Ridge", "method": "linear model", "targets": targets},
        )

    def _surrogate(self, data: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, Any]:
        from sklearn.linear_model import Ridge

        # LIME's "highest_weights" selection: a lightly regularised fit on every word ranks them, then the
        # surrogate is refitted on the strongest num_features words (the original document is all ones).
        ranking = Ridge(alpha=0.01, fit_intercept=True).fit(data, labels, sample_weight=weights)
        used = np.argsort(-np.abs(ranking.coef_), kind="stable")[: self.num_features]
        surrogate = Ridge(alpha=1.0, fit_intercept=True).fit(data[:, used], labels, sample_weight=weights)
        return used, surrogate


def _span(word: str, starts: Any, weight: float) -> list[Any]:
    """``[word, [[start, end], ...], weight]``: every occurrence of the word, as ``text[start:end]``."""
    return [word, [[int(start), int(start) + len(word)] for start in starts], weight]


def _mean_kl(probabilities: np.ndarray, surrogate: np.ndarray) -> float:
    """Mean over the neighbourhood of KL(model || surrogate), the surrogate's outputs clipped and normalised."""
    from scipy.special import rel_entr

    p = np.clip(probabilities, 0.0, None)
    p = p / np.clip(p.sum(axis=1, keepdims=True), _EPSILON, None)
    q = np.clip(surrogate, _EPSILON, None)
    q = q / q.sum(axis=1, keepdims=True)
    return float(np.mean(np.sum(rel_entr(p, q), axis=1)))

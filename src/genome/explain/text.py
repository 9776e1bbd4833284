"""LIME explanations of text classifiers: a weighted linear surrogate fitted around one document."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genome.errors import InvalidInput, NotFitted, PayloadTooLarge
from genome.extras import require

__all__ = ["TEXT_BUDGET", "TextExplainer", "TextExplanation", "check_text_budget"]

TEXT_BUDGET = 2_000_000
"""Default work of one text explanation (``GENOME_EXPLAIN_TEXT_BUDGET``): at most about 60 MB and a few seconds."""

_KERNEL_WIDTH = 25.0  # LIME's default for text: cosine distances (x 100) through an exponential kernel
_EPSILON = 1e-6  # floor of the surrogate's probabilities, so the KL divergence stays finite
_TOKEN = re.compile(r"\w+|\W+")  # LIME's tokens: runs of word characters, and the separators between them
_MIN_SAMPLES = 50  # the fewest num_samples a request may ask for (ExplainRequest.num_samples)
_CHARS_PER_WORD = 8  # scoring a sample costs about as much per 8 characters as the surrogate per distinct word
_TOKENIZE_DIVISOR = 4  # LIME holds the tokens in a fixed-width array: tokens x longest token x 4 bytes


def _lime_text() -> Any:
    return require("lime.lime_text", "explaining a text")


def _text_cost(text: str) -> tuple[int, int, int]:
    """``(per sample, fixed, distinct words)``: the work each sample of ``text`` costs, and tokenizing it."""
    words: set[str] = set()
    tokens = longest = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        tokens += 1
        longest = max(longest, len(token))
        if token[0].isalnum() or token[0] == "_":
            words.add(token)
    per_sample = len(words) + math.ceil(len(text) / _CHARS_PER_WORD)
    return per_sample, math.ceil(tokens * longest / _TOKENIZE_DIVISOR), len(words)


def check_text_budget(text: str, num_samples: int, budget: int) -> None:
    """Refuse a LIME explanation of ``text`` with ``num_samples`` whose work is over ``budget``, before any is done.

    LIME scores ``num_samples`` copies of the text with words dropped and fits its surrogate on a num_samples x
    distinct words matrix, so memory and time grow with ``num_samples x (distinct words + characters / 8)``; LIME's
    tokenizer adds ``tokens x longest token / 4`` (a fixed-width array). One unit is about 30 bytes, and 0.3 to
    1.5 µs depending on how fast the model scores texts.

    Args:
        text: the text to explain.
        num_samples: the perturbed texts LIME would score.
        budget: the most work allowed (``GENOME_EXPLAIN_TEXT_BUDGET``, by default ``TEXT_BUDGET``).

    Raises:
        PayloadTooLarge: with field ``num_samples`` when fewer samples (at least 50) would fit, saying how many;
            else with field ``text``.

    Example:
        >>> check_text_budget("the garden was quiet", num_samples=250, budget=TEXT_BUDGET)
        >>> try:
        ...     check_text_budget("river stone cloud " * 2000, num_samples=5000, budget=TEXT_BUDGET)
        ... except PayloadTooLarge as error:
        ...     print(error.field)
        num_samples
    """
    per_sample, fixed, words = _text_cost(text)
    cost = num_samples * per_sample + fixed
    if cost <= budget:
        return
    size = f"{words} distinct words and {len(text)} characters"
    work = (
        f"with num_samples={num_samples} that is {cost} units of work (num_samples x (distinct words + characters "
        f"/ {_CHARS_PER_WORD}) + tokens x longest token / {_TOKENIZE_DIVISOR}), over the budget of {budget} "
        "(GENOME_EXPLAIN_TEXT_BUDGET)"
    )
    most = (budget - fixed) // per_sample if per_sample else 0
    if most >= min(num_samples, _MIN_SAMPLES):
        raise PayloadTooLarge(
            f"num_samples is too large for this text of {size}: {work}; send num_samples of at most {most}, "
            "or a shorter text",
            field="num_samples",
        )
    raise PayloadTooLarge(
        f"text is too large to explain: {size}; {work}; send a shorter text (fewer distinct words, no very long "
        "words) or fewer num_samples",
        field="text",
    )


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
        budget: the most work one explanation may cost (see ``check_text_budget``); more raise ``PayloadTooLarge``.

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

    budget: int = TEXT_BUDGET  # explainers pickled before budgets existed have none of their own

    def __init__(
        self, num_samples: int = 250, num_features: int = 20, seed: int = 0, budget: int = TEXT_BUDGET
    ) -> None:
        self.num_samples = num_samples
        self.num_features = num_features
        self.seed = seed
        self.budget = budget

    def __repr__(self) -> str:
        return (
            f"TextExplainer(num_samples={self.num_samples}, num_features={self.num_features}, seed={self.seed}, "
            f"budget={self.budget})"
        )

    def fit(self, model: Any, class_names: Any = None, method: str = "predict_proba") -> TextExplainer:
        """Prepare to explain ``model``, whose ``method`` maps a list of texts to class probabilities.

        ``class_names`` default to the model's ``classes_`` as strings.
        """
        for name in ("num_samples", "num_features", "budget"):
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
        # Checked here too, not only by the server: an explanation may run in another process.
        check_text_budget(text, samples, self.budget)
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

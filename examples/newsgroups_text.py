"""The seed's text example: TF-IDF + LSA + a random forest on four 20 newsgroups categories, explained with LIME.

Run a server first (``make run``), then: ``.venv/bin/python examples/newsgroups_text.py``.
Uses 20 newsgroups when it can be downloaded (or is cached) and falls back otherwise, saying so, to an offline
corpus generated from four topic vocabularies. Inside a Sequencer step, the pipeline fields come from the step.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import fetch_20newsgroups
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator

CATEGORIES = ["alt.atheism", "soc.religion.christian", "comp.graphics", "sci.med"]
_TOPICS = {
    "alt.atheism": "atheism atheist belief evidence religion argument morality god exist claim reason "
    "philosophy skeptic bible contradiction faith theist proof logic universe",
    "soc.religion.christian": "church christ jesus prayer scripture faith sin gospel salvation worship "
    "christian bible heaven grace lord spirit catholic pastor baptism holy",
    "comp.graphics": "image graphics pixel render polygon texture color format jpeg software 3d display "
    "algorithm shading raytrace vga bitmap vertex screen file",
    "sci.med": "doctor patient disease treatment symptom medicine clinical drug diet cancer health study "
    "infection pain therapy blood physician diagnosis vitamin hospital",
}
TOPIC_WORDS = {category: words.split() for category, words in _TOPICS.items()}
_COMMON = (
    "the a of to and in is it that for on was with as be this have from or one had by but not what all were we "
    "when your can said there use an each which she do how their if will up other about out many then them these "
    "so some her would make like him into time has look two more write go see number no way could people my than "
    "first been call who its now find long down day did get come made may part question answer think know point "
    "post read group news thing problem really good well also"
)
COMMON_WORDS = _COMMON.split()


def offline_corpus(documents: int = 800, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Documents of 60-250 words, a quarter of them from their category's vocabulary, the rest common words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for index in range(documents):
        label = index % len(CATEGORIES)
        length = int(rng.integers(60, 250))
        topic = rng.choice(TOPIC_WORDS[CATEGORIES[label]], size=length)
        words = np.where(rng.random(length) < 0.25, topic, rng.choice(COMMON_WORDS, size=length))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels)


def load_newsgroups(offline: bool) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, labels and class names: 20 newsgroups' training set, or the offline corpus."""
    if not offline:
        try:
            train = fetch_20newsgroups(
                subset="train", categories=CATEGORIES, shuffle=True, random_state=42, remove=("headers", "footers")
            )
            return list(train.data), train.target, list(train.target_names)
        except OSError as error:  # no network and no local cache
            print(f"20 newsgroups is not reachable ({error}); using an offline corpus of the same four topics.")
    else:
        print("Offline: using a generated corpus of the four topics instead of 20 newsgroups.")
    texts, labels = offline_corpus()
    return texts, labels, list(CATEGORIES)


def seed_pipeline():
    """The seed's text classification pipeline: TF-IDF + LSA + a random forest."""
    vec = TfidfVectorizer(min_df=3, stop_words="english", ngram_range=(1, 2))
    svd = TruncatedSVD(n_components=100, n_iter=7, random_state=42)
    lsa = make_pipeline(vec, svd)
    forest_model = RandomForestClassifier(n_estimators=205, max_depth=5, random_state=0)
    return make_pipeline(lsa, forest_model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offline", action="store_true", help="do not try to download 20 newsgroups")
    parser.add_argument("--canonical-name", default="/classifier/text/randomforest")
    args = parser.parse_args()

    texts, labels, target_names = load_newsgroups(args.offline)
    pipe = seed_pipeline().fit(texts, labels)

    model_store = ModelStore()
    model = GenomeEstimator(
        pipe,  # passing the model to genome estimator
        estimator_predict="predict_proba",  # the method LIME's surrogate is trained against
        target_classes=target_names,
        modality="text",
    )
    saved = model_store.save_model(
        model,
        {
            "canonicalName": args.canonical_name,
            "application": os.environ.get("APPLICATION") or "search",
            "pipelineName": os.environ.get("PIPELINE_NAME") or "pipeline-text-test",
            "pipelineRunId": os.environ.get("PIPELINE_RUNID") or "run-1-text",
            "pipelineStage": os.environ.get("STEP_NAME") or "model",
            "framework": "sklearn",
            "inputModality": "text",
            "versionName": "sklearn-text.1.2.2",
            "predictionType": "classification",
        },
    )
    print(f"saved {saved['canonicalName']} version {saved['versionNumber']} as {saved['id']}")

    document = offline_corpus(documents=8, seed=7)[0][2]  # a held-out document about graphics
    explanation = model_store.explain(
        text=document, application=saved["application"], canonical_name=args.canonical_name
    )
    best = max(explanation["textExplanation"]["targets"], key=lambda target: target["proba"])
    words = [word for word, _spans, weight in best["weighted_spans"]["spans"] if weight > 0][:5]
    print(f"predicted {best['target']} (p={best['proba']:.2f}); words for it: {', '.join(words)}")
    print(f"surrogate fidelity score {explanation['metrics']['score']:.2f}")
    model_store.close()


if __name__ == "__main__":
    main()

"""The seed's tabular example: a random forest on California housing, stored in the Genome Model Store.

Run a server first (``make run``), then: ``.venv/bin/python examples/housing_forest.py``.
Uses the California housing data set when it can be downloaded (or is cached) and falls back to scikit-learn's
bundled diabetes data set otherwise, saying so. Inside a Sequencer step, the pipeline fields come from the step.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import fetch_california_housing, load_diabetes
from sklearn.ensemble import RandomForestRegressor

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator


def load_data(offline: bool):
    if not offline:
        try:
            return fetch_california_housing(), "price"
        except OSError as error:  # no network and no local cache
            print(f"California housing is not reachable ({error}); using the bundled diabetes data set instead.")
    else:
        print("Offline: using scikit-learn's bundled diabetes data set instead of California housing.")
    return load_diabetes(), "disease_progression"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offline", action="store_true", help="do not try to download California housing")
    parser.add_argument("--canonical-name", default="/housing/ca/forest-1")
    args = parser.parse_args()

    dataset_train, target = load_data(args.offline)
    forest_model = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=0)
    forest_model = forest_model.fit(dataset_train.data, dataset_train.target)

    model_store = ModelStore()
    genome_model = GenomeEstimator(
        forest_model,
        target_classes=[target],
        feature_names=list(dataset_train.feature_names),
        modality="tabular",
    )

    # a global view of the model's explanations, from a representative sample (1-3k rows work well); with the
    # sample's targets, the tree visualizations also show the data in each node
    rows = dataset_train.data.shape[0]
    picked = np.random.default_rng(0).choice(rows, min(1200, rows), replace=False)
    genome_model.explainer.sampleExplanations(dataset_train.data[picked, :], dataset_train.target[picked])

    saved = model_store.save_model(
        genome_model,
        {
            "canonicalName": args.canonical_name,
            "application": os.environ.get("APPLICATION") or "search",
            "pipelineName": os.environ.get("PIPELINE_NAME") or "pipeline-housing",
            "pipelineRunId": os.environ.get("PIPELINE_RUNID"),
            "pipelineStage": os.environ.get("STEP_NAME") or "model",
            "framework": "sklearn",
            "inputModality": "tabular",
            "versionName": "1.2.3",
            "predictionType": "regression",
        },
    )
    print(f"saved {saved['canonicalName']} version {saved['versionNumber']} as {saved['id']}")
    importance = sorted(saved["featureImportance"].items(), key=lambda item: -item[1])[:3]
    print("most important features (mean |SHAP|): " + ", ".join(f"{name} {value:.2f}" for name, value in importance))

    loaded = model_store.load_model(application=saved["application"], canonical_name=saved["canonicalName"])
    same = np.array_equal(
        loaded.estimator.predict(dataset_train.data[:100]), forest_model.predict(dataset_train.data[:100])
    )
    print(f"loaded the latest version back; predictions identical: {same}")
    model_store.close()


if __name__ == "__main__":
    main()

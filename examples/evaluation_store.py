"""The seed's Evaluation Store example: a test suite declared with @evaluation and @task, run against the text model
it trains, and stored as a searchable run.

Run a server first (``make run``), then: ``.venv/bin/python examples/evaluation_store.py``.
Trains the seed's text pipeline on 20 newsgroups when it can be downloaded (or is cached) and on an offline corpus of
the same four topics otherwise, saying so. Inside a Sequencer step, the pipeline fields come from the step.
"""

from __future__ import annotations

import argparse
import logging
import os

from newsgroups_text import load_newsgroups, seed_pipeline

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task


# use the @evaluation annotation to declare a class as an evaluation
@evaluation(
    name="test/skill/annotations/better-than-last",
    versionName="1.2.sklearn",
    code="ensemble-training:local.1",
    targetModel="target-id",
)
class TrainTestEvaluation(GenomeEvaluationRun):
    # use the @task annotation to declare a method as an evaluation task
    # task metadata for functions annotated this way, will be stored in
    # our Evaluation Store
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def evaluateTrainTestSplit(self, t, dataset):
        my_split = 0.7

        t.add_metric("f2", 2.34)
        t.expect(my_split, var="my_split").toBeLess(0.76)

    # how to test for errors
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def checkError(self, t, dataset):
        t.add_metric("f2", 2.34)
        t.expect(lambda: 5 / 0, var="myFunction").toRaise(ZeroDivisionError)

    # how to test for specific records in a dataset (named prototypes)
    # behaving in a certain way for a model
    @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
    def prototypeTest(self, t, dataset):
        logging.info("running evaluation task:")
        logging.info(t)

        intersect = 0.82
        t.add_metric("intersection", intersect).expect(intersect, var="intersection").toBeGreater(0.52)

        # now some dummy prototypes
        for record in range(5):
            m = record * 1.24
            t.prototype(ref="id-123").add_metric("f1", record * 2.34).expect(m, var="f1").toBe([1, 0], var="metric")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offline", action="store_true", help="do not try to download 20 newsgroups")
    parser.add_argument("--canonical-name", default="/classifier/text/randomforest")
    args = parser.parse_args()

    # now that the evaluation definition with its annotations is provided
    # we can run the test either as part of the training stage, or separately
    model_store = ModelStore()
    texts, labels, target_names = load_newsgroups(args.offline)
    pipe = seed_pipeline().fit(texts, labels)
    model = GenomeEstimator(pipe, estimator_predict="predict_proba", target_classes=target_names, modality="text")
    saved_model = model_store.save_model(
        model,
        {
            "canonicalName": args.canonical_name,
            "application": os.environ.get("APPLICATION") or "search",
            "pipelineName": os.environ.get("PIPELINE_NAME") or "pipeline-keras-test",
            "pipelineRunId": os.environ.get("PIPELINE_RUNID"),
            "pipelineStage": os.environ.get("STEP_NAME") or "model",
            "framework": "sklearn",
            "inputModality": "text",
            "versionName": "sklearn-text.1.2.2",
            "predictionType": "classification",
        },
    )
    model_store.close()

    # now finally run the evaluation defined in TrainTestEvaluation
    # in target we are dynamically passing the trained model id from model store
    split_eval = TrainTestEvaluation(None, target=saved_model["id"])
    stored = split_eval.to_run()

    print(f"stored evaluation run {stored['id']} on {saved_model['canonicalName']} v{saved_model['versionNumber']}")
    print(f"status {stored['status']}: " + ", ".join(f"{n} {s}" for s, n in stored["summary"].items() if n))
    for record in stored["tasks"]:
        name = record["name"] + (f" / {record['prototypeRef']}" if record["prototypeRef"] else "")
        texts = "; ".join(expectation["text"] for expectation in record["expectations"])
        print(f"  {record['status']:<7} {name}: {texts}")


if __name__ == "__main__":
    main()

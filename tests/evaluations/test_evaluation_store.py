"""The Evaluation Store through a live server: the seed's run stored and found, search, history, diff, the alias
gate, permissions and malformed runs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from genome.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from genome.modelstore.estimator import GenomeEstimator
from genome.modelstore.evaluationspec import GenomeEvaluationRun, evaluation, task
from genome.server.app import API_PREFIX
from seed_evaluation import TrainTestEvaluation

RUNS = f"{API_PREFIX}/evaluations/runs"
IRIS = load_iris()
REF = "mllake://datasets/benchmark/california-housing-test"


def accuracy_evaluation(threshold: float, extra_task: bool = False) -> type[GenomeEvaluationRun]:
    """An evaluation of the iris model whose outcome depends on ``threshold``."""

    @evaluation(name="iris/accuracy", versionName="1")
    class Accuracy(GenomeEvaluationRun):
        @task(dataset={"ref": "sklearn://iris"})
        def accuracy(self, t, dataset):
            t.add_metric("accuracy", threshold)
            t.expect(threshold, var="accuracy").toBeGreaterOrEqual(0.9)

        @task(segment="setosa")
        def setosa(self, t, dataset):
            t.add_metric("recall", 1.0).expect(1.0, var="recall").toBe(1.0)

        if extra_task:

            @task()
            def calibration(self, t, dataset):
                t.add_metric("brier", 0.1)

    return Accuracy


def _save_iris(store, name: str = "/iris/logistic", application: str = "search") -> dict:
    model = LogisticRegression(max_iter=300).fit(IRIS.data, IRIS.target)
    return store.save_model(GenomeEstimator(model), {"application": application, "canonicalName": name})


def test_seed_evaluation_is_stored_as_written(server, store) -> None:
    saved = _save_iris(store)
    evaluations = server.evaluations()
    split_eval = TrainTestEvaluation(evaluations, target=saved["id"])
    stored = split_eval.to_run()

    assert stored == evaluations.get_run(stored["id"]) == split_eval.result
    assert stored["name"] == "test/skill/annotations/better-than-last" and stored["versionName"] == "1.2.sklearn"
    assert stored["application"] == "search"  # the target model's
    assert stored["code"] == {"ref": "ensemble-training:local.1", "refType": "image"}
    assert stored["target"] == {
        "ref": saved["id"],
        "refType": "model",
        "canonicalName": "/iris/logistic",
        "versionNumber": 1,
    }
    assert stored["dataRefs"] == [REF]
    assert [task["name"] for task in stored["tasks"]] == [
        "evaluateTrainTestSplit",
        "checkError",
        "prototypeTest",
        *["prototypeTest"] * 5,
    ]
    assert [task["prototypeRef"] for task in stored["tasks"]] == [None, None, None, *["id-123"] * 5]
    assert [task["status"] for task in stored["tasks"]] == ["passed"] * 3 + ["failed"] * 5
    assert stored["status"] == "failed"
    assert stored["summary"] == {"passed": 3, "failed": 5, "error": 0, "empty": 0}
    assert stored["tasks"][0]["metrics"] == {"f2": 2.34}
    assert stored["tasks"][4]["metrics"] == {"f1": 2.34}
    first = stored["tasks"][0]["expectations"][0]
    assert first["var"] == "my_split" and first["op"] == "toBeLess" and first["passed"] is True
    assert first["expected"] == 0.76 and first["actual"] == 0.7 and "<" in first["text"]
    assert stored["createdBy"] == "admin" and stored["created"] > 0


def test_a_task_that_raises_is_an_error_and_the_others_still_run(server, store) -> None:
    saved = _save_iris(store)

    @evaluation(name="iris/broken")
    class Broken(GenomeEvaluationRun):
        @task()
        def first(self, t, dataset):
            t.add_metric("seen", 1)
            raise KeyError("column 'price' is missing")

        @task()
        def second(self, t, dataset):
            t.expect(2, var="two").toBe(2)

    stored = Broken(server.evaluations(), target=saved["id"]).to_run()
    assert [task["status"] for task in stored["tasks"]] == ["error", "passed"]
    assert stored["status"] == "error" and stored["summary"]["error"] == 1
    error = stored["tasks"][0]["error"]
    assert "KeyError" in error["message"] and "price" in error["message"]
    assert "Traceback" in error["traceback"] and "raise KeyError" in error["traceback"]
    assert stored["tasks"][0]["metrics"] == {"seen": 1}


def test_search_filters_and_pages(server, store) -> None:
    first, other = _save_iris(store), _save_iris(store, "/iris/other")
    evaluations = server.evaluations()
    runs = [accuracy_evaluation(0.95)(evaluations, target=first["id"], pipelineRunId="run-7").to_run()]
    runs += [accuracy_evaluation(0.5)(evaluations, target=first["id"]).to_run() for _ in range(3)]
    runs.append(TrainTestEvaluation(evaluations, target=other["id"]).to_run())

    def ids(**filters: Any) -> list[str]:
        return [run["id"] for run in evaluations.iter_runs(page_size=2, **filters)]

    newest_first = [run["id"] for run in reversed(runs)]
    assert ids() == newest_first
    assert ids(name="iris/accuracy") == newest_first[1:]
    assert ids(target=first["id"]) == ids(target="/iris/logistic") == newest_first[1:]
    assert ids(status="passed") == [runs[0]["id"]]
    assert ids(status="failed", target="/iris/logistic") == newest_first[1:4]
    assert ids(pipeline_run_id="run-7") == [runs[0]["id"]]
    assert ids(created_after=runs[4]["created"]) == [runs[4]["id"]]
    assert ids(created_before=runs[0]["created"]) == [runs[0]["id"]]
    assert ids(application="ads") == []
    page = evaluations.search_runs(limit=2)
    assert len(page["items"]) == 2 and page["nextCursor"] and "tasks" not in page["items"][0]
    with pytest.raises(InvalidInput) as caught:
        evaluations.search_runs(status="green")
    assert caught.value.field == "status"


def test_history_follows_one_evaluation_across_versions(server, store) -> None:
    evaluations = server.evaluations()
    versions = [_save_iris(store) for _ in range(3)]
    accuracy_evaluation(0.5)(evaluations, target=versions[0]["id"]).to_run()
    rerun = accuracy_evaluation(0.92)(evaluations, target=versions[0]["id"]).to_run()  # the latest on v1
    third = accuracy_evaluation(0.97)(evaluations, target=versions[2]["id"]).to_run()
    TrainTestEvaluation(evaluations, target=versions[1]["id"]).to_run()  # another evaluation: not in this history

    points = evaluations.history(application="search", name="iris/accuracy", canonical_name="/iris/logistic")
    assert [point["versionNumber"] for point in points] == [1, 3]
    assert [point["run"]["id"] for point in points] == [rerun["id"], third["id"]]
    assert points[0]["modelId"] == versions[0]["id"]
    assert points[1]["metrics"] == {"accuracy": {"accuracy": 0.97}, "setosa": {"recall": 1.0}}
    page = server.http.get(
        f"{API_PREFIX}/evaluations/history",
        params={"application": "search", "name": "iris/accuracy", "canonicalName": "/iris/logistic", "limit": 1},
    ).json()
    assert [point["versionNumber"] for point in page["points"]] == [1] and page["nextCursor"] == "1"


def test_diff_shows_flips_metric_deltas_and_added_tasks(server, store) -> None:
    saved = _save_iris(store)
    evaluations = server.evaluations()
    base = accuracy_evaluation(0.95)(evaluations, target=saved["id"]).to_run()
    head = accuracy_evaluation(0.5, extra_task=True)(evaluations, target=saved["id"]).to_run()

    diff = evaluations.diff(base["id"], head["id"])
    assert diff["base"]["id"] == base["id"] and diff["head"]["id"] == head["id"] and diff["statusChanged"]
    accuracy_key = {"name": "accuracy", "segment": None, "prototypeRef": None, "occurrence": 0}
    assert diff["flipped"] == [{"task": accuracy_key, "base": "passed", "head": "failed"}]
    assert diff["metrics"] == [
        {"task": accuracy_key, "metric": "accuracy", "base": 0.95, "head": 0.5, "delta": pytest.approx(-0.45)}
    ]
    calibration = {"name": "calibration", "segment": None, "prototypeRef": None, "occurrence": 0}
    assert diff["added"] == [{"task": calibration, "status": "empty"}] and diff["removed"] == []
    assert diff["unchangedTasks"] == 1
    back = evaluations.diff(head["id"], base["id"])
    assert back["removed"] == [{"task": calibration, "status": "empty"}] and back["added"] == []

    seed = TrainTestEvaluation(evaluations, target=saved["id"]).to_run()
    again = TrainTestEvaluation(evaluations, target=saved["id"]).to_run()
    same = evaluations.diff(seed["id"], again["id"])
    assert same["flipped"] == same["metrics"] == same["added"] == same["removed"] == []
    assert same["unchangedTasks"] == 8  # the five prototypes of one ref are matched by occurrence


def test_alias_gate_needs_the_latest_evaluations_to_pass(server, store) -> None:
    saved = _save_iris(store)
    evaluations = server.evaluations()
    with pytest.raises(Conflict, match="no stored evaluation run"):
        store.set_alias(saved["id"], "production", require_passing=True)

    accuracy_evaluation(0.5)(evaluations, target=saved["id"]).to_run()
    with pytest.raises(Conflict, match=r"'iris/accuracy' failed") as caught:
        store.set_alias(saved["id"], "production", require_passing=True)
    assert caught.value.field == "require_passing"
    assert "production" not in store.get_model(saved["id"])["aliases"]

    accuracy_evaluation(0.95)(evaluations, target=saved["id"]).to_run()  # the latest run now passes
    assert "production" in store.set_alias(saved["id"], "production", require_passing=True)["aliases"]

    TrainTestEvaluation(evaluations, target=saved["id"]).to_run()  # another evaluation, failing
    with pytest.raises(Conflict, match="better-than-last"):
        store.set_alias(saved["id"], "staging", require_passing=True)
    assert "staging" in store.set_alias(saved["id"], "staging")["aliases"]  # without the gate: as before


def test_permissions_follow_the_target_models_application(server, store) -> None:
    saved = _save_iris(store)
    stored = TrainTestEvaluation(server.evaluations(), target=saved["id"]).to_run()

    viewer = server.evaluations(server.token_for("vera", {"search": "viewer"}))
    assert viewer.get_run(stored["id"])["id"] == stored["id"]
    with pytest.raises(PermissionDenied):
        TrainTestEvaluation(viewer, target=saved["id"]).to_run()

    outsider = server.evaluations(server.token_for("olga", {"ads": "editor"}))
    with pytest.raises(NotFound):
        outsider.get_run(stored["id"])
    assert outsider.search_runs()["items"] == []
    with pytest.raises(NotFound) as caught:  # a model the caller cannot see is as missing as an unknown one
        TrainTestEvaluation(outsider, target=saved["id"]).to_run()
    assert caught.value.field == "target.ref"


def _seed_record(target: str) -> dict:
    return TrainTestEvaluation(None, target=target).run()


def test_malformed_runs_are_clear_errors_and_store_nothing(make_server) -> None:
    server = make_server("sqlite")
    saved = _save_iris(server.store())

    def error(body: dict, status: int = 400) -> dict:
        response = server.http.post(RUNS, json=body)
        assert response.status_code == status, response.text
        return response.json()["error"]

    record = _seed_record(saved["id"])
    assert error({**record, "target": {"ref": "f" * 32, "refType": "model"}}, 404)["field"] == "target.ref"
    lying = {**record, "tasks": [{**record["tasks"][3], "status": "passed"}, *record["tasks"][1:]]}
    found = error({**lying, "status": "failed"})
    assert found["field"] == "tasks[0].status" and "'failed'" in found["message"]
    found = error({**record, "status": "passed"})
    assert found["field"] == "status" and "'failed'" in found["message"]
    assert error({**record, "target": None})["field"] == "application"
    assert error({**record, "application": "ads"})["field"] == "application"
    bad_op = {**record["tasks"][0], "expectations": [{**record["tasks"][0]["expectations"][0], "op": "toBeNice"}]}
    assert "op" in error({**record, "tasks": [bad_op]})["field"]
    assert error({**record, "name": ""})["field"] == "name"
    assert server.evaluations().search_runs()["items"] == []

    empty = server.http.post(RUNS, json={**record, "tasks": [], "status": "empty"})  # no tasks: empty, and valid
    assert empty.status_code == 201 and empty.json()["status"] == "empty"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_metric_that_is_not_a_finite_number_is_a_400_naming_it(server, store, literal: str) -> None:
    record = _seed_record(_save_iris(store)["id"])
    first, *others = record["tasks"]

    def refused(tasks: list[dict]) -> dict:
        body = json.dumps({**record, "tasks": tasks}).replace('"REPLACE"', literal)
        response = server.http.post(RUNS, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        return response.json()["error"]

    error = refused([{**first, "metrics": {"f2": 2.34, "rmse": "REPLACE"}}, *others])
    assert error["field"] == "tasks[0].metrics.rmse" and "finite" in error["message"]
    error = refused([first, {**others[0], "metrics": {"per_class": [0.5, "REPLACE"]}}, *others[1:]])
    assert error["field"] == "tasks[1].metrics.per_class[1]"
    expectation = {**first["expectations"][0], "actual": "REPLACE"}
    error = refused([{**first, "expectations": [expectation]}, *others])
    assert error["field"] == "tasks[0].expectations[0].actual"
    assert server.evaluations().search_runs()["items"] == []


def test_the_sdk_refuses_a_nan_metric_in_the_task_that_computed_it(server, store) -> None:
    saved = _save_iris(store)

    @evaluation(name="iris/nan", versionName="1")
    class Diverged(GenomeEvaluationRun):
        @task()
        def rmse(self, t, dataset):
            t.add_metric("rmse", np.mean([]))  # numpy's mean of nothing: NaN, with a warning

        @task()
        def fine(self, t, dataset):
            t.add_metric("accuracy", 0.9)
            t.expect(float("nan"), var="loss").toBeLess(1.0)  # NaN is not < 1: failed, its value kept as text

    with pytest.warns(RuntimeWarning):
        stored = Diverged(server.evaluations(), target=saved["id"]).to_run()
    failed, fine = stored["tasks"]
    assert failed["status"] == "error" and failed["metrics"] == {}
    assert "metric 'rmse' is nan, not a finite number" in failed["error"]["message"]
    assert fine["status"] == "failed" and fine["metrics"] == {"accuracy": 0.9}
    assert fine["expectations"][0]["actual"] == "nan" and fine["expectations"][0]["text"] == "loss = nan is not < 1.0"

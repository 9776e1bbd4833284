"""The evaluation framework on the client: tasks, matchers, statuses, metadata and datasets, without a server."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from genome.errors import InvalidInput
from genome.evaluations.schemas import EvaluationRunCreate
from genome.modelstore.evaluationspec import Dataset, GenomeEvaluationRun, TaskContext, evaluation, task
from seed_evaluation import TrainTestEvaluation

MLLAKE = "mllake://datasets/benchmark/california-housing-test"
saved_model = {"id": "model-0001"}


class RecordingStore:
    """Stands in for the Evaluation Store client, which has its own tests against a live server."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.closed = False

    def save_run(self, record: dict[str, Any]) -> dict[str, Any]:
        self.saved.append(record)
        return {**record, "id": f"run-{len(self.saved)}"}

    def close(self) -> None:
        self.closed = True


def expectation(matcher: str, actual: Any, *args: Any, var: str | None = "x", **kwargs: Any) -> dict[str, Any]:
    """The record one matcher leaves on a fresh task."""
    t = TaskContext("check")
    getattr(t.expect(actual, var=var), matcher)(*args, **kwargs)
    (record,) = t.expectations
    return record


def run_of(*outcomes: str) -> dict[str, Any]:
    """Run an evaluation with one task per outcome: passed, failed, error or empty."""

    def make(outcome: str) -> Any:
        def method(self: Any, t: TaskContext, dataset: Dataset) -> None:
            if outcome in ("passed", "failed"):
                t.expect(1).toBe(1 if outcome == "passed" else 2)
            if outcome == "error":
                raise RuntimeError("broken")

        return task()(method)

    namespace = {f"task_{index}": make(outcome) for index, outcome in enumerate(outcomes)}
    return evaluation(name="statuses")(type("Statuses", (GenomeEvaluationRun,), namespace))().run()


# The seed's example


def test_seed_example_records_three_tasks_and_five_prototypes() -> None:
    split_eval = TrainTestEvaluation(None, target=saved_model["id"])
    record = split_eval.run()

    assert [(task["name"], task["prototypeRef"], task["status"]) for task in record["tasks"]] == [
        ("evaluateTrainTestSplit", None, "passed"),
        ("checkError", None, "passed"),
        ("prototypeTest", None, "passed"),
        *[("prototypeTest", "id-123", "failed")] * 5,
    ]
    assert record["status"] == "failed"
    assert record["name"] == "test/skill/annotations/better-than-last"
    assert record["versionName"] == "1.2.sklearn"
    assert record["code"] == {"ref": "ensemble-training:local.1", "refType": "image"}
    assert record["target"] == {"ref": "model-0001", "refType": "model"}
    assert record["dataRefs"] == [MLLAKE]
    assert all(task["dataRef"] == MLLAKE and task["segment"] is None for task in record["tasks"])
    assert [task["metrics"] for task in record["tasks"][:3]] == [{"f2": 2.34}, {"f2": 2.34}, {"intersection": 0.82}]
    assert [task["metrics"]["f1"] for task in record["tasks"][3:]] == [record * 2.34 for record in range(5)]
    assert record["tasks"][0]["expectations"] == [
        {
            "var": "my_split",
            "op": "toBeLess",
            "expected": 0.76,
            "actual": 0.7,
            "passed": True,
            "text": "my_split = 0.7 is < 0.76",
        }
    ]
    assert record["tasks"][1]["expectations"][0]["text"] == (
        "myFunction raised ZeroDivisionError('division by zero'), as expected (ZeroDivisionError)"
    )
    assert record["tasks"][4]["expectations"] == [
        {
            "var": "metric",
            "op": "toBe",
            "expected": [1, 0],
            "actual": 1.24,
            "passed": False,
            "text": "metric = 1.24 does not equal [1, 0]",
        }
    ]
    assert all(task["error"] is None for task in record["tasks"])
    assert json.loads(json.dumps(record)) == record


def test_seed_example_logs_a_readable_task(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        TrainTestEvaluation(None).run()
    assert f"TaskContext('prototypeTest', dataRef='{MLLAKE}'" in caplog.text


def test_target_defaults_to_the_decorators_target_model() -> None:
    assert TrainTestEvaluation().run()["target"] == {"ref": "target-id", "refType": "model"}


# Matchers


@pytest.mark.parametrize(
    ("matcher", "actual", "expected", "passed", "text"),
    [
        ("toBe", 3, 3, True, "x = 3 equals 3"),
        ("toBe", 3, 4, False, "x = 3 does not equal 4"),
        ("toBe", "cat", "dog", False, "x = 'cat' does not equal 'dog'"),
        ("toBe", [1, 0], [1, 0], True, "x = [1, 0] equals [1, 0]"),
        ("toBe", np.array([1, 2]), [1, 2], True, "x = [1, 2] equals [1, 2]"),
        ("toBe", [1, 2], np.array([1, 3]), False, "x = [1, 2] does not equal [1, 3]"),
        ("toBe", np.array([1, 2]), np.array([1, 2, 3]), False, "x = [1, 2] does not equal [1, 2, 3]"),
        ("toBeLess", 0.7, 0.76, True, "x = 0.7 is < 0.76"),
        ("toBeLess", 0.9, 0.76, False, "x = 0.9 is not < 0.76"),
        ("toBeLess", np.array([1, 2]), 3, True, "x = [1, 2] is < 3"),
        ("toBeLess", np.array([1, 5]), 3, False, "x = [1, 5] is not < 3"),
        ("toBeLessOrEqual", 1, 1, True, "x = 1 is <= 1"),
        ("toBeLessOrEqual", 2, 1, False, "x = 2 is not <= 1"),
        ("toBeGreater", 2, 1, True, "x = 2 is > 1"),
        ("toBeGreater", 1, 1, False, "x = 1 is not > 1"),
        ("toBeGreaterOrEqual", 1, 1, True, "x = 1 is >= 1"),
        ("toBeGreaterOrEqual", 0, 1, False, "x = 0 is not >= 1"),
        ("toContain", [1, 2], 2, True, "x = [1, 2] contains 2"),
        ("toContain", "abc", "z", False, "x = 'abc' does not contain 'z'"),
        ("toContain", {"a": 1}, "a", True, "x = {'a': 1} contains 'a'"),
        ("toBeCloseTo", 0.1 + 0.2, 0.3, True, "x = 0.30000000000000004 is within 1e-06 of 0.3"),
        ("toBeCloseTo", 0.31, 0.3, False, "x = 0.31 is not within 1e-06 of 0.3"),
        (
            "toBeCloseTo",
            np.array([1.0, 2.0]),
            [1.0, 2.0000001],
            True,
            "x = [1.0, 2.0] is within 1e-06 of [1.0, 2.0000001]",
        ),
        ("toBeCloseTo", np.array([1.0, 2.0]), [1.0, 2.1], False, "x = [1.0, 2.0] is not within 1e-06 of [1.0, 2.1]"),
    ],
)
def test_matchers_pass_and_fail(matcher: str, actual: Any, expected: Any, passed: bool, text: str) -> None:
    record = expectation(matcher, actual, expected)
    assert (record["op"], record["passed"], record["text"]) == (matcher, passed, text)
    assert record["var"] == "x"


def test_close_to_takes_a_tolerance() -> None:
    assert expectation("toBeCloseTo", 0.35, 0.3, tolerance=0.1)["text"] == "x = 0.35 is within 0.1 of 0.3"
    assert not expectation("toBeCloseTo", 0.5, 0.3, tolerance=0.1)["passed"]
    with pytest.raises(InvalidInput, match="tolerance"):
        expectation("toBeCloseTo", 0.5, 0.3, tolerance=-1)


@pytest.mark.parametrize(
    ("matcher", "actual", "expected", "text"),
    [
        (
            "toBeLess",
            None,
            1,
            "x = None cannot be compared with 1 by toBeLess: "
            "TypeError: '<' not supported between instances of 'NoneType' and 'int'",
        ),
        ("toContain", 5, 1, "x = 5 cannot be compared with 1 by toContain: TypeError: argument of type 'int' is not"),
        ("toBeCloseTo", "a", 1.0, "x = 'a' cannot be compared with 1.0 by toBeCloseTo: "),
        ("toBe", pd.Series([1, 2]), 1, "x = "),
    ],
)
def test_values_that_cannot_be_compared_fail_without_raising(
    matcher: str, actual: Any, expected: Any, text: str
) -> None:
    record = expectation(matcher, actual, expected)
    assert record["passed"] is False
    assert record["text"].startswith(text)
    assert "cannot be compared" in record["text"]


def test_text_without_a_var_shows_the_value_alone() -> None:
    record = expectation("toBeGreater", 2, 1, var=None)
    assert (record["var"], record["text"]) == (None, "2 is > 1")


def test_matcher_var_overrides_the_expectations_var() -> None:
    t = TaskContext("check")
    t.expect(1, var="a").toBe(1, var="b").toBeLess(2)
    assert [(record["var"], record["text"]) for record in t.expectations] == [
        ("b", "b = 1 equals 1"),
        ("a", "a = 1 is < 2"),
    ]


def test_matchers_chain_and_the_expectation_forwards_to_its_task() -> None:
    t = TaskContext("check")
    assert t.expect(3, var="x").toBeGreater(1).toBeLess(5).add_metric("m", 1) is t
    t.expect(3).toBe(3).expect(4).toBe(4)
    child = t.expect(5).toBe(5).prototype("p-1")
    assert [record["op"] for record in t.expectations] == ["toBeGreater", "toBeLess", "toBe", "toBe", "toBe"]
    assert (child.prototype_ref, t.prototypes) == ("p-1", [child])
    assert t.metrics == {"m": 1}


def test_long_values_are_shortened_in_texts_but_kept_in_records() -> None:
    record = expectation("toBe", list(range(100)), 0)
    assert record["text"] == "x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...] does not equal 0"
    assert record["actual"] == list(range(100))


# toRaise and toThrow


def _divide() -> float:
    return 1 / 0


@pytest.mark.parametrize(
    ("actual", "expected", "passed", "text"),
    [
        (_divide, None, True, "f raised ZeroDivisionError('division by zero'), as expected (an exception)"),
        (
            _divide,
            ZeroDivisionError,
            True,
            "f raised ZeroDivisionError('division by zero'), as expected (ZeroDivisionError)",
        ),
        (
            _divide,
            ArithmeticError,
            True,
            "f raised ZeroDivisionError('division by zero'), as expected (ArithmeticError)",
        ),
        (
            _divide,
            ZeroDivisionError("division by zero"),
            True,
            "f raised ZeroDivisionError('division by zero'), as expected (ZeroDivisionError('division by zero'))",
        ),
        (
            _divide,
            ZeroDivisionError("other"),
            False,
            "f raised ZeroDivisionError('division by zero'); expected ZeroDivisionError('other')",
        ),
        ({}.pop, KeyError, False, "f raised TypeError('pop expected at least 1 argument, got 0'); expected KeyError"),
        (lambda: None, ZeroDivisionError, False, "f raised nothing; expected ZeroDivisionError"),
        (lambda: None, None, False, "f raised nothing; expected an exception"),
        (5, ZeroDivisionError, False, "f = 5 is not a function to call; expected it to raise ZeroDivisionError"),
    ],
)
def test_to_raise(actual: Any, expected: Any, passed: bool, text: str) -> None:
    record = expectation("toRaise", actual, expected, var="f")
    assert (record["op"], record["passed"], record["text"]) == ("toRaise", passed, text)


def test_to_raise_records_the_exception_raised_and_the_one_expected() -> None:
    record = expectation("toRaise", _divide, ZeroDivisionError, var="f")
    assert (record["expected"], record["actual"]) == ("ZeroDivisionError", "ZeroDivisionError('division by zero')")
    nothing = expectation("toRaise", lambda: None, ValueError("bad"), var=None)
    assert (nothing["expected"], nothing["actual"], nothing["text"]) == (
        "ValueError('bad')",
        None,
        "<lambda> raised nothing; expected ValueError('bad')",
    )


def test_to_throw_is_to_raise_under_its_own_name() -> None:
    record = expectation("toThrow", _divide, ZeroDivisionError, var="myFunction")
    assert (record["op"], record["passed"]) == ("toThrow", True)
    assert record["text"] == "myFunction raised ZeroDivisionError('division by zero'), as expected (ZeroDivisionError)"


def test_to_raise_can_expect_exceptions_beyond_exception() -> None:
    assert expectation("toRaise", sys.exit, SystemExit)["passed"]


def test_to_raise_needs_an_exception_to_expect() -> None:
    with pytest.raises(InvalidInput, match="exception class") as info:
        expectation("toRaise", _divide, "ZeroDivisionError")
    assert info.value.field == "expected"


# Metrics and values


def test_numpy_values_become_python_values() -> None:
    t = TaskContext("check")
    t.add_metric("f1", np.float64(0.5)).add_metric("n", np.int64(3)).add_metric("curve", np.array([[1, 2], [3, 4]]))
    t.add_metric("flag", np.bool_(True)).add_metric("nested", {"a": (np.float32(0.25), "s")})
    t.expect(np.float64(0.5), var="f1").toBe(np.float32(0.5)).toBe(np.array([0.5]))
    assert t.metrics == {"f1": 0.5, "n": 3, "curve": [[1, 2], [3, 4]], "flag": True, "nested": {"a": [0.25, "s"]}}
    assert [type(value) for value in (t.metrics["f1"], t.metrics["n"], t.metrics["flag"])] == [float, int, bool]
    assert [(record["actual"], record["expected"], record["text"]) for record in t.expectations] == [
        (0.5, 0.5, "f1 = 0.5 equals 0.5"),
        (0.5, [0.5], "f1 = 0.5 does not equal [0.5]"),  # array_equal compares shapes too
    ]
    assert json.loads(json.dumps(t.metrics)) == t.metrics


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


def test_values_that_are_not_json_are_named_or_shown() -> None:
    assert expectation("toBe", Opaque(), {1, 2})["actual"] == "Opaque()"
    assert expectation("toBe", 1, {1, 2})["expected"] == "{1, 2}"
    assert expectation("toBe", len, Opaque)["actual"] == "len"
    assert expectation("toBe", 1, Opaque)["expected"] == "Opaque"
    assert expectation("toBe", ValueError("v"), 1)["actual"] == "ValueError('v')"
    assert expectation("toBe", {1: "a"}, 1)["actual"] == "{1: 'a'}"


@pytest.mark.parametrize(("name", "value", "field"), [("", 1, "name"), (3, 1, "name"), ("m", object(), "value")])
def test_bad_metrics_are_refused(name: Any, value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        TaskContext("check").add_metric(name, value)
    assert info.value.field == field


def test_only_a_task_has_prototypes() -> None:
    t = TaskContext("check", "file:///d.csv", "all")
    child = t.prototype("id-1")
    assert (child.name, child.data_ref, child.segment, child.prototype_ref) == ("check", "file:///d.csv", "all", "id-1")
    with pytest.raises(InvalidInput, match="only a task"):
        child.prototype("id-2")
    with pytest.raises(InvalidInput, match="ref"):
        t.prototype("")


# Tasks and statuses


@evaluation(name="errors")
class WithErrors(GenomeEvaluationRun):
    @task()
    def broken(self, t, dataset):
        t.add_metric("before", 1)
        t.expect(1, var="one").toBe(1)
        return 1 / 0

    @task(dataset="file:///data/test.csv", name="after", segment="age>65")
    def still_runs(self, t, dataset):
        t.add_metric("dataset", dataset.ref)

    @task()
    def nothing_expected(self, t, dataset):
        t.add_metric("only", "a metric")


def test_a_task_that_raises_is_an_error_and_the_others_still_run() -> None:
    record = WithErrors().run()
    broken, after, empty = record["tasks"]
    assert broken["status"] == "error"
    assert broken["error"]["message"] == "ZeroDivisionError: division by zero"
    assert broken["error"]["traceback"].startswith("Traceback (most recent call last):")
    assert "in broken" in broken["error"]["traceback"]
    assert "return 1 / 0" in broken["error"]["traceback"]
    assert " in run\n" not in broken["error"]["traceback"]
    assert (broken["metrics"], broken["expectations"][0]["passed"]) == ({"before": 1}, True)
    assert (after["name"], after["segment"], after["dataRef"], after["status"]) == (
        "after",
        "age>65",
        "file:///data/test.csv",
        "empty",
    )
    assert after["metrics"] == {"dataset": "file:///data/test.csv"}
    assert (empty["status"], empty["error"]) == ("empty", None)
    assert record["status"] == "error"
    assert record["dataRefs"] == ["file:///data/test.csv"]


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ((), "empty"),
        (("empty", "empty"), "empty"),
        (("passed", "empty"), "passed"),
        (("empty", "passed"), "passed"),
        (("passed", "failed", "empty"), "failed"),
        (("failed", "error", "passed"), "error"),
        (("error",), "error"),
    ],
)
def test_run_status_is_the_worst_task_status(outcomes: tuple[str, ...], status: str) -> None:
    record = run_of(*outcomes)
    assert [task["status"] for task in record["tasks"]] == list(outcomes)
    assert record["status"] == status


def test_prototypes_count_towards_the_run_status() -> None:
    @evaluation(name="prototypes")
    class Prototypes(GenomeEvaluationRun):
        @task()
        def parent(self, t, dataset):
            t.prototype("a").expect(1).toBe(1)
            t.prototype("b")

    record = Prototypes().run()
    assert [task["status"] for task in record["tasks"]] == ["empty", "passed", "empty"]
    assert record["status"] == "passed"


def test_the_task_gets_its_dataset() -> None:
    seen: list[Any] = []

    @evaluation(name="datasets")
    class Datasets(GenomeEvaluationRun):
        @task(dataset={"ref": "file:///a.csv"})
        def first(self, t, dataset):
            seen.append(dataset)

        @task()
        def second(self, t, dataset):
            seen.append(dataset)

    assert Datasets().run()["dataRefs"] == ["file:///a.csv"]
    assert [(type(dataset), dataset.ref) for dataset in seen] == [(Dataset, "file:///a.csv"), (Dataset, None)]


@pytest.mark.parametrize("dataset", [{"path": "x.csv"}, 3])
def test_bad_task_datasets_are_refused(dataset: Any) -> None:
    with pytest.raises(InvalidInput, match="dataset"):
        task(dataset=dataset)


# Inheritance


@evaluation(name="base")
class Base(GenomeEvaluationRun):
    @task()
    def first(self, t, dataset):
        t.add_metric("by", "base")

    @task()
    def second(self, t, dataset):
        t.add_metric("by", "base")

    @task()
    def third(self, t, dataset):
        t.add_metric("by", "base")

    def helper(self) -> str:
        return "not a task"


@evaluation(name="child")
class Child(Base):
    @task()
    def fourth(self, t, dataset):
        t.add_metric("by", "child")

    @task()
    def second(self, t, dataset):
        t.add_metric("by", self.helper())

    def third(self, t, dataset):
        raise AssertionError("an override without @task is not a task")


def test_base_tasks_run_first_and_an_override_keeps_its_place() -> None:
    record = Child().run()
    assert [(task["name"], task["metrics"]["by"]) for task in record["tasks"]] == [
        ("first", "base"),
        ("second", "not a task"),
        ("fourth", "child"),
    ]
    assert record["name"] == "child"
    assert [task["name"] for task in Base().run()["tasks"]] == ["first", "second", "third"]


@pytest.mark.parametrize("evaluation_class", [TrainTestEvaluation, WithErrors, Child])
def test_run_records_match_the_stores_wire_schema(evaluation_class: type[GenomeEvaluationRun]) -> None:
    record = evaluation_class(target="model-0001").run()
    assert EvaluationRunCreate.model_validate(record).model_dump(exclude_unset=True) == record


# Metadata


def test_pipeline_fields_come_from_the_step_environment_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    @evaluation(name="env", application="explicit-app")
    class FromEnvironment(GenomeEvaluationRun):
        pass

    monkeypatch.setenv("APPLICATION", "env-app")
    monkeypatch.setenv("PIPELINE_NAME", "pipe-1")
    monkeypatch.setenv("PIPELINE_RUNID", "run-42")
    monkeypatch.setenv("STEP_NAME", "step-eval")
    record = FromEnvironment().run()
    assert [record[key] for key in ("application", "pipelineName", "pipelineRunId", "pipelineStage")] == [
        "explicit-app",
        "pipe-1",
        "run-42",
        "step-eval",
    ]
    assert FromEnvironment(application=None, pipelineStage="mine").run()["application"] == "env-app"
    assert FromEnvironment(pipelineStage="mine").run()["pipelineStage"] == "mine"
    assert TrainTestEvaluation().run()["application"] == "env-app"


def test_without_a_pipeline_the_pipeline_fields_are_empty() -> None:
    record = TrainTestEvaluation().run()
    assert [record[key] for key in ("application", "pipelineName", "pipelineRunId", "pipelineStage")] == [None] * 4


def test_overrides_replace_the_decorators_metadata() -> None:
    record = TrainTestEvaluation(versionName="1.3", code={"ref": "img:2", "refType": "docker"}, targetModel="m-2").run()
    assert (record["versionName"], record["code"], record["target"]) == (
        "1.3",
        {"ref": "img:2", "refType": "docker"},
        {"ref": "m-2", "refType": "model"},
    )
    assert TrainTestEvaluation(target="m-3", targetModel="m-2").run()["target"]["ref"] == "m-3"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"colour": "red"}, "colour"), ({"versionName": 3}, "versionName"), ({"name": ""}, "name"), ({"code": 1}, "code")],
)
def test_bad_overrides_are_refused_when_run(overrides: dict[str, Any], field: str) -> None:
    evaluation_run = TrainTestEvaluation(**overrides)
    with pytest.raises(InvalidInput) as info:
        evaluation_run.run()
    assert info.value.field == field


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_an_evaluation_needs_a_name(name: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        evaluation(name=name)
    assert info.value.field == "name"


def test_a_class_without_evaluation_cannot_run() -> None:
    class Undecorated(GenomeEvaluationRun):
        @task()
        def only(self, t, dataset):
            pass

    with pytest.raises(InvalidInput, match=r"Undecorated needs an @evaluation"):
        Undecorated().run()


def test_evaluation_decorates_evaluation_runs_only() -> None:
    with pytest.raises(InvalidInput, match="GenomeEvaluationRun subclass"):
        evaluation(name="x")(dict)


# Datasets


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})


@pytest.mark.parametrize(
    ("filename", "write"),
    [
        ("data.csv", lambda frame, path: frame.to_csv(path, index=False)),
        ("data.csv.gz", lambda frame, path: frame.to_csv(path, index=False, compression="gzip")),
        ("data.parquet", lambda frame, path: frame.to_parquet(path)),
        ("data.json", lambda frame, path: frame.to_json(path, orient="records")),
        ("data.jsonl", lambda frame, path: frame.to_json(path, orient="records", lines=True)),
    ],
)
def test_dataset_load_reads_common_formats(frame: pd.DataFrame, tmp_path: Path, filename: str, write: Any) -> None:
    path = tmp_path / filename
    write(frame, path)
    for ref in (str(path), path.as_uri()):
        pd.testing.assert_frame_equal(Dataset(ref).load(), frame)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (MLLAKE, "fsspec knows no mllake:// protocol"),
        ("file:///data/notes.txt", "unknown file type"),
    ],
)
def test_dataset_load_says_what_it_can_read(ref: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        Dataset(ref).load()
    assert ref in info.value.message
    assert ".csv, .parquet, .json, .jsonl" in info.value.message


def test_dataset_load_needs_a_ref() -> None:
    with pytest.raises(InvalidInput, match="no dataset"):
        Dataset(None).load()


def test_the_module_imports_light() -> None:
    code = (
        "import sys, genome.modelstore.evaluationspec; "
        "print([m for m in ('pandas', 'fsspec', 'sqlalchemy', 'fastapi', 'genome.server') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Storing


def test_to_run_saves_the_record_in_the_given_store() -> None:
    store = RecordingStore()
    split_eval = TrainTestEvaluation(store, target=saved_model["id"])
    saved = split_eval.to_run()
    assert store.saved == [TrainTestEvaluation(target=saved_model["id"]).run()]
    assert saved == {**store.saved[0], "id": "run-1"}
    assert split_eval.result == saved
    assert store.closed is False


def test_to_run_without_a_store_uses_and_closes_a_new_evaluation_store(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[RecordingStore] = []

    def make_store() -> RecordingStore:
        created.append(RecordingStore())
        return created[-1]

    fake = types.ModuleType("genome.modelstore.evaluationstore")
    fake.EvaluationStore = make_store  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "genome.modelstore.evaluationstore", fake)
    split_eval = TrainTestEvaluation(None, target=saved_model["id"])
    saved = split_eval.to_run()
    (store,) = created
    assert (saved["id"], store.closed, len(store.saved)) == ("run-1", True, 1)
    assert split_eval.result == saved

"""The pipeline spec and schedules: the seed's bodies parse, and every mistake names the step and field at fault."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from genome.errors import InvalidInput
from genome.sequencer.schedule import Schedule, parse_schedule
from genome.sequencer.spec import PipelineSpec, StepSpec, parse_duration, parse_pipeline

HOUR = 3_600_000


def _step(name: str, flag: str) -> dict[str, Any]:
    return {
        "stepName": name,
        "stepType": "model",
        "parameters": {flag: True},
        "datasets": [],
        "image": "ensemble-training:local.3",
        "timeout": "360s",
        "retry": "3",
    }


SEED_PARALLEL = {
    "deployment": "deploy-1",
    "pipelineName": "pipe-1",
    "canonicalName": "/search/pipe-1",
    "application": "search",
    "steps": [
        _step("step-1", "CA_TRAIN"),
        [_step("step-2a", "TEXT_TRAIN_1"), _step("step-2b", "TEXT_TRAIN_2")],
        _step("step-3", "IMAGE_TRAIN"),
    ],
}
SEED_SEQUENTIAL = {**SEED_PARALLEL, "steps": [_step("step-1", "CA_TRAIN"), _step("step-2", "TEXT_TRAIN")]}
SEED_STORED = {**SEED_PARALLEL, "schedule": "6h", "versionName": "v-1"}
SEED_BODIES = [SEED_PARALLEL, SEED_SEQUENTIAL, SEED_STORED]


def _body(*steps: Any, **fields: Any) -> dict[str, Any]:
    return {"application": "search", "pipelineName": "pipe-1", "steps": list(steps), **fields}


def _run(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"stepName": name, "command": "true", **fields}


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def _refused(body: Any, *, container_runtime: bool = True) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_pipeline(body, container_runtime=container_runtime)
    return caught.value


@pytest.mark.parametrize("body", SEED_BODIES)
def test_seed_bodies_parse(body: dict[str, Any]) -> None:
    spec = parse_pipeline(copy.deepcopy(body), container_runtime=True)

    first = spec.groups[0][0]
    assert (first.image, first.timeout, first.retry, first.command) == ("ensemble-training:local.3", 360.0, 3, None)
    assert first.parameters == {"CA_TRAIN": True}


def test_groups_keep_order_and_parallel_steps() -> None:
    spec = parse_pipeline(copy.deepcopy(SEED_STORED), container_runtime=True)

    names = [[step.stepName for step in group] for group in spec.groups]

    assert names == [["step-1"], ["step-2a", "step-2b"], ["step-3"]]
    assert spec.step_names() == ["step-1", "step-2a", "step-2b", "step-3"]
    assert [position for position, _ in spec.positions()] == ["steps[0]", "steps[1][0]", "steps[1][1]", "steps[2]"]
    assert (spec.schedule, spec.versionName, spec.canonicalName) == ("6h", "v-1", "/search/pipe-1")


@pytest.mark.parametrize(("body", "field"), [(SEED_PARALLEL, "steps[0].image"), (SEED_SEQUENTIAL, "steps[0].image")])
def test_image_only_steps_need_a_container_runtime(body: dict[str, Any], field: str) -> None:
    error = _refused(copy.deepcopy(body), container_runtime=False)

    assert error.field == field
    assert "'step-1'" in error.message
    assert "container runtime (docker or podman)" in error.message
    assert "`command`" in error.message


def test_image_only_step_inside_a_group_is_named() -> None:
    body = _body(_run("a"), [_run("b"), {"stepName": "c", "image": "trainer:1"}])

    error = _refused(body, container_runtime=False)

    assert error.field == "steps[1][1].image"
    assert "step 'c'" in error.message


def test_commands_run_without_a_container_runtime() -> None:
    body = _body(_run("shell", command="echo hi"), _run("argv", command=["python", "-c", "print(1)"], image="x:1"))

    spec = parse_pipeline(body, container_runtime=False)

    assert [step.command for group in spec.groups for step in group] == ["echo hi", ["python", "-c", "print(1)"]]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("360s", 360.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        (90, 90.0),
        ("90", 90.0),
        (2.5, 2.5),
        ("1d", 86_400.0),
        (" 10m ", 600.0),
    ],
)
def test_durations(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10x", "", "5 m", "m", "30m1h", "1h1h", "-5s", -5, True, None, "1e3s", float("inf")])
def test_bad_durations(value: Any) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(value)


@pytest.mark.parametrize(("value", "timeout"), [("1h30m", 5400.0), (90, 90.0), ("90", 90.0), (None, None)])
def test_step_timeouts_are_seconds(value: Any, timeout: float | None) -> None:
    spec = parse_pipeline(_body(_run(timeout=value)), container_runtime=False)

    assert spec.groups[0][0].timeout == timeout


@pytest.mark.parametrize(("value", "retry"), [("3", 3), (3, 3), (0, 0), ("20", 20), (2.0, 2)])
def test_step_retries_are_ints(value: Any, retry: int) -> None:
    spec = parse_pipeline(_body(_run(retry=value)), container_runtime=False)

    assert spec.groups[0][0].retry == retry


def test_bad_timeout_names_the_step_in_a_group() -> None:
    bad = _step("step-2a", "TEXT_TRAIN_1") | {"timeout": "10x"}
    body = copy.deepcopy(SEED_PARALLEL) | {"steps": [_step("step-1", "A"), [bad, _step("step-2b", "B")]]}

    error = _refused(body)

    assert error.field == "steps[1][0].timeout"
    assert error.message == "step 'step-2a': timeout '10x' is not a duration like '360s', '5m', '1h'"


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        ([_run(timeout=0)], "steps[0].timeout", "more than 0 seconds"),
        ([_run(timeout="8d")], "steps[0].timeout", "at most 7 days"),
        ([_run(timeout=True)], "steps[0].timeout", "not a duration"),
        ([_run(retry="three")], "steps[0].retry", "retry 'three' is not a whole number from 0 to 20"),
        ([_run(retry=21)], "steps[0].retry", "from 0 to 20"),
        ([_run(retry=-1)], "steps[0].retry", "from 0 to 20"),
        ([_run(retry=1.5)], "steps[0].retry", "whole number"),
        ([{"stepName": "a"}], "steps[0].command", "needs a `command` to run, or an `image`"),
        ([_run(command="")], "steps[0].command", "command is empty"),
        ([_run(command=[])], "steps[0].command", "command is empty"),
        ([_run(command=["ls", 1])], "steps[0].command", "list of argument strings"),
        ([_run(name="bad name")], "steps[0].stepName", "String should match pattern"),
        ([_run(name="x" * 201)], "steps[0].stepName", "at most 200 characters"),
        ([_run(resources={"GPU": -1})], "steps[0].resources.GPU", "greater than or equal to 0"),
        ([_run(resources={"GPU": "lots"})], "steps[0].resources.GPU", "valid number"),
        ([_run(resources={"GPU": True})], "steps[0].resources.GPU", "valid number"),
        ([_run(colour="red")], "steps[0].colour", "Extra inputs are not permitted"),
        ([_run("a"), [_run("b", retry="x")]], "steps[1][0].retry", "step 'b': retry 'x'"),
        ([], "steps", "at least one step"),
        ([_run("a"), []], "steps[1]", "empty parallel group"),
        ([[_run("a"), [_run("b")]]], "steps[0][1]", "groups nest only one level deep"),
        ([_run("a"), [_run("b"), _run("a")]], "steps[1][1].stepName", "at steps[0] and steps[1][1]"),
        ([_run("a"), "b"], "steps[1]", "valid dictionary"),
        ([[_run("a"), 7]], "steps[0][1]", "valid dictionary"),
    ],
)
def test_bad_steps_name_the_position(steps: list[Any], field: str, words: str) -> None:
    error = _refused(_body(*steps))

    assert error.field == field
    assert words in error.message


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"pipelineName": "p", "steps": [_run()]}, "application", "application: Field required"),
        (_body(_run(), application=""), "application", "at least 1 character"),
        (_body(_run(), pipelineName="p" * 501), "pipelineName", "at most 500 characters"),
        ({"application": "a", "pipelineName": "p"}, "steps", "steps: Field required"),
        (_body(_run(), steps="a"), "steps", "valid list"),
        (_body(_run(), owner="me"), "owner", "Extra inputs are not permitted"),
        (_body(_run(), schedule="soon"), "schedule", "'*/5 * * * *'"),
        (_body(_run(), schedule="0 0 31 2 *"), "schedule", "never fires"),
    ],
)
def test_bad_pipeline_fields(body: dict[str, Any], field: str, words: str) -> None:
    error = _refused(body)

    assert error.field == field
    assert words in error.message


def test_a_step_is_named_by_position_when_it_has_no_usable_name() -> None:
    error = _refused(_body(_run("a"), {"command": "true"}))

    assert error.field == "steps[1].stepName"
    assert error.message == "step steps[1]: stepName: Field required"


def test_the_body_must_be_an_object() -> None:
    assert "JSON object" in _refused([_run()]).message  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [*SEED_BODIES, _body(_run("a", resources={"GPU": 1}), [_run("b", command=["ls"])])])
def test_to_dict_round_trips(body: dict[str, Any]) -> None:
    spec = parse_pipeline(copy.deepcopy(body), container_runtime=True)

    stored = spec.to_dict()

    assert parse_pipeline(stored, container_runtime=True) == spec


def test_to_dict_normalises_timeout_and_retry() -> None:
    stored = parse_pipeline(copy.deepcopy(SEED_PARALLEL), container_runtime=True).to_dict()

    assert (stored["steps"][0]["timeout"], stored["steps"][0]["retry"]) == (360.0, 3)
    assert isinstance(stored["steps"][1], list)
    assert stored["steps"][1][1]["stepName"] == "step-2b"


def test_models_validate_on_their_own() -> None:
    assert StepSpec(stepName="a", command="true").retry == 0
    with pytest.raises(ValueError):
        PipelineSpec.model_validate(_body())


@pytest.mark.parametrize(
    ("text", "period_ms"),
    [("30s", 30_000), ("30m", 1_800_000), ("6h", 6 * HOUR), ("1d", 24 * HOUR), ("1h30m", 90 * 60_000), ("1s", 1000)],
)
def test_period_schedules(text: str, period_ms: int) -> None:
    assert parse_schedule(text) == Schedule(text=text, period_ms=period_ms)


@pytest.mark.parametrize("text", ["*/5 * * * *", "0 3 * * mon-fri", "@daily", "@hourly"])
def test_cron_schedules(text: str) -> None:
    assert parse_schedule(text) == Schedule(text=text, cron=text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "soon",
        "0s",
        "0.5s",
        "400d",
        "61 * * * *",
        "* * * *",
        "* * * * * *",
        "0 0 1 1 * 2020",
        "R * * * *",
        "0 0 31 2 *",
        "@reboot",
        "-1h",
    ],
)
def test_bad_schedules(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(text)

    assert caught.value.field == "schedule"
    assert repr(text.strip() or text) in caught.value.message


def test_bad_schedule_gives_examples() -> None:
    with pytest.raises(InvalidInput, match=r"'30s', '30m', '6h', '1d'.*'\*/5 \* \* \* \*'"):
        parse_schedule("every tuesday")


def test_a_period_first_runs_one_period_after_creation() -> None:
    assert parse_schedule("6h").first_run(_ms(2024, 1, 1, 10)) == _ms(2024, 1, 1, 16)


def test_cron_first_runs_strictly_after_creation() -> None:
    schedule = parse_schedule("*/5 * * * *")

    assert schedule.first_run(_ms(2024, 1, 1, 10, 0)) == _ms(2024, 1, 1, 10, 5)
    assert schedule.first_run(_ms(2024, 1, 1, 10, 2) + 500) == _ms(2024, 1, 1, 10, 5)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (_ms(2024, 1, 1, 13, 30), _ms(2024, 1, 1, 14)),  # three periods missed: fires once, keeps the phase
        (_ms(2024, 1, 1, 10, 0, 1), _ms(2024, 1, 1, 11)),  # on time
        (_ms(2024, 1, 1, 14), _ms(2024, 1, 1, 15)),  # strictly after now
        (_ms(2024, 1, 1, 9), _ms(2024, 1, 1, 11)),  # a clock behind the due time never repeats it
    ],
)
def test_period_next_after_skips_missed_periods(now: int, due: int) -> None:
    assert parse_schedule("1h").next_after(_ms(2024, 1, 1, 10), now) == due


def test_cron_next_after() -> None:
    schedule = parse_schedule("0 3 * * *")
    previous = _ms(2024, 1, 1, 3)

    assert schedule.next_after(previous, _ms(2024, 1, 1, 3, 0, 1)) == _ms(2024, 1, 2, 3)
    assert schedule.next_after(previous, _ms(2024, 1, 5, 12)) == _ms(2024, 1, 6, 3)  # missed days fire once
    assert schedule.next_after(previous, _ms(2024, 1, 2, 3)) == _ms(2024, 1, 3, 3)
    assert parse_schedule("*/5 * * * *").next_after(_ms(2024, 1, 1, 10), _ms(2024, 1, 1, 10, 7)) == _ms(
        2024, 1, 1, 10, 10
    )

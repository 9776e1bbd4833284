"""The pipeline spec the API accepts, in the original system's JSON: steps run in order, and a nested list of steps
is a parallel group.

``parse_pipeline`` checks a whole spec before anything is stored, and names the step and field at fault.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from genome.errors import InvalidInput
from genome.sequencer.schedule import parse_duration, parse_schedule

__all__ = ["EXAMPLE", "PipelineSpec", "StepSpec", "check_step_json", "parse_duration", "parse_pipeline"]

MAX_TIMEOUT_SECONDS = 7 * 86_400
MAX_RETRY = 20
# Parameters and datasets reach each step as one environment variable (PARAMETERS, DEPLOYMENT_PARAMETERS, DATASETS),
# and Linux refuses to start a program with a variable over 128 KiB. JSON nested deeper than a few hundred levels
# cannot be answered as JSON again (pydantic stops at 255) nor read back by a step's ``json.loads`` (1,000).
STEP_JSON_MAX_BYTES = 64 * 1024
STEP_JSON_MAX_DEPTH = 32
# Steps in one pipeline: every run of it has a row per step, and its pages draw a box per step.
MAX_STEPS = 1000

_EXAMPLE_STEPS = [
    {
        "stepName": "step-1",
        "stepType": "model",
        "parameters": {"CA_TRAIN": True},
        "datasets": [],
        "image": "ensemble-training:local.3",
        "command": ["python", "examples/housing_forest.py", "--offline"],
        "timeout": "360s",
        "retry": "3",
    }
]
# The seed's pipeline, with a command that runs here: the API's example and the UI's new-run form.
EXAMPLE: dict[str, Any] = {
    "deployment": "deploy-1",
    "pipelineName": "pipe-1",
    "canonicalName": "/search/pipe-1",
    "application": "search",
    "steps": _EXAMPLE_STEPS,
}


def check_step_json(value: Any) -> Any:
    """``value`` when a step can be given it as an environment variable: at most ``STEP_JSON_MAX_DEPTH`` objects
    and lists deep, and ``STEP_JSON_MAX_BYTES`` long as the JSON the step gets.

    Example:
        >>> check_step_json({"region": "eu", "workers": [1, 2]})
        {'region': 'eu', 'workers': [1, 2]}
    """
    pending = [(value, 1)]
    while pending:  # walked without recursion: the value may be nested as deep as the JSON parser allowed
        node, depth = pending.pop()
        if depth > STEP_JSON_MAX_DEPTH:
            raise ValueError(f"is nested more than {STEP_JSON_MAX_DEPTH} levels deep; flatten it")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    size = len(json.dumps(value))
    if size > STEP_JSON_MAX_BYTES:
        raise ValueError(
            f"is {size:,} bytes as JSON; a step gets it as an environment variable, which holds at most "
            f"{STEP_JSON_MAX_BYTES:,}: give the step a dataset or an artifact to read instead"
        )
    return value


StepName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """The normalised JSON (timeout in seconds, retry as an int) that parses back to an equal spec."""
        return self.model_dump(mode="json")


class StepSpec(_Spec):
    """One step: a ``command`` run here (a string goes through the shell, a list is argv) or an ``image`` run in a
    container, or both."""

    stepName: StepName
    stepType: Label = "model"
    image: Ref | None = None
    command: str | list[str] | None = None
    parameters: Annotated[dict[str, Any], AfterValidator(check_step_json)] = {}
    datasets: Annotated[list[Any], AfterValidator(check_step_json)] = []
    timeout: float | None = None
    retry: int = 0
    resources: dict[str, Annotated[float, Field(ge=0, strict=True)]] = {}  # strict: true or "2" is no amount

    @field_validator("command", mode="before")
    @classmethod
    def _check_command(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("command is empty: give a shell command line or a list of arguments")
            return value
        if isinstance(value, list) and all(isinstance(arg, str) for arg in value):
            if not value or not value[0]:
                raise ValueError("command is empty: a list command needs a program as its first item")
            return value
        raise ValueError(f"command {value!r} is neither a shell command line nor a list of argument strings")

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> float | None:
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except InvalidInput as exc:
            raise ValueError(f"timeout {exc.message}") from None
        if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"timeout {value!r} must be more than 0 seconds and at most 7 days")
        return seconds

    @field_validator("retry", mode="before")
    @classmethod
    def _check_retry(cls, value: Any) -> int:
        retry = None
        if isinstance(value, int) and not isinstance(value, bool):
            retry = value
        elif isinstance(value, float) and value.is_integer():
            retry = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            retry = int(value.strip())
        if retry is None or not 0 <= retry <= MAX_RETRY:
            raise ValueError(f"retry {value!r} is not a whole number from 0 to {MAX_RETRY}")
        return retry

    @model_validator(mode="after")
    def _check_runnable(self) -> StepSpec:
        if self.command is None and self.image is None:
            raise InvalidInput(
                "needs a `command` to run, or an `image` to run in a container; it has neither",
                field="command",
            )
        return self


def _step_or_group(value: Any) -> str:
    return "group" if isinstance(value, list) else "step"


StepOrGroup = Annotated[
    Annotated[StepSpec, Tag("step")] | Annotated[list[StepSpec], Tag("group")],
    Discriminator(_step_or_group),
]


class PipelineSpec(_Spec):
    """A pipeline: its identity, its ``steps`` (a step, or a list of steps run in parallel) and, once stored, an
    optional ``schedule``."""

    application: Label
    pipelineName: Name
    canonicalName: Name | None = None
    deployment: Label | None = None
    versionName: Label | None = None
    parameters: Annotated[dict[str, Any], AfterValidator(check_step_json)] = {}
    schedule: str | None = None
    steps: list[StepOrGroup]

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_schedule(value).text
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("steps", mode="before")
    @classmethod
    def _check_shape(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # pydantic reports the type
        if not value:
            raise ValueError("steps is empty: a pipeline needs at least one step")
        count = sum(len(element) if isinstance(element, list) else 1 for element in value)
        if count > MAX_STEPS:
            raise ValueError(f"steps holds {count:,} steps; a pipeline has at most {MAX_STEPS:,}")
        for i, element in enumerate(value):
            if not isinstance(element, list):
                continue
            if not element:
                raise InvalidInput(
                    f"steps[{i}] is an empty parallel group: a group needs at least one step", field=f"[{i}]"
                )
            for j, inner in enumerate(element):
                if isinstance(inner, list):
                    raise InvalidInput(
                        f"steps[{i}][{j}] is a group inside a parallel group: groups nest only one level deep",
                        field=f"[{i}][{j}]",
                    )
        return value

    @model_validator(mode="after")
    def _check_unique_names(self) -> PipelineSpec:
        seen: dict[str, str] = {}
        for position, step in self.positions():
            if step.stepName in seen:
                raise InvalidInput(
                    f"step {step.stepName!r} appears twice, at {seen[step.stepName]} and {position}: step names must "
                    "be unique within a pipeline",
                    field=f"{position}.stepName",
                )
            seen[step.stepName] = position
        return self

    @property
    def groups(self) -> list[list[StepSpec]]:
        """The steps in run order, each group a list of steps that run in parallel (a lone step is a group of one)."""
        return [list(element) if isinstance(element, list) else [element] for element in self.steps]

    def step_names(self) -> list[str]:
        """Every step's name, in run order."""
        return [step.stepName for group in self.groups for step in group]

    def positions(self) -> list[tuple[str, StepSpec]]:
        """Each step with its position in ``steps``, such as ``"steps[1][0]"``, as errors name it."""
        return [
            (f"steps[{i}][{j}]" if isinstance(element, list) else f"steps[{i}]", step)
            for i, element in enumerate(self.steps)
            for j, step in enumerate(element if isinstance(element, list) else [element])
        ]


def parse_pipeline(body: dict[str, Any], *, container_runtime: bool) -> PipelineSpec:
    """Check a pipeline spec as a whole before anything is stored.

    Args:
        body: the spec as JSON, e.g. a request body.
        container_runtime: whether the executor can run a step's ``image`` (docker or podman). Without one, every
            step needs a ``command``.

    Raises:
        InvalidInput: naming the step and field at fault, e.g. field ``"steps[1][0].timeout"``.

    Example:
        >>> spec = parse_pipeline(
        ...     {"application": "search", "pipelineName": "pipe-1",
        ...      "steps": [{"stepName": "a", "command": "true"}, [{"stepName": "b", "command": ["echo", "hi"]}]]},
        ...     container_runtime=False,
        ... )
        >>> [[step.stepName for step in group] for group in spec.groups]
        [['a'], ['b']]
    """
    if not isinstance(body, dict):
        raise InvalidInput(f"a pipeline spec must be a JSON object, not {type(body).__name__}")
    try:
        spec = PipelineSpec.model_validate(body)
    except ValidationError as exc:
        raise _invalid_input(exc, body) from None
    if not container_runtime:
        for position, step in spec.positions():
            if step.command is None:
                raise InvalidInput(
                    f"step {step.stepName!r} has only an `image`: it needs a container runtime (docker or podman), "
                    "which this executor does not have; give it a `command` to run here",
                    field=f"{position}.image",
                )
    return spec


def _invalid_input(exc: ValidationError, body: dict[str, Any]) -> InvalidInput:
    """Turn pydantic's first error into one naming the position (``steps[1][0].timeout``) and the step."""
    error = exc.errors(include_url=False)[0]
    loc = list(error["loc"])
    path, step, loc = _step_location(loc, body)
    inner = ""
    for part in loc:
        inner += f"[{part}]" if isinstance(part, int) else f".{part}"
    inner = inner.lstrip(".")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidInput) and cause.field:
        inner = _join(inner, cause.field)
    field = _join(path, inner)
    if isinstance(cause, ValueError):
        message = str(cause)
    elif step is None:
        message = f"{field or 'spec'}: {error['msg']}"
    else:
        message = f"{inner}: {error['msg']}" if inner else error["msg"]
    if step is not None:
        message = f"step {step}: {message}"
    return InvalidInput(message, field=field or None)


def _step_location(loc: list[Any], body: dict[str, Any]) -> tuple[str, str | None, list[Any]]:
    """Split a pydantic location into a step's position, how to name that step, and the rest of the location.

    The discriminator's tags ("step", "group") are dropped; the step is named by its ``stepName`` when the input
    has a usable one, else by its position.
    """
    if len(loc) < 3 or loc[0] != "steps" or not isinstance(loc[1], int):
        return "", None, loc
    element = body["steps"][loc[1]]
    path = f"steps[{loc[1]}]"
    rest = loc[3:]
    if loc[2] == "group":
        if not rest or not isinstance(rest[0], int):
            return path, None, rest
        element = element[rest[0]]
        path += f"[{rest[0]}]"
        rest = rest[1:]
    name = element.get("stepName") if isinstance(element, dict) else None
    return path, repr(name) if isinstance(name, str) and name else path, rest


def _join(path: str, inner: str) -> str:
    if not path or not inner or inner.startswith("["):
        return path + inner
    return f"{path}.{inner}"

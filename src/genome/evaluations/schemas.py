"""Wire schemas of the Evaluation Store: runs as the SDK sends them, and what clients get back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "MATCHERS",
    "EvaluationCode",
    "EvaluationDiff",
    "EvaluationHistory",
    "EvaluationRunCreate",
    "EvaluationRunPage",
    "EvaluationRunRead",
    "EvaluationRunSummary",
    "EvaluationTarget",
    "Expectation",
    "TaskCreate",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Status = Literal["passed", "failed", "error", "empty"]
Matcher = Literal[
    "toBe",
    "toBeLess",
    "toBeLessOrEqual",
    "toBeGreater",
    "toBeGreaterOrEqual",
    "toContain",
    "toBeCloseTo",
    "toRaise",
    "toThrow",
]
MATCHERS: tuple[str, ...] = Matcher.__args__  # type: ignore[attr-defined]
MAX_TASKS = 10_000


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluationCode(_Wire):
    ref: Label
    refType: Label = "image"


class EvaluationTarget(_Wire):
    """What was evaluated: a model version, by its id."""

    ref: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    refType: Literal["model"] = "model"


class Expectation(_Wire):
    """One matcher's verdict, e.g. ``{"var": "my_split", "op": "toBeLess", "expected": 0.76, "actual": 0.7,
    "passed": true, "text": "my_split = 0.7 is < 0.76"}``."""

    var: Annotated[str, StringConstraints(max_length=500)] | None = None
    op: Matcher
    expected: Any = None
    actual: Any = None
    passed: bool
    text: Annotated[str, StringConstraints(max_length=10_000)]


class TaskError(_Wire):
    message: Annotated[str, StringConstraints(max_length=10_000)]
    traceback: Annotated[str, StringConstraints(max_length=100_000)] | None = None


class TaskCreate(_Wire):
    """A task, or a prototype (``prototypeRef`` set): a named record checked within the task before it."""

    name: Name
    dataRef: Ref | None = None
    segment: Name | None = None
    prototypeRef: Name | None = None
    metrics: dict[MetricName, Any] = Field(default_factory=dict)
    expectations: list[Expectation] = Field(default_factory=list, max_length=MAX_TASKS)
    status: Status
    error: TaskError | None = None


class EvaluationRunCreate(_Wire):
    """A finished run, as ``GenomeEvaluationRun.to_run()`` sends it. The store checks every status against the
    expectations and errors it summarises."""

    name: Name = Field(description="The evaluation's canonical name.")
    versionName: Label | None = None
    application: Label | None = Field(default=None, description="Default: the target model's application.")
    code: EvaluationCode | None = None
    target: EvaluationTarget | None = None
    pipelineName: Name | None = None
    pipelineRunId: Label | None = None
    pipelineStage: Label | None = None
    dataRefs: list[Ref] = Field(default_factory=list, max_length=1000)
    status: Status
    tasks: list[TaskCreate] = Field(default_factory=list, max_length=MAX_TASKS)


class TaskRead(BaseModel):
    name: str
    dataRef: str | None
    segment: str | None
    prototypeRef: str | None
    metrics: dict[str, Any]
    expectations: list[dict[str, Any]]
    status: Status
    error: dict[str, Any] | None


class TargetRead(BaseModel):
    ref: str
    refType: str
    canonicalName: str | None = Field(description="The model's canonicalName when the run was stored.")
    versionNumber: int | None


class EvaluationRunSummary(BaseModel):
    """A run without its tasks; ``summary`` counts its task records (prototypes included) by status."""

    id: str
    name: str
    versionName: str | None
    application: str
    code: dict[str, Any] | None
    target: TargetRead | None
    pipelineName: str | None
    pipelineRunId: str | None
    pipelineStage: str | None
    dataRefs: list[str]
    status: Status
    summary: dict[str, int]
    created: int
    createdBy: str | None


class EvaluationRunRead(EvaluationRunSummary):
    tasks: list[TaskRead]


class EvaluationRunPage(BaseModel):
    items: list[EvaluationRunSummary]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class HistoryPoint(BaseModel):
    """The latest run of the evaluation on one version of the model, with its metrics by task."""

    versionNumber: int
    modelId: str | None
    run: EvaluationRunSummary
    metrics: dict[str, dict[str, Any]] = Field(description="task name -> metric -> value (top-level tasks)")


class EvaluationHistory(BaseModel):
    application: str
    name: str
    canonicalName: str
    points: list[HistoryPoint]
    nextCursor: str | None


class TaskKey(BaseModel):
    """Which task: its name, segment and prototype, and which occurrence of those (prototypes may repeat)."""

    name: str
    segment: str | None
    prototypeRef: str | None
    occurrence: int


class StatusChange(BaseModel):
    task: TaskKey
    base: Status
    head: Status


class TaskPresence(BaseModel):
    task: TaskKey
    status: Status


class MetricDelta(BaseModel):
    task: TaskKey
    metric: str
    base: Any
    head: Any
    delta: float | None = Field(description="head - base when both are numbers")


class EvaluationDiff(BaseModel):
    """What changed from ``base`` to ``head``: tasks that flipped status, metrics that moved, tasks added or gone."""

    base: EvaluationRunSummary
    head: EvaluationRunSummary
    statusChanged: bool
    flipped: list[StatusChange]
    added: list[TaskPresence]
    removed: list[TaskPresence]
    metrics: list[MetricDelta]
    unchangedTasks: int

"""Wire schemas of the Sequencer's records: pipelines, runs with their steps and attempts, logs, deployments.

Pipeline specs themselves (what clients send) are parsed by ``genome.sequencer.spec``, which names the step and
field at fault in every error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from genome.sequencer.spec import STEP_JSON_MAX_BYTES, STEP_JSON_MAX_DEPTH, check_step_json

__all__ = [
    "AttemptRead",
    "DeploymentDiff",
    "DeploymentRead",
    "DeploymentVersionPage",
    "DeploymentVersionRead",
    "DeploymentWrite",
    "LogChunk",
    "LogLine",
    "LogSearch",
    "ParameterChange",
    "ParameterEntry",
    "PipelinePage",
    "PipelineRead",
    "RunPage",
    "RunRead",
    "RunSummary",
    "StepRead",
]

# skipped: a scheduled firing that did not run (its reason says why, e.g. the owner lost the editor role).
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "skipped"]
StepStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "skipped"]
AttemptReason = Literal["failed", "timed out", "cancelled", "lost"]


class AttemptRead(BaseModel):
    number: int
    status: Literal["running", "succeeded", "failed"]
    reason: AttemptReason | None = Field(description="why a failed attempt ended: failed, timed out, cancelled, lost")
    message: str | None
    exitCode: int | None
    start: int
    end: int | None
    host: str | None


class StepRead(BaseModel):
    stepName: str
    stepType: str
    group: int = Field(description="the step's place in the sequence; steps of one group run in parallel")
    status: StepStatus
    attempts: list[AttemptRead]


class RunRead(BaseModel):
    id: str
    pipelineId: str | None
    scheduledFor: int | None = Field(description="the schedule's due time this run fired for, if it was scheduled")
    application: str
    pipelineName: str
    canonicalName: str | None
    deployment: str | None
    deploymentVersion: int | None = Field(
        description="the version of the deployment whose parameters the steps got, read when the run started"
    )
    status: RunStatus
    reason: str | None
    cancelRequested: bool
    created: int
    started: int | None
    finished: int | None
    createdBy: str
    steps: list[StepRead]
    spec: dict[str, Any]


class RunPage(BaseModel):
    items: list[RunRead]
    nextCursor: str | None


# A stored pipeline's state, as ``GET /compute/pipelines?status=`` filters it.
PipelineStatus = Literal["scheduled", "paused", "unscheduled"]
RECENT_RUNS = 5


class RunSummary(BaseModel):
    """A run as its pipeline lists it: its outcome, and its id to read the rest."""

    id: str
    status: RunStatus
    created: int
    finished: int | None


class PipelineRead(BaseModel):
    id: str
    application: str
    pipelineName: str
    canonicalName: str | None
    deployment: str | None
    versionName: str | None
    schedule: str | None
    nextRun: int | None = Field(description="when the schedule fires next (ms since epoch); null when unscheduled")
    paused: bool
    status: PipelineStatus = Field(
        description="scheduled: its schedule fires; paused: it has a schedule, paused; unscheduled: no schedule, it "
        "runs only when asked"
    )
    created: int
    createdBy: str
    spec: dict[str, Any]
    recentRuns: list[RunSummary] = Field(description=f"its latest runs (up to {RECENT_RUNS}), newest first")


class PipelinePage(BaseModel):
    items: list[PipelineRead]
    nextCursor: str | None


class LogChunk(BaseModel):
    """Part of an attempt's output: ``text`` from byte ``offset``; ask again from ``nextOffset`` to follow it."""

    text: str
    offset: int
    nextOffset: int
    complete: bool = Field(description="true once the attempt has ended and the whole log has been read")
    size: int = Field(description="the log's length in bytes so far")
    line: int = Field(description="the number of the first line of this part (1 for the log's first line)")
    truncated: bool = Field(description="the log was longer than the server keeps, and its middle was cut")


class LogLine(BaseModel):
    line: int = Field(description="the line's number, from 1")
    offset: int = Field(description="the byte offset where the line starts")
    text: str


class LogSearch(BaseModel):
    """The lines of an attempt's log holding the query: every one counted, the first ones returned."""

    query: str
    count: int
    matches: list[LogLine]
    size: int
    complete: bool = Field(description="true once the attempt has ended: the log will not grow")
    searchedFrom: int = Field(
        default=0,
        description="the byte the search started from: 0, or for a running attempt's log longer than the server "
        "keeps (GENOME_STEP_LOG_MAX_BYTES), the start of a line near its last that many bytes",
    )


class DeploymentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], Any], AfterValidator(check_step_json)
    ] = Field(
        description="Given to every step of a run in this deployment as DEPLOYMENT_PARAMETERS (JSON): at most "
        f"{STEP_JSON_MAX_DEPTH} levels deep and {STEP_JSON_MAX_BYTES:,} bytes as JSON."
    )


class DeploymentRead(BaseModel):
    application: str
    name: str
    version: int = Field(description="the version these parameters are (every change makes the next one)")
    parameters: dict[str, Any]
    updated: int = Field(description="when this version was made (ms since epoch)")
    updatedBy: str | None


class DeploymentVersionRead(BaseModel):
    """One change of a deployment: its parameters from then on, who made it and when; ``deleted`` marks the
    version that deleted it (its parameters are then empty)."""

    application: str
    name: str
    version: int
    parameters: dict[str, Any]
    deleted: bool
    created: int
    createdBy: str | None


class DeploymentVersionPage(BaseModel):
    items: list[DeploymentVersionRead]
    nextCursor: str | None


class ParameterEntry(BaseModel):
    path: list[str] = Field(description="the keys leading to the value, outermost first")
    value: Any


class ParameterChange(BaseModel):
    path: list[str] = Field(description="the keys leading to the value, outermost first")
    old: Any
    new: Any


class DeploymentDiff(BaseModel):
    """What changed in a deployment's parameters from one version to another, by key path: nested objects are
    compared key by key; any other value (a list included) is compared whole."""

    application: str
    name: str
    fromVersion: int
    toVersion: int
    added: list[ParameterEntry]
    removed: list[ParameterEntry]
    changed: list[ParameterChange]

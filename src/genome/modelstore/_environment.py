"""The record fields a pipeline step's environment supplies (the Sequencer sets these variables for each step)."""

from __future__ import annotations

import os

__all__ = ["STEP_ENVIRONMENT", "from_step"]

STEP_ENVIRONMENT = {
    "application": "APPLICATION",
    "pipelineName": "PIPELINE_NAME",
    "pipelineRunId": "PIPELINE_RUNID",
    "pipelineStage": "STEP_NAME",
}


def from_step(field: str) -> str | None:
    """The step's value for a record field, or None outside a step."""
    return os.environ.get(STEP_ENVIRONMENT[field]) or None

"""What the Sequencer asks of an executor: start a step's process somewhere, watch it, and end it.

An executor knows nothing of runs, retries or the database; the engine drives attempts through this interface, so a
Kubernetes Jobs executor for ``image`` steps plugs in as one more implementation.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Executor", "StepLaunch", "StepLost", "StepProcess", "step_environment"]


class StepLost(Exception):
    """The attempt's process can no longer be followed (its machine or worker died)."""


def step_environment(variables: dict[str, str]) -> dict[str, str]:
    """The environment a step runs with on this machine: this process's, without its ``GENOME_*`` settings
    (database URL, admin password, ... are not the step's business), with this Python's scripts first on ``PATH``
    (so ``python`` has Genome installed), plus the step's ``variables``."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("GENOME_")}
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", os.defpath)])
    return {**base, **variables}


@dataclass(frozen=True)
class StepLaunch:
    """One attempt of one step: what to run, with which environment, and where its output goes."""

    run_id: str
    step_name: str
    attempt: int
    command: str | list[str] | None
    image: str | None
    env: dict[str, str]  # the step's own variables (PIPELINE_RUNID, GENOME_TOKEN, ...), not a whole environment
    log_path: Path
    resources: dict[str, float] = field(default_factory=dict)


class StepProcess(Protocol):
    """A started attempt. ``host``/``pid``/``process_start`` identify its process for reconciliation after a crash."""

    host: str
    pid: int | None
    process_start: str | None

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended, waiting at most ``timeout`` seconds; None while it runs.
        Raises ``StepLost`` when the process can no longer be followed."""
        ...

    def kill(self) -> None:
        """End the attempt's whole process tree (terminate, then kill what is left)."""
        ...

    def log_text(self) -> bytes | None:
        """The attempt's output when it lives elsewhere than ``log_path`` (remote workers); None otherwise."""
        ...


class Executor(Protocol):
    name: str
    # Whether steps given only an ``image`` can run here.
    container_runtime: bool

    def start(self, launch: StepLaunch) -> StepProcess: ...

    def reap(self, host: str, pid: int | None, process_start: str | None) -> bool:
        """Kill the process tree of an attempt whose server died, if it still runs; True if it was found.
        ``host``, ``pid`` and ``process_start`` are what the attempt's ``StepProcess`` recorded."""
        ...

    def close(self) -> None: ...

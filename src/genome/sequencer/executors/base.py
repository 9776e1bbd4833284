"""What the Sequencer asks of an executor: start a step's process somewhere, watch it, and end it.

An executor knows nothing of runs, retries or the database; the engine drives attempts through this interface, so a
Kubernetes Jobs executor for ``image`` steps plugs in as one more implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Executor", "StepLaunch", "StepProcess"]


@dataclass(frozen=True)
class StepLaunch:
    """One attempt of one step: what to run, with which environment, and where its output goes."""

    run_id: str
    step_name: str
    attempt: int
    command: str | list[str] | None
    image: str | None
    env: dict[str, str]
    log_path: Path
    resources: dict[str, float] = field(default_factory=dict)


class StepProcess(Protocol):
    """A started attempt. ``host``/``pid``/``process_start`` identify its process for reconciliation after a crash."""

    host: str
    pid: int | None
    process_start: str | None

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended, waiting at most ``timeout`` seconds; None while it runs."""
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

    def reap(self, host: str, pid: int, process_start: str | None) -> bool:
        """Kill the process tree of an attempt whose server died, if it still runs; True if it was found."""
        ...

    def close(self) -> None: ...

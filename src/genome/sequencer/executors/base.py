"""What the Sequencer asks of an executor: start a step's process somewhere, watch it, and end it.

An executor knows nothing of runs, retries or the database; the engine drives attempts through this interface, so a
Kubernetes Jobs executor for ``image`` steps plugs in as one more implementation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Executor", "StepLaunch", "StepLost", "StepProcess", "step_environment"]


class StepLost(Exception):
    """The attempt's process can no longer be followed (its machine or worker died)."""


# What any program needs to behave as its user expects; everything else of the server's stays with the server.
_BASE_VARIABLES = ("LANG", "LC_ALL", "TZ")


def step_environment(
    variables: dict[str, str], passthrough: Iterable[str] = (), *, home: str | None = None
) -> dict[str, str]:
    """The whole environment a step runs with on this machine: ``PATH`` with this Python's scripts first (so
    ``python`` has Genome installed), ``HOME`` (``home``, by default this process's), ``LANG``, ``LC_ALL`` and ``TZ``
    when set, the variables named in ``passthrough`` (``GENOME_STEP_ENV_PASSTHROUGH``) when set, and the step's own
    ``variables``. Nothing else of this process's environment: no cloud keys, no database passwords."""
    environment = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])}
    home = home if home is not None else os.environ.get("HOME")
    if home is not None:
        environment["HOME"] = home
    for name in (*_BASE_VARIABLES, *passthrough):
        if name in os.environ and not name.startswith("GENOME_"):
            environment[name] = os.environ[name]
    return {**environment, **variables}


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

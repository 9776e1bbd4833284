"""How a task's and a run's status follow from what they recorded; shared by the SDK, which computes them, and
the store, which checks them. Pure Python, so the SDK imports it without the server's dependencies."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["STATUSES", "run_status", "task_status"]

STATUSES: tuple[str, ...] = ("passed", "failed", "error", "empty")
_SEVERITY = {"empty": 0, "passed": 1, "failed": 2, "error": 3}


def task_status(raised: bool, verdicts: Iterable[bool]) -> str:
    """``error`` if the task raised, ``failed`` if an expectation failed, ``passed`` if all passed, ``empty``
    without expectations."""
    if raised:
        return "error"
    verdicts = list(verdicts)
    if not verdicts:
        return "empty"
    return "passed" if all(verdicts) else "failed"


def run_status(statuses: Iterable[str]) -> str:
    """The worst task status (error > failed > passed); a run of empty tasks, or of none, is empty."""
    return max(statuses, key=_SEVERITY.__getitem__, default="empty")

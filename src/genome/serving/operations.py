"""The operations a loaded version serves, by name: the same functions run in the server and in isolated workers.

Each takes the ``LoadedVersion`` and JSON parameters and returns a JSON-able dict; a worker can only be asked for
these names, so what runs next to an untrusted model is fixed here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from genome.errors import InvalidInput
from genome.extras import missing
from genome.serving.loaded import LoadedVersion

__all__ = ["OPERATIONS", "run"]

Operation = Callable[[LoadedVersion, dict[str, Any]], dict[str, Any]]

OPERATIONS = {
    "explain": "genome.explain.operation:explain",
    "samples": "genome.explain.operation:samples",
    "visualize": "genome.visualize.operation:visualize",
}


def _operation(name: str) -> Operation:
    if name not in OPERATIONS:
        raise InvalidInput(f"unknown operation {name!r}", field="operation")
    module, _, function = OPERATIONS[name].partition(":")
    found: Operation = getattr(importlib.import_module(module), function)
    return found


def run(loaded: LoadedVersion, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run the operation ``name`` on ``loaded``; a library it needs that is not installed is a
    ``MissingDependency`` naming the extra to install."""
    operation = _operation(name)
    try:
        return operation(loaded, params)
    except ImportError as exc:
        raise missing(exc, f"{name} of {loaded.meta.describe()}") from exc

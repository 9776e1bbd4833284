"""Fixtures for the explainer tests."""

from __future__ import annotations

import warnings
from typing import Any

import pytest


@pytest.fixture(scope="session")
def shap() -> Any:
    """The shap module, imported as Genome imports it: its plotting module, imported with it, calls matplotlib
    functions due to be deprecated, which this suite's warning filter would turn into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"The set_\w+ function", PendingDeprecationWarning)
        import shap
    return shap

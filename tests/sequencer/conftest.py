"""Fixtures for pipeline tests: a folder the steps can write to, whichever user they run as."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def step_dir() -> Iterator[Path]:
    """A folder steps write their traces to. ``tmp_path`` is private to the user running the tests, and steps run
    as ``genome-step`` when the tests run as root, so this one is open to every user (and sticky, like /tmp)."""
    path = Path(tempfile.mkdtemp(prefix="genome-steps-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)

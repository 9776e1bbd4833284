"""Bundle extractions a killed process left behind are removed, and only those."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from genome.formats.bundle import remove_stale_extractions


def test_stale_extractions_are_removed_and_fresh_ones_kept() -> None:
    stale = Path(tempfile.mkdtemp(prefix="genome-unpack-"))
    (stale / "model.pkl").write_bytes(b"left by a server that died")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = Path(tempfile.mkdtemp(prefix="genome-unpack-"))
    other = Path(tempfile.mkdtemp(prefix="someone-else-"))
    os.utime(other, (old, old))
    try:
        assert remove_stale_extractions(older_than=600) >= 1
        assert not stale.exists()
        assert fresh.is_dir() and other.is_dir()
    finally:
        for folder in (fresh, other):
            os.rmdir(folder)

"""Progress bars for big uploads and downloads, shown only where someone is watching."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

# Below this size a transfer is over before a bar would help.
THRESHOLD = 16 * 1024 * 1024


def wanted(setting: bool | None, size: int | None) -> bool:
    if setting is not None:
        return setting
    return size is not None and size >= THRESHOLD and sys.stderr.isatty()


@contextmanager
def transfer_bar(description: str, total: int | None, shown: bool) -> Iterator[Any]:
    """Yields ``advance(n)``; a no-op when no bar is shown."""
    if not shown:
        yield lambda n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


class TrackedBytes(io.BytesIO):
    """Bytes read by httpx in chunks, reporting each chunk to ``advance``."""

    def __init__(self, data: bytes, advance: Any) -> None:
        super().__init__(data)
        self._advance = advance

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._advance(len(chunk))
        return chunk

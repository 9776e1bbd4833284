"""How the server and an isolated worker talk: length-prefixed frames over a pipe, JSON headers, raw bundle bytes.

Nothing here unpickles: a worker may be running an attacker's code, so everything it sends is data that the server
bounds (``max_bytes``) and validates like a request body.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

__all__ = ["WorkerGone", "WorkerTimeout", "decode", "encode", "read_frame", "write_frame"]

_LENGTH = struct.Struct(">Q")


class WorkerGone(Exception):
    """The other end closed the pipe (the worker exited or was killed)."""


class WorkerTimeout(Exception):
    """The worker did not answer in time."""


def _plain(value: Any) -> Any:
    # What the operations return may hold NumPy scalars and arrays.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=_plain, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message


def write_frame(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write one frame; ``WorkerTimeout`` when the other end stops reading past ``deadline`` (monotonic)."""
    _write_all(fd, memoryview(_LENGTH.pack(len(data))), deadline)
    _write_all(fd, memoryview(data), deadline)


def _write_all(fd: int, view: memoryview, deadline: float | None) -> None:
    try:
        while view:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                    raise WorkerTimeout()
            view = view[os.write(fd, view[: 1 << 16]) :]  # a pipe takes 64 KiB without blocking
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise WorkerGone(str(exc)) from exc


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerTimeout()
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise WorkerGone("end of stream")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, *, max_bytes: int, deadline: float | None = None) -> bytes:
    """One frame's bytes; ``WorkerGone`` at end of stream, ``WorkerTimeout`` past ``deadline`` (monotonic), and
    ``ValueError`` for a frame longer than ``max_bytes``."""
    (size,) = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))
    if size > max_bytes:
        raise ValueError(f"a frame of {size} bytes; at most {max_bytes}")
    return _read_exact(fd, size, deadline)

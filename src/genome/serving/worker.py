"""The isolated worker: loads bundles that carry code and runs the serving operations on them.

Started by ``WorkerPool`` under a ``genome.sandbox`` confinement (another OS user, the server's files hidden, no
network, resource limits, an empty environment), it reads requests on stdin and answers on stdout, one at a time.
It never sees the database or the artifact store: the server sends a bundle's verified bytes when the worker asks
for a version it has not loaded. Whatever the loaded models print goes to stderr, not into the answers.

    request   frame: {"op", "version": VersionMeta fields, "params", "bundle": bytes that follow, or 0}
              [frame: the bundle]
    answer    frame: {"ok": result} | {"error": {"type", "message", "field"}} | {"need": "bundle"}

Once started (and confined), it says ``{"ready": true}``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections import OrderedDict
from typing import Any

from genome.errors import GenomeError
from genome.serving.loaded import LoadedVersion, VersionMeta, load_version
from genome.serving.operations import run
from genome.serving.protocol import WorkerGone, decode, encode, read_frame, write_frame

__all__ = ["MAX_REQUEST_BYTES", "main"]

MAX_REQUEST_BYTES = 16 * 1024 * 1024 * 1024


def _private_pipes() -> tuple[int, int]:
    """The request and answer pipes, moved off fds 0 and 1 so that a model's prints cannot corrupt answers."""
    requests, answers = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return requests, answers


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, GenomeError):
        return {"type": type(exc).__name__, "message": exc.message, "field": exc.field}
    traceback.print_exc()
    return {"type": "ModelFailed", "message": f"{type(exc).__name__}: {exc}", "field": None}


def serve(requests: int, answers: int, cache_size: int) -> None:
    loaded: OrderedDict[str, LoadedVersion] = OrderedDict()
    while True:
        try:
            header = decode(read_frame(requests, max_bytes=64 * 1024 * 1024))
        except WorkerGone:
            return
        meta = VersionMeta(**header["version"])
        bundle = read_frame(requests, max_bytes=MAX_REQUEST_BYTES) if header.get("bundle") else None
        try:
            version = loaded.get(meta.id)
            if version is None:
                if bundle is None:
                    write_frame(answers, encode({"need": "bundle"}))
                    continue
                # A bundle of trusted types is still read only as such: a fooled upload scan gains nothing here.
                version = load_version(bundle, meta, trust=meta.isolated is not False)
                loaded[meta.id] = version
                while len(loaded) > cache_size:
                    loaded.popitem(last=False)
            loaded.move_to_end(meta.id)
            del bundle
            answer: dict[str, Any] = {"ok": run(version, header["op"], header.get("params") or {})}
        except Exception as exc:
            answer = {"error": _error(exc)}
        write_frame(answers, encode(answer))


def _undumpable() -> None:
    """No other process of this user may trace this one or read its memory (PR_SET_DUMPABLE 0): set before any
    bundle is read, so a model loaded elsewhere cannot reach into this worker."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main() -> int:
    _undumpable()
    requests, answers = _private_pipes()
    cache_size = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    write_frame(answers, encode({"ready": True}))  # started and confined: the server's timeouts start now
    serve(requests, answers, cache_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())

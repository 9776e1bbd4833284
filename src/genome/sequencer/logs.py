"""Step logs: an attempt's output read in pages, as its tail, or as the lines matching a search, from the running
attempt's file while it runs (on the server running it) and from the artifact store once it has ended.

Pages end at a line's end whenever the page holds one, so a page never splits a line (or a UTF-8 character) that
the next page completes, and each page knows the number of its first line: the UI numbers lines and links to each.
A log longer than ``step_log_max_bytes`` is stored with its middle cut out, and says so in its first line.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from genome.auth.principal import Principal
from genome.errors import InvalidInput, NotFound
from genome.sequencer.schemas import LogChunk, LogLine, LogSearch
from genome.store.artifacts import ArtifactStore
from genome.store.db import Database
from genome.store.tables import PipelineRun, StepAttempt

__all__ = ["PAGE_BYTES", "TRUNCATED", "cut_middle", "read_log", "search_log", "stream_log"]

PAGE_BYTES = 1 << 20
# The first line of a log whose middle was cut when it was stored.
TRUNCATED = b"[genome] this log was cut: "
_BLOCK = 1 << 20
_LINE_CHARS = 2000


class _Log:
    """An attempt's log as bytes to read by range: the running attempt's file or the stored blob."""

    def __init__(self, *, path: Path | None = None, data: bytes | None = None, finished: bool) -> None:
        self.path, self.data, self.finished = path, data, finished
        self.size = len(data) if data is not None else path.stat().st_size if path is not None else 0

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        if self.path is None or start >= end:
            return b""
        with self.path.open("rb") as file:
            file.seek(start)
            return file.read(end - start)

    def blocks(self, start: int = 0) -> Iterator[bytes]:
        for offset in range(start, self.size, _BLOCK):
            yield self.read(offset, min(offset + _BLOCK, self.size))

    def line_offset(self, line: int) -> int:
        """Where line number ``line`` starts (the log's end when it has fewer lines)."""
        seen = 1
        for start in range(0, self.size, _BLOCK):
            block = self.read(start, min(start + _BLOCK, self.size))
            newlines = block.count(b"\n")
            if seen + newlines < line:
                seen += newlines
                continue
            at = -1
            for _ in range(line - seen):
                at = block.index(b"\n", at + 1)
            return start + at + 1
        return self.size if line > 1 else 0

    def lines_before(self, offset: int) -> int:
        if self.data is not None:
            return self.data.count(b"\n", 0, offset)
        return sum(self.read(start, min(start + _BLOCK, offset)).count(b"\n") for start in range(0, offset, _BLOCK))


def _open(
    db: Database, artifacts: ArtifactStore, principal: Principal, run_id: str, step_name: str, number: int
) -> _Log:
    with db.read() as session:
        principal.fetch(session, PipelineRun, run_id, f"pipeline run {run_id!r}")
        attempt = session.get(StepAttempt, (run_id, step_name, number))
        if attempt is None:
            raise NotFound(f"step {step_name!r} of run {run_id!r} has no attempt {number}", field="attempt")
        finished = attempt.status != "running"
        log_ref, log_sha, log_path, host = attempt.log_ref, attempt.log_sha256, attempt.log_path, attempt.host
    if finished and log_ref and log_sha:
        owner = f"the log of {step_name} attempt {number} of run {run_id}"
        return _Log(data=artifacts.get(log_ref, log_sha, owner=owner), finished=True)
    if log_path and Path(log_path).is_file():
        return _Log(path=Path(log_path), finished=finished)
    if finished:
        return _Log(data=b"", finished=True)
    raise NotFound(
        f"the log of this running attempt is kept on {host} until it ends (live logs are on the server that runs "
        "local steps)",
        field="attempt",
    )


def _line_start(log: _Log, offset: int) -> int:
    """The start of the line holding byte ``offset`` (looking back at most one block)."""
    if offset <= 0:
        return 0
    before = log.read(max(0, offset - _BLOCK), offset)
    newline = before.rfind(b"\n")
    return offset - len(before) + newline + 1 if newline >= 0 else offset


def read_log(
    db: Database,
    artifacts: ArtifactStore,
    principal: Principal,
    run_id: str,
    step_name: str,
    number: int,
    offset: int = 0,
    *,
    tail: int | None = None,
    line: int | None = None,
    limit: int = PAGE_BYTES,
) -> LogChunk:
    """Up to ``limit`` bytes of an attempt's output from byte ``offset``, from the start of line number ``line``, or
    its last ``tail`` bytes (from the start of a line). A page that is not the last ends with a whole line when it
    holds one."""
    log = _open(db, artifacts, principal, run_id, step_name, number)
    if tail is not None:
        offset = _line_start(log, max(0, log.size - tail))
    elif line is not None:
        offset = log.line_offset(line)
    offset = min(offset, log.size)
    end = min(offset + limit, log.size)
    data = log.read(offset, end)
    if end < log.size and (newline := data.rfind(b"\n")) >= 0:
        data = data[: newline + 1]
        end = offset + len(data)
    return LogChunk(
        text=data.decode("utf-8", errors="replace"),
        offset=offset,
        nextOffset=end,
        complete=log.finished and end >= log.size,
        size=log.size,
        line=log.lines_before(offset) + 1,
        truncated=log.read(0, len(TRUNCATED)) == TRUNCATED,
    )


def _lines(log: _Log) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line without its newline) for every line of the log."""
    number, offset, rest = 1, 0, b""
    for block in log.blocks():
        block = rest + block
        start = 0
        while (newline := block.find(b"\n", start)) >= 0:
            yield number, offset + start, block[start:newline]
            number, start = number + 1, newline + 1
        offset, rest = offset + start, block[start:]
    if rest:
        yield number, offset, rest


def _needle(query: str) -> bytes:
    if not query.strip():
        raise InvalidInput("the search needs some text to look for", field="q")
    return query.lower().encode()


def search_log(
    db: Database,
    artifacts: ArtifactStore,
    principal: Principal,
    run_id: str,
    step_name: str,
    number: int,
    query: str,
    *,
    limit: int = 500,
) -> LogSearch:
    """The lines holding ``query`` (ignoring case, as plain text: no pattern to cost the server), all counted, the
    first ``limit`` returned with their numbers and offsets."""
    needle = _needle(query)
    log = _open(db, artifacts, principal, run_id, step_name, number)
    matches: list[LogLine] = []
    count = 0
    for line, offset, text in _lines(log):
        if needle in text.lower():
            count += 1
            if len(matches) < limit:
                matches.append(LogLine(line=line, offset=offset, text=text[:_LINE_CHARS].decode(errors="replace")))
    return LogSearch(query=query, count=count, matches=matches, size=log.size, complete=log.finished)


def stream_log(
    db: Database,
    artifacts: ArtifactStore,
    principal: Principal,
    run_id: str,
    step_name: str,
    number: int,
    query: str | None = None,
) -> Iterator[bytes]:
    """The whole log as it is now, or only its lines holding ``query``, for a download. Access is checked and the
    log opened before the first byte, so a refusal is an error answer, not a broken download."""
    needle = _needle(query) if query is not None else None
    log = _open(db, artifacts, principal, run_id, step_name, number)

    def chunks() -> Iterator[bytes]:
        if needle is None:
            yield from log.blocks()
            return
        for _, _, text in _lines(log):
            if needle in text.lower():
                yield text + b"\n"

    return chunks()


def cut_middle(source: Path, max_bytes: int, target: BinaryIO) -> None:
    """Copy a log longer than ``max_bytes`` to ``target`` with its middle cut: the first quarter of ``max_bytes`` and
    the last three quarters are kept, under a first line saying how much was cut (and a line where)."""
    size = source.stat().st_size
    with source.open("rb") as file:
        head, tail = max_bytes // 4, max_bytes - max_bytes // 4
        cut = size - head - tail
        target.write(TRUNCATED + f"the step wrote {size:,} bytes; {cut:,} were cut from the middle.\n".encode())
        target.write(file.read(head))
        target.write(f"\n[genome] ... {cut:,} bytes cut here ...\n".encode())
        file.seek(size - tail)
        shutil.copyfileobj(file, target)

"""Step logs: an attempt's output read in pages, as its tail, or as the lines matching a search, from the running
attempt's file while it runs (on the server running it) and from the artifact store once it has ended.

Pages end at a line's end whenever the page holds one, so a page never splits a line (or a UTF-8 character) that
the next page completes, and each page knows the number of its first line: the UI numbers lines and links to each.
A log longer than ``step_log_max_bytes`` is stored with its middle cut out, and says so in its first line.

A running attempt's file is not cut until the attempt ends, so what one request costs is bounded apart from its
size: searches read at most its last ``step_log_max_bytes``, and lines are counted from marks kept between requests
(``_Log.marks``), not from the first byte each time.
"""

from __future__ import annotations

import bisect
import shutil
import threading
from collections import OrderedDict
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
# The newlines counted before every _MARK_EVERY bytes of the running logs read lately, by file (see _Log.marks).
_MARK_EVERY = 4 << 20
_MARKED_FILES = 64
_marks: OrderedDict[str, list[int]] = OrderedDict()
_marks_lock = threading.Lock()


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

    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else end
        for offset in range(start, end, _BLOCK):
            yield self.read(offset, min(offset + _BLOCK, end))

    def marks(self, offset: int) -> list[int]:
        """The newlines before byte 0, ``_MARK_EVERY``, twice that... up to ``offset``. A running attempt's file only
        grows, so its marks are kept between requests: following it (the page polls every second) or paging deep
        into it counts from the last mark before the place, not from the log's first byte each time."""
        key = None if self.path is None else str(self.path)
        with _marks_lock:
            marks = list(_marks.get(key, [0])) if key is not None else [0]
        if (len(marks) - 1) * _MARK_EVERY > self.size:
            marks = [0]  # not this file's: it is shorter than where they end
        known = len(marks)
        while len(marks) * _MARK_EVERY <= offset:
            start = (len(marks) - 1) * _MARK_EVERY
            marks.append(marks[-1] + sum(block.count(b"\n") for block in self.blocks(start, start + _MARK_EVERY)))
        if key is not None and len(marks) > known:
            with _marks_lock:
                if len(marks) > len(_marks.get(key, ())):
                    _marks[key] = marks
                _marks.move_to_end(key)
                while len(_marks) > _MARKED_FILES:
                    _marks.popitem(last=False)
        return marks

    def line_offset(self, line: int) -> int:
        """Where line number ``line`` starts (the log's end when it has fewer lines)."""
        if line <= 1:
            return 0
        marks = self.marks(self.size) if self.data is None else [0]
        # From the last mark before the newline that ends line - 1.
        mark = bisect.bisect_left(marks, line - 1) - 1
        seen = marks[mark] + 1
        for start in range(mark * _MARK_EVERY, self.size, _BLOCK):
            block = self.read(start, min(start + _BLOCK, self.size))
            newlines = block.count(b"\n")
            if seen + newlines < line:
                seen += newlines
                continue
            at = -1
            for _ in range(line - seen):
                at = block.index(b"\n", at + 1)
            return start + at + 1
        return self.size

    def lines_before(self, offset: int) -> int:
        if self.data is not None:
            return self.data.count(b"\n", 0, offset)
        mark = offset // _MARK_EVERY
        return self.marks(offset)[mark] + sum(block.count(b"\n") for block in self.blocks(mark * _MARK_EVERY, offset))


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


def _matching_lines(
    log: _Log, needle: bytes, start: int = 0, number: int = 1
) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, byte offset, line without its newline) of each line holding ``needle`` (lowercase, matched
    ignoring ASCII case), from byte ``start``, the start of line ``number``. The log is read a block at a time and
    searched with ``bytes.find``, not line by line in Python, and a line longer than a block is never held whole:
    its text is None, for the caller to read what it needs of it."""
    if b"\n" in needle:
        return  # a line holds no newline
    keep = len(needle) - 1  # what a match running over the end of a block needs of it
    carry = b""  # the current line's start, not searched yet; or, once it outgrew a block, its last ``keep`` bytes
    line_at = here = start  # where the current line starts; where ``carry`` starts
    found = False  # the current line, longer than a block, matched already
    for block in log.blocks(start):
        data = carry + block
        low = data.lower()
        at = 0
        if line_at < here:  # the rest of a line longer than a block
            newline = data.find(b"\n")
            if not found and low.find(needle, 0, len(data) if newline < 0 else newline) >= 0:
                found = True
                yield number, line_at, None
            if newline < 0:
                carry = data[-keep:] if keep else b""
                here += len(data) - len(carry)
                continue
            number, at, line_at, found = number + 1, newline + 1, here + newline + 1, False
        whole = data.rfind(b"\n") + 1  # the lines ending in this block end before ``whole``
        while (hit := low.find(needle, at, whole)) >= 0:
            newline = data.rfind(b"\n", at, hit)
            first = at if newline < 0 else newline + 1
            number += data.count(b"\n", at, first)
            end = data.find(b"\n", hit)
            yield number, here + first, data[first:end]
            number, at = number + 1, end + 1
        number += data.count(b"\n", at, whole)
        line_at, carry = here + whole, data[whole:]
        if len(carry) > _BLOCK:  # a line longer than a block: search it now, and keep only its end
            found = low.find(needle, whole) >= 0
            if found:
                yield number, line_at, None
            carry = carry[-keep:] if keep else b""
            here += len(data) - len(carry)
        else:
            here = line_at
    if line_at == here and needle in carry.lower():  # a last line without a newline
        yield number, line_at, carry


def _line(log: _Log, offset: int) -> Iterator[bytes]:
    """The line starting at ``offset`` with its newline, a block at a time."""
    for block in log.blocks(offset):
        newline = block.find(b"\n")
        if newline >= 0:
            yield block[: newline + 1]
            return
        yield block
    yield b"\n"


def _needle(query: str) -> bytes:
    if not query.strip():
        raise InvalidInput("the search needs some text to look for", field="q")
    return query.lower().encode()


def _searched_from(log: _Log, max_bytes: int) -> int:
    """Where a search starts: the log's first byte, or for a running log longer than the server keeps, the start of
    a line near its last ``max_bytes`` (what the stored log will mostly keep)."""
    if log.data is not None or log.size <= max_bytes:
        return 0
    return _line_start(log, log.size - max_bytes)


def search_log(
    db: Database,
    artifacts: ArtifactStore,
    principal: Principal,
    run_id: str,
    step_name: str,
    number: int,
    query: str,
    *,
    max_bytes: int,
    limit: int = 500,
) -> LogSearch:
    """The lines holding ``query`` (ignoring case, as plain text: no pattern to cost the server), all counted, the
    first ``limit`` returned with their numbers and offsets. A running attempt's log longer than ``max_bytes`` is
    searched from ``searchedFrom``, near its last ``max_bytes``."""
    needle = _needle(query)
    log = _open(db, artifacts, principal, run_id, step_name, number)
    start = _searched_from(log, max_bytes)
    matches: list[LogLine] = []
    count = 0
    for line, offset, text in _matching_lines(log, needle, start, log.lines_before(start) + 1):
        count += 1
        if len(matches) < limit:
            shown = log.read(offset, offset + _LINE_CHARS) if text is None else text[:_LINE_CHARS]
            matches.append(LogLine(line=line, offset=offset, text=shown.decode(errors="replace")))
    return LogSearch(
        query=query, count=count, matches=matches, size=log.size, complete=log.finished, searchedFrom=start
    )


def stream_log(
    db: Database,
    artifacts: ArtifactStore,
    principal: Principal,
    run_id: str,
    step_name: str,
    number: int,
    query: str | None = None,
    *,
    max_bytes: int,
) -> Iterator[bytes]:
    """The whole log as it is now, or only its lines holding ``query`` (searched as ``search_log`` does, and a first
    line saying so when only the end of a running log was), for a download. Access is checked and the log opened
    before the first byte, so a refusal is an error answer, not a broken download."""
    needle = _needle(query) if query is not None else None
    log = _open(db, artifacts, principal, run_id, step_name, number)

    def chunks() -> Iterator[bytes]:
        if needle is None:
            yield from log.blocks()
            return
        start = _searched_from(log, max_bytes)
        if start:
            said = f"[genome] the attempt is running and its log has {log.size:,} bytes: searched from byte {start:,}."
            yield said.encode() + b"\n"
        for _, offset, text in _matching_lines(log, needle, start, log.lines_before(start) + 1):
            yield from _line(log, offset) if text is None else (text + b"\n",)

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

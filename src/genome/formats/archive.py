"""Reading zips that come from users: a bundle, and the zips inside it (an npz of samples, a Keras archive).

Everything is decided from the zip's directory before anything is inflated (plain relative names, no links, a
bounded number of members, total size and compression ratio), and members are inflated a chunk at a time, so that
zipfile stops at each member's declared size: ``ZipFile.read`` would inflate a whole stream (up to 2 GiB) in one
call, whatever size the directory declares.
"""

from __future__ import annotations

import contextlib
import io
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from genome.errors import InvalidInput, PayloadTooLarge

__all__ = ["ZipLimits", "check_member_name", "open_checked", "read_member", "verify_members"]

_CHUNK = 1024 * 1024
# A member this many times larger than its compressed bytes is a decompression bomb, not a model (model files
# compress a few times at most; they are stored uncompressed).
_MAX_RATIO = 100
_RATIO_FROM_BYTES = 1024 * 1024
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError)


@dataclass(frozen=True)
class ZipLimits:
    """How large a zip may be once inflated, and how many members it may hold."""

    max_bytes: int = 8 * 1024 * 1024 * 1024
    max_members: int = 10_000


def check_member_name(name: str, what: str = "a member", where: str = "artifact") -> str:
    """``name`` if it is a plain relative path (no leading ``/``, no ``..``, ``.`` or empty parts, no backslash,
    NUL or drive); ``InvalidInput`` otherwise."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or ":" in parts[0]
        or any(part in ("", "..", ".") for part in parts)
    ):
        raise InvalidInput(f"{where} has {what} named {name!r}: names must be plain relative paths", field="artifact")
    return name


def _check_members(archive: zipfile.ZipFile, limits: ZipLimits, where: str) -> None:
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise PayloadTooLarge(f"{where} has {len(members)} members; at most {limits.max_members}", field="artifact")
    total = 0
    files = {info.filename for info in members if not info.is_dir()}
    for info in members:
        folders = info.filename.rstrip("/").split("/")[:-1]
        clash = next(
            ("/".join(folders[:depth]) for depth in range(1, len(folders) + 1) if "/".join(folders[:depth]) in files),
            None,
        )
        if clash is not None:
            raise InvalidInput(f"{where} has {clash!r} both as a file and as a folder", field="artifact")
        check_member_name(info.filename.rstrip("/") if info.is_dir() else info.filename, f"a member of {where}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InvalidInput(
                f"{where} member {info.filename!r} is a link; it must hold plain files", field="artifact"
            )
        total += info.file_size
        if total > limits.max_bytes:
            raise PayloadTooLarge(
                f"{where} expands to more than {limits.max_bytes} bytes (GENOME_BUNDLE_MAX_BYTES)", field="artifact"
            )
        if info.file_size > _RATIO_FROM_BYTES and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
            raise PayloadTooLarge(
                f"{where} member {info.filename!r} expands {info.file_size // max(info.compress_size, 1)}-fold: "
                "a decompression bomb, not a model",
                field="artifact",
            )


@contextlib.contextmanager
def open_checked(
    data: bytes | BinaryIO, limits: ZipLimits, *, where: str, expected: str = "a readable zip"
) -> Iterator[zipfile.ZipFile]:
    """The zip, once its directory passed the checks; ``where`` names it in errors, ``expected`` says what it
    should have been."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            _check_members(archive, limits, where)
            yield archive
    except _ZIP_ERRORS as exc:
        raise InvalidInput(f"{where} is not {expected}: {exc}", field="artifact") from exc


def read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, inflated a chunk at a time (so never past its declared size)."""
    chunks = []
    with archive.open(name) as member:
        while chunk := member.read(_CHUNK):
            chunks.append(chunk)
    return b"".join(chunks)


def verify_members(archive: zipfile.ZipFile, where: str) -> None:
    """Inflate every member a chunk at a time, checking its CRC: a zip whose streams disagree with its directory is
    refused, so a library that later reads it whole (NumPy, Keras) inflates only what the directory declares."""
    try:
        for info in archive.infolist():
            if not info.is_dir():
                with archive.open(info) as member:
                    while member.read(_CHUNK):
                        pass
    except _ZIP_ERRORS as exc:
        raise InvalidInput(f"{where} is not a readable zip: {exc}", field="artifact") from exc

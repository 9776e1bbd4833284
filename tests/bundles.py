"""Bundles rewritten as an attacker would: members replaced or added, the rest kept byte for byte."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from genome.formats.bundle import MANIFEST


def rebuild(
    bundle: bytes,
    manifest: dict[str, Any] | None = None,
    replace: dict[str, bytes] | None = None,
    add: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None,
) -> bytes:
    """``bundle`` with its manifest and members replaced (or added when new), and ``add``'s entries added."""
    replace = dict(replace or {})
    if manifest is not None:
        replace[MANIFEST] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, replace.pop(info.filename, None) or source.read(info))
        for name, data in replace.items():
            target.writestr(name, data)
        for entry, data in add or []:
            target.writestr(entry, data)
    return out.getvalue()

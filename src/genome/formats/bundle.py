"""The model bundle: one zip holding the model in its own format and the wrapper fields that travel with it.

    genome.json   manifest: bundle version, format, model file and class, framework, parameters, JSON fields
    model.*       the model, written by its format (model.pkl, model.json, model.keras, model.pt, ...)
    fields.pkl    wrapper fields that are not JSON (a preprocessing function, say), cloudpickled

The server reads only ``genome.json`` (no unpickling) to validate an upload and fill in its metadata.
"""

from __future__ import annotations

import io
import json
import platform
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import cloudpickle

from genome.errors import InvalidInput
from genome.formats.describe import describe
from genome.formats.registry import ModelFormat, class_path, format_for, format_named, module_root

__all__ = ["BUNDLE_VERSION", "MANIFEST", "pack", "read_manifest", "unpack"]

BUNDLE_VERSION = 1
MANIFEST = "genome.json"
_FIELDS = "fields.pkl"


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _library_version(root: str) -> str | None:
    try:
        return metadata.version({"sklearn": "scikit-learn"}.get(root, root))
    except metadata.PackageNotFoundError:
        return None


def pack(model: Any, fields: dict[str, Any], formats: list[ModelFormat] | None = None) -> tuple[bytes, dict[str, Any]]:
    """Bundle ``model`` with ``fields``; returns the zip's bytes and its manifest."""
    fmt = format_for(model, formats)
    json_fields = {k: v for k, v in fields.items() if v is None or _is_json(v)}
    other_fields = {k: v for k, v in fields.items() if k not in json_fields}
    root = module_root(model)
    manifest: dict[str, Any] = {
        "genomeBundle": BUNDLE_VERSION,
        "format": fmt.name,
        "modelClass": class_path(model),
        "framework": describe(model)["framework"],
        "parameters": describe(model),
        "fields": json_fields,
        "pickledFields": sorted(other_fields),
        "libraries": {"python": platform.python_version(), root: _library_version(root)},
    }
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="genome-pack-") as tmp:
        folder = Path(tmp)
        manifest["modelFile"] = fmt.dump(model, folder)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest))
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
            if other_fields:
                archive.writestr(_FIELDS, cloudpickle.dumps(other_fields, protocol=5))
    return buffer.getvalue(), manifest


def read_manifest(data: bytes | BinaryIO) -> dict[str, Any]:
    """The manifest of a bundle (bytes or a seekable file), checked for shape; raises ``InvalidInput`` otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            names = set(archive.namelist())
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"artifact is not a Genome model bundle (a zip with {MANIFEST}): {exc}", field="artifact"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("genomeBundle") != BUNDLE_VERSION:
        raise InvalidInput(f"artifact manifest is not bundle version {BUNDLE_VERSION}", field="artifact")
    for key in ("format", "modelFile", "modelClass", "framework", "parameters", "fields"):
        if key not in manifest:
            raise InvalidInput(f"artifact manifest lacks {key!r}", field="artifact")
    if manifest["modelFile"] not in names:
        raise InvalidInput(f"artifact lacks its model file {manifest['modelFile']!r}", field="artifact")
    return manifest


def unpack(data: bytes, formats: list[ModelFormat] | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The model, its wrapper fields and the manifest, from a bundle's bytes."""
    manifest = read_manifest(data)
    fmt = format_named(manifest["format"], formats)
    with tempfile.TemporaryDirectory(prefix="genome-unpack-") as tmp, zipfile.ZipFile(io.BytesIO(data)) as archive:
        folder = Path(tmp)
        archive.extractall(folder)
        model = fmt.load(folder, manifest["modelFile"], manifest["modelClass"])
        fields = dict(manifest["fields"])
        if manifest.get("pickledFields"):
            fields.update(cloudpickle.loads((folder / _FIELDS).read_bytes()))
    return model, fields, manifest

"""The model bundle: one zip holding the model in its own format and the wrapper fields that travel with it.

    genome.json   manifest: bundle version, format, model file and class, framework, parameters, JSON fields,
                  library versions
    model.*       the model, written by its format (model.pkl, model.json, model.keras, model.pt, ...), plus any
                  file the format adds beside it (xgboost-params.json)
    fields.pkl    wrapper fields JSON would not give back unchanged (a preprocessing function, a tuple), cloudpickled
    samples.npz   sample explanations, if computed: plain numeric and string arrays (np.savez, read back with
                  allow_pickle=False); their summary (rows, featureImportance) is in the manifest under "samples"

The server reads only ``genome.json`` (no unpickling) to validate an upload and fill in its metadata. Entries carry
no timestamps, so packing the same model twice gives the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import pickle
import platform
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import cloudpickle
import numpy as np

from genome.errors import InvalidInput
from genome.formats.describe import describe
from genome.formats.registry import ModelFormat, class_path, format_for, format_named

__all__ = [
    "BUNDLE_VERSION",
    "MANIFEST",
    "BundleSamples",
    "extracted",
    "pack",
    "read_manifest",
    "unpack",
    "unpack_fields",
]

BUNDLE_VERSION = 1
MANIFEST = "genome.json"
_FIELDS = "fields.pkl"
_SAMPLES = "samples.npz"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_COPY_CHUNK = 1024 * 1024
# What pickling (cloudpickle, torch.save) raises for an object it cannot carry, such as a lock or an open file.
_PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError)


def _is_json(value: Any) -> bool:
    """Whether JSON gives the value back unchanged; tuples, non-string keys and NaN would not, so they are pickled."""
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def _library_version(root: str) -> str | None:
    # Import names are not distribution names: sklearn is scikit-learn, xgboost may be xgboost-cpu.
    for name in (*_distributions().get(root, ()), root):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _libraries(model: Any) -> dict[str, str]:
    """Python's version and those of the libraries the model's classes come from (a torch module defined in a
    training script records torch; an XGBoost scikit-learn wrapper records both)."""
    roots = {cls.__module__.partition(".")[0] for cls in type(model).__mro__} - set(sys.stdlib_module_names)
    versions = {"python": platform.python_version()}
    for root in sorted(roots):
        version = _library_version(root)
        if version is not None:
            versions[root] = version
    return versions


def _entry(name: str) -> zipfile.ZipInfo:
    # No clock or file times in the zip: the same model packs to the same bytes, which the content-addressed
    # artifact store then keeps once.
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    return info


def _dump_model(fmt: ModelFormat, model: Any, folder: Path) -> str:
    try:
        return fmt.dump(model, folder)
    except _PICKLE_ERRORS as exc:
        raise InvalidInput(
            f"the estimator ({class_path(model)}) cannot be serialized as {fmt.name}: {exc}", field="estimator"
        ) from exc


def _pickle_fields(fields: dict[str, Any]) -> bytes:
    try:
        data: bytes = cloudpickle.dumps(fields, protocol=5)
        return data
    except _PICKLE_ERRORS as exc:
        for name, value in fields.items():  # name the field at fault
            try:
                cloudpickle.dumps(value, protocol=5)
            except _PICKLE_ERRORS:
                raise InvalidInput(f"{name} cannot be serialized: {exc}", field=name) from exc
        raise


class BundleSamples(Protocol):
    """Sample explanations as the bundle stores them (``genome.explain.SampleExplanations``)."""

    def to_arrays(self) -> dict[str, np.ndarray]: ...

    def summary(self) -> dict[str, Any]: ...


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    if any(array.dtype.hasobject for array in arrays.values()):
        raise InvalidInput("sample explanations must be numbers and strings, not Python objects", field="samples")
    # (numpy's own allow_pickle keyword for savez is too new for the numpy versions we support)
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
            return {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"the bundle's {_SAMPLES} is not readable: {exc}", field="artifact") from exc


def pack(
    model: Any,
    fields: dict[str, Any],
    formats: list[ModelFormat] | None = None,
    *,
    samples: BundleSamples | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Bundle ``model`` with ``fields`` (and sample explanations); returns the zip's bytes and its manifest."""
    fmt = format_for(model, formats)
    json_fields = {k: v for k, v in fields.items() if v is None or _is_json(v)}
    other_fields = {k: v for k, v in fields.items() if k not in json_fields}
    described = describe(model)
    manifest: dict[str, Any] = {
        "genomeBundle": BUNDLE_VERSION,
        "format": fmt.name,
        "modelClass": class_path(model),
        "framework": described["framework"],
        "parameters": described,
        "fields": json_fields,
        "pickledFields": sorted(other_fields),
        "libraries": _libraries(model),
    }
    if samples is not None:
        manifest["samples"] = samples.summary()
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="genome-pack-") as tmp:
        folder = Path(tmp)
        manifest["modelFile"] = _dump_model(fmt, model, folder)
        pickled = _pickle_fields(other_fields) if other_fields else None
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(_entry(MANIFEST), json.dumps(manifest))
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    entry = _entry(path.relative_to(folder).as_posix())
                    entry.file_size = path.stat().st_size  # lets zipfile switch to zip64 for a model over 2 GiB
                    with path.open("rb") as source, archive.open(entry, "w") as target:
                        shutil.copyfileobj(source, target, _COPY_CHUNK)
            if pickled is not None:
                archive.writestr(_entry(_FIELDS), pickled)
            if samples is not None:
                archive.writestr(_entry(_SAMPLES), _npz(samples.to_arrays()))
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
    model_file = manifest["modelFile"]
    if model_file not in names and not any(name.startswith(f"{model_file}/") for name in names):  # a file or folder
        raise InvalidInput(f"artifact lacks its model file {manifest['modelFile']!r}", field="artifact")
    return manifest


@contextlib.contextmanager
def extracted(data: bytes) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The bundle's files in a temporary folder, with its manifest, for as long as the ``with`` block lasts; for
    readers that take a model's own files without loading it (a Spark model's tree data, say)."""
    manifest = read_manifest(data)
    with tempfile.TemporaryDirectory(prefix="genome-unpack-") as tmp, zipfile.ZipFile(io.BytesIO(data)) as archive:
        folder = Path(tmp)
        archive.extractall(folder)
        yield folder, manifest


def unpack(data: bytes, formats: list[ModelFormat] | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The model, its wrapper fields and the manifest, from a bundle's bytes; saved sample explanations come
    back as a dict of arrays in ``fields["samples"]``."""
    with extracted(data) as (folder, manifest):
        fmt = format_named(manifest["format"], formats)
        model = fmt.load(folder, manifest["modelFile"], manifest["modelClass"])
        fields = unpack_fields(folder, manifest)
    return model, fields, manifest


def unpack_fields(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The wrapper fields of an extracted bundle, with saved sample explanations as arrays under ``"samples"``."""
    fields = dict(manifest["fields"])
    if manifest.get("pickledFields"):
        fields.update(cloudpickle.loads((folder / _FIELDS).read_bytes()))
    if (folder / _SAMPLES).is_file():
        fields["samples"] = _load_npz((folder / _SAMPLES).read_bytes())
    return fields

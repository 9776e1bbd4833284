"""The model bundle: one zip holding the model in its own format and the wrapper fields that travel with it.

    genome.json   manifest: bundle version, format, model file and class, framework, parameters, JSON fields,
                  library versions
    model.*       the model, written by its format (model.pkl, model.json, model.keras, model.pt, ...), plus any
                  file the format adds beside it (xgboost-params.json)
    fields.pkl    wrapper fields JSON would not give back unchanged (a preprocessing function, a tuple), cloudpickled
    samples.npz   sample explanations, if computed: plain numeric and string arrays (np.savez, read back with
                  allow_pickle=False); their summary (rows, featureImportance) is in the manifest under "samples"

The server reads only ``genome.json`` and the pickles' opcodes (no unpickling) to validate an upload, fill in its
metadata and tell whether the bundle carries code (``inspect``). Member names are plain relative paths, sizes and
compression ratios are bounded before anything is decompressed, and unpacking reads only trusted types unless the
caller trusts the bundle (``genome.formats.trust``). Entries carry no timestamps, so packing the same model twice
gives the same bytes.
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
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import cloudpickle
import numpy as np

from genome.errors import InvalidInput, PayloadTooLarge
from genome.extras import missing
from genome.formats.archive import ZipLimits, check_member_name, open_checked, read_member, verify_members
from genome.formats.describe import describe
from genome.formats.registry import ModelFormat, WeightsFormat, class_path, format_for, format_named
from genome.formats.trust import UntrustedContent, trusted_loads, untrusted_globals

__all__ = [
    "BUNDLE_VERSION",
    "MANIFEST",
    "BundleInfo",
    "BundleLimits",
    "BundleSamples",
    "extracted",
    "inspect",
    "pack",
    "read_manifest",
    "remove_stale_extractions",
    "unpack",
    "unpack_fields",
]

BUNDLE_VERSION = 1
MANIFEST = "genome.json"
_FIELDS = "fields.pkl"
_SAMPLES = "samples.npz"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_COPY_CHUNK = 1024 * 1024
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024
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


def _check_npz(data: bytes) -> None:
    """An npz is a zip of its own, which NumPy inflates whole: checked like the bundle, its streams verified."""
    with open_checked(data, ZipLimits(), where=f"the bundle's {_SAMPLES}") as archive:
        verify_members(archive, f"the bundle's {_SAMPLES}")


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    _check_npz(data)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
            return {name: loaded[name] for name in loaded.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"the bundle's {_SAMPLES} is not readable: {exc}", field="artifact") from exc


_local_found: tuple[int, list[Any]] = (-1, [])  # (how many modules were imported, the local ones among them)


def _local_modules() -> list[Any]:
    """The imported modules no installed package provides; worked out again only when modules were imported."""
    global _local_found
    count, found = _local_found
    if count != len(sys.modules):
        installed = set(_distributions()) | set(sys.stdlib_module_names) | {"genome"}
        found = [
            module
            for name, module in list(sys.modules.items())
            if module is not None
            and name.partition(".")[0] not in installed
            and name != "__main__"
            and getattr(module, "__file__", None)
        ]
        _local_found = (len(sys.modules), found)
    return found


@contextlib.contextmanager
def _local_code_by_value() -> Iterator[None]:
    """Pickle code from modules no installed package provides (a training script's helpers, a notebook's
    modules) by value, as cloudpickle does for ``__main__``: the server that loads the bundle has no such module."""
    local = [module for module in _local_modules() if module.__name__ in sys.modules]
    for module in local:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in local:
            with contextlib.suppress(ValueError):
                cloudpickle.unregister_pickle_by_value(module)


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
    with tempfile.TemporaryDirectory(prefix="genome-pack-") as tmp, _local_code_by_value():
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


BundleLimits = ZipLimits


@dataclass(frozen=True)
class BundleInfo:
    """A checked bundle's manifest and what in it could run code when loaded (empty: nothing)."""

    manifest: dict[str, Any]
    untrusted_model: frozenset[str]  # in the model's own files
    untrusted_fields: frozenset[str]  # in the wrapper fields (a preprocessing function, say)

    @property
    def untrusted(self) -> frozenset[str]:
        return self.untrusted_model | self.untrusted_fields

    @property
    def isolated(self) -> bool:
        """Whether the bundle may only be loaded in isolation (by the server's isolated worker, or trusted)."""
        return bool(self.untrusted)


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = archive.getinfo(MANIFEST)
        if info.file_size > _MAX_MANIFEST_BYTES:
            raise PayloadTooLarge(
                f"artifact's {MANIFEST} is {info.file_size} bytes; at most {_MAX_MANIFEST_BYTES}", field="artifact"
            )
        manifest = json.loads(read_member(archive, MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"artifact is not a Genome model bundle (a zip with {MANIFEST}): {exc}", field="artifact"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("genomeBundle") != BUNDLE_VERSION:
        raise InvalidInput(f"artifact manifest is not bundle version {BUNDLE_VERSION}", field="artifact")
    for key in ("format", "modelFile", "modelClass", "framework", "parameters", "fields"):
        if key not in manifest:
            raise InvalidInput(f"artifact manifest lacks {key!r}", field="artifact")
    for key in ("format", "modelFile", "modelClass", "framework"):
        if not isinstance(manifest[key], str):
            raise InvalidInput(f"artifact manifest's {key!r} must be a string", field="artifact")
    if not isinstance(manifest["fields"], dict) or not isinstance(manifest["parameters"], dict):
        raise InvalidInput("artifact manifest's 'fields' and 'parameters' must be objects", field="artifact")
    pickled = manifest.get("pickledFields", [])
    if not isinstance(pickled, list) or not all(isinstance(name, str) for name in pickled):
        raise InvalidInput("artifact manifest's 'pickledFields' must be a list of names", field="artifact")
    model_file = check_member_name(manifest["modelFile"], "its modelFile")
    names = set(archive.namelist())
    if model_file not in names and not any(name.startswith(f"{model_file}/") for name in names):  # a file or folder
        raise InvalidInput(f"artifact lacks its model file {model_file!r}", field="artifact")
    return manifest


def _open(data: bytes | BinaryIO, limits: BundleLimits) -> contextlib.AbstractContextManager[zipfile.ZipFile]:
    return open_checked(data, limits, where="artifact", expected=f"a Genome model bundle (a zip with {MANIFEST})")


def read_manifest(data: bytes | BinaryIO, limits: BundleLimits | None = None) -> dict[str, Any]:
    """The manifest of a bundle (bytes or a seekable file), checked for shape; raises ``InvalidInput`` otherwise."""
    with _open(data, limits or BundleLimits()) as archive:
        return _manifest(archive)


def inspect(data: bytes | BinaryIO, limits: BundleLimits | None = None) -> BundleInfo:
    """Check a bundle (names, sizes, manifest) and find what in it could run code, without loading it."""
    with _open(data, limits or BundleLimits()) as archive:
        manifest = _manifest(archive)

        def read(name: str) -> bytes:
            try:
                return read_member(archive, check_member_name(name))
            except KeyError as exc:
                raise InvalidInput(f"artifact lacks {name!r}", field="artifact") from exc

        in_model = format_named(manifest["format"]).untrusted(manifest, read)
        in_fields = untrusted_globals(read(_FIELDS)) if manifest.get("pickledFields") else set()
        if _SAMPLES in archive.namelist():
            _check_npz(read(_SAMPLES))
    return BundleInfo(manifest, frozenset(in_model), frozenset(in_fields))


_UNPACK_PREFIX = "genome-unpack-"


def remove_stale_extractions(older_than: float = 600.0) -> int:
    """Remove bundle extractions a killed process left in the temporary folder (untouched for ``older_than``
    seconds, so another process's extraction in progress stays); returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    for folder in Path(tempfile.gettempdir()).glob(f"{_UNPACK_PREFIX}*"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder)
                removed += 1
    return removed


@contextlib.contextmanager
def extracted(data: bytes) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The bundle's files in a temporary folder, with its manifest, for as long as the ``with`` block lasts; for
    readers that take a model's own files without loading it (a Spark model's tree data, say)."""
    manifest = read_manifest(data)
    with tempfile.TemporaryDirectory(prefix=_UNPACK_PREFIX) as tmp, zipfile.ZipFile(io.BytesIO(data)) as archive:
        folder = Path(tmp)
        archive.extractall(folder)
        yield folder, manifest


def unpack(
    data: bytes, formats: list[ModelFormat] | None = None, *, trust: bool = False, into: Any = None
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The model, its wrapper fields and the manifest, from a bundle's bytes; saved sample explanations come
    back as a dict of arrays in ``fields["samples"]``.

    Without ``trust``, a bundle that carries code (see ``inspect``) raises ``UntrustedContent`` before anything in
    it is read, and the rest is read with ``TrustedUnpickler``; ``trust=True`` runs whatever the bundle holds.
    ``into``, for a format that keeps a model's weights apart from its code (PyTorch): a model built by the caller
    from their own code, which receives the stored weights, so the bundle's code is never needed.
    """
    info = inspect(data)
    fmt = format_named(info.manifest["format"], formats)
    weights = fmt if isinstance(fmt, WeightsFormat) else None
    if into is not None and weights is None:
        raise InvalidInput(f"into= is for PyTorch models, not for {fmt.name} ones; leave it out", field="into")
    untrusted = info.untrusted_fields if into is not None else info.untrusted
    if untrusted and not trust:
        raise UntrustedContent(untrusted)
    with extracted(data) as (folder, manifest):
        try:
            if into is not None and weights is not None:
                model = weights.load_weights(folder, manifest["modelClass"], into)
            else:
                model = fmt.load(folder, manifest["modelFile"], manifest["modelClass"], trust=trust)
            fields = unpack_fields(folder, manifest, trust=trust)
        except ImportError as exc:  # a library a pickle names (a LightGBM wrapper's, say) is not installed
            raise missing(exc, f"loading this model ({manifest['modelClass']})") from exc
    return model, fields, manifest


def unpack_fields(folder: Path, manifest: dict[str, Any], *, trust: bool = False) -> dict[str, Any]:
    """The wrapper fields of an extracted bundle, with saved sample explanations as arrays under ``"samples"``."""
    fields = dict(manifest["fields"])
    if manifest.get("pickledFields"):
        data = (folder / _FIELDS).read_bytes()
        pickled = cloudpickle.loads(data) if trust else trusted_loads(data)
        if not isinstance(pickled, dict):
            raise InvalidInput(f"the bundle's {_FIELDS} must hold a dict of fields", field="artifact")
        fields.update(pickled)
    if (folder / _SAMPLES).is_file():
        fields["samples"] = _load_npz((folder / _SAMPLES).read_bytes())
    return fields

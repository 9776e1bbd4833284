"""Hand-made bundles an editor may upload to attack the server: callables named as model classes, paths that leave
the bundle, links, and decompression bombs. Each is refused at upload, through a real server, and nothing is stored."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from bundles import rebuild
from genome.formats.bundle import MANIFEST, pack
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX

MODELS = f"{API_PREFIX}/modelstore/models"
META = {"application": "search", "canonicalName": "/iris", "framework": "sklearn", "inputModality": "tabular"}
X, Y = load_iris(return_X_y=True)
MODEL = LogisticRegression(max_iter=300).fit(X, Y)
BUNDLE, MANIFEST_OF_BUNDLE = pack(MODEL, GenomeEstimator(MODEL, modality="tabular").bundle_fields())


def upload(server, artifact: bytes, meta: dict[str, Any] = META) -> httpx.Response:
    return server.http.post(
        MODELS, data={"meta": json.dumps(meta)}, files={"artifact": ("m.zip", artifact, "application/zip")}
    )


def stored(server) -> tuple[int, int]:
    """How many versions and artifact blobs the server holds."""
    versions = server.http.get(MODELS, params={"limit": 200}).json()["items"]
    blobs = Path(server.settings.resolved_artifact_root)
    return len(versions), len([path for path in blobs.rglob("*") if path.is_file()])


def refused(server, artifact: bytes, status: int, *words: str, meta: dict[str, Any] = META) -> dict[str, Any]:
    before = stored(server)
    response = upload(server, artifact, meta)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["field"] == "artifact", error
    for word in words:
        assert word in error["message"], error
    assert stored(server) == before
    return error


@pytest.fixture
def server(make_server):
    server = make_server("sqlite")
    assert upload(server, BUNDLE).status_code == 201  # the untouched bundle is accepted
    return server


@pytest.fixture(scope="module")
def xgboost_bundle() -> tuple[bytes, dict[str, Any]]:
    model = xgboost.XGBRegressor(n_estimators=3, max_depth=2).fit(X, Y)
    return pack(model, GenomeEstimator(model, modality="tabular").bundle_fields())


@pytest.mark.parametrize("model_class", ["subprocess.Popen", "os.system", "builtins.eval", "xgboost.core.Popen"])
def test_an_xgboost_manifest_naming_a_callable_is_refused_naming_model_class(
    server, xgboost_bundle, model_class: str
) -> None:
    bundle, manifest = xgboost_bundle
    assert manifest["format"] == "xgboost-json"
    meta = {**META, "framework": "xgboost"}
    refused(server, rebuild(bundle, {**manifest, "modelClass": model_class}), 400, "modelClass", model_class, meta=meta)


@pytest.mark.parametrize("model_class", ["subprocess.Popen", "os.system", "pyspark.ml.util.MLReader"])
def test_a_spark_manifest_naming_a_callable_is_refused_naming_model_class(server, model_class: str) -> None:
    manifest = {
        **MANIFEST_OF_BUNDLE,
        "format": "spark-ml",
        "framework": "spark",
        "modelFile": "model.spark",
        "modelClass": model_class,
    }
    metadata = json.dumps({"class": model_class, "paramMap": {}}).encode()
    bundle = rebuild(BUNDLE, manifest, add=[("model.spark/metadata/part-00000", metadata)])
    refused(server, bundle, 400, "modelClass", model_class, meta={**META, "framework": "spark"})


@pytest.mark.parametrize(
    "model_file", ["../../etc/passwd", "/etc/passwd", "a/../../x", "model.pkl/../../x", "..", "C:model.pkl", "a\\b"]
)
def test_a_model_file_outside_the_bundle_is_refused(server, model_file: str) -> None:
    bundle = rebuild(BUNDLE, {**MANIFEST_OF_BUNDLE, "modelFile": model_file})
    refused(server, bundle, 400, "modelFile")


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (0o120777) << 16  # S_IFLNK | 0777
    return info


@pytest.mark.parametrize(
    ("member", "data"),
    [
        ("../evil", b"x"),
        ("a/../../evil", b"x"),
        ("/etc/cron.d/evil", b"x"),
        ("a\\..\\..\\evil", b"x"),
        ("./model.pkl", b"x"),
        (_symlink("link"), b"/etc/passwd"),
        (_symlink("model.d/weights"), b"../../../../root/.ssh/id_rsa"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "dot", "symlink", "nested-symlink"],
)
def test_members_that_leave_the_bundle_or_link_out_are_refused(server, member: Any, data: bytes) -> None:
    refused(server, rebuild(BUNDLE, add=[(member, data)]), 400)


def test_a_symlinked_model_file_is_refused(server) -> None:
    bundle = rebuild(
        BUNDLE, {**MANIFEST_OF_BUNDLE, "modelFile": "evil.pkl"}, add=[(_symlink("evil.pkl"), b"model.pkl")]
    )
    refused(server, bundle, 400, "link")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bomb(bundle: bytes, name: str, first: bytes, filler: bytes, megabytes: int, manifest: bool = False) -> bytes:
    out = io.BytesIO()
    chunk = (filler * ((1 << 20) // len(filler) + 1))[: 1 << 20]
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w", compresslevel=9) as target:
        for info in source.infolist():
            if not (manifest and info.filename == MANIFEST):
                target.writestr(info, source.read(info))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with target.open(info, "w", force_zip64=True) as member:
            member.write(first)
            for _ in range(megabytes):
                member.write(chunk)
    return out.getvalue()


def test_a_manifest_that_expands_300_fold_is_413(server) -> None:
    start = json.dumps(MANIFEST_OF_BUNDLE)[:-1].encode() + b', "padding": "'
    bomb = _bomb(BUNDLE, MANIFEST, start, b" ", 300, manifest=True)
    assert len(bomb) < 1024 * 1024
    before = _max_rss_mb()
    refused(server, bomb, 413, "decompression bomb")
    assert _max_rss_mb() - before < 200


def test_a_gigabyte_of_zeros_beside_the_model_is_413_without_memory_jumping(server) -> None:
    bomb = _bomb(BUNDLE, "padding.bin", b"", b"\0", 1024)
    assert len(bomb) < 2 * 1024 * 1024
    before = _max_rss_mb()
    refused(server, bomb, 413, "padding.bin")
    assert _max_rss_mb() - before < 200


def test_a_bundle_past_bundle_max_bytes_is_413_even_at_a_plain_ratio(make_server) -> None:
    server = make_server("sqlite", bundle_max_bytes=2 * 1024 * 1024)
    noise = np.random.default_rng(0).integers(0, 255, 3 * 1024 * 1024, dtype=np.uint8).tobytes()
    refused(server, rebuild(BUNDLE, add=[("noise.bin", noise)]), 413, "GENOME_BUNDLE_MAX_BYTES")


def _lying(bundle: bytes, name: str, declared: int) -> bytes:
    """The bundle with ``name``'s uncompressed size in the central directory (what zipfile trusts) set to
    ``declared``, smaller than what its compressed stream really holds."""
    data = bytearray(bundle)
    at = 0
    while (at := data.find(b"PK\x01\x02", at + 1)) != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == name.encode():
            if struct.unpack_from("<I", data, at + 24)[0] == 0xFFFFFFFF:
                raise AssertionError("write the member without zip64 to patch its size")
            struct.pack_into("<I", data, at + 24, declared)
            return bytes(data)
    raise AssertionError(f"no member {name}")


def test_a_member_whose_header_understates_its_size_is_refused_without_memory_jumping(server) -> None:
    # The ratio check reads the declared sizes; the stream below inflates to 600 MiB whatever they say.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(BUNDLE)) as source, zipfile.ZipFile(out, "w", compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != MANIFEST:
                target.writestr(info, source.read(info))
        info = zipfile.ZipInfo(MANIFEST)
        info.compress_type = zipfile.ZIP_DEFLATED
        with target.open(info, "w") as member:
            member.write(json.dumps(MANIFEST_OF_BUNDLE).encode())
            for _ in range(600):
                member.write(b" " * (1 << 20))
    bomb = _lying(out.getvalue(), MANIFEST, 4096)
    assert len(bomb) < 1024 * 1024
    before = _max_rss_mb()
    refused(server, bomb, 400)
    assert _max_rss_mb() - before < 200


def test_a_bomb_inside_the_samples_npz_is_413_without_memory_jumping(server) -> None:
    # samples.npz is a zip of its own, stored as it is in the bundle: the bundle's ratio check alone misses it.
    from numpy.lib import format as npy

    npz = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (128 * 1024**2,)}
    with (
        zipfile.ZipFile(npz, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("values.npy", "w", force_zip64=True) as member,
    ):
        npy.write_array_header_1_0(member, header)
        for _ in range(1024):
            member.write(b"\0" * (1 << 20))
    bomb = rebuild(BUNDLE, add=[("samples.npz", npz.getvalue())])
    assert len(bomb) < 2 * 1024 * 1024
    before = _max_rss_mb()
    refused(server, bomb, 413, "values.npy")
    assert _max_rss_mb() - before < 200


@pytest.fixture(scope="module")
def keras_bundle() -> tuple[bytes, dict[str, Any]]:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras reads it once, at its first import
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    return pack(model, GenomeEstimator(model, modality="tabular").bundle_fields())


def _keras_archive(bundle: bytes, manifest: dict[str, Any]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return archive.read(manifest["modelFile"])


def test_a_bomb_inside_the_keras_archive_is_413_without_memory_jumping(server, keras_bundle) -> None:
    # model.keras is a zip of its own, which Keras inflates whole: the bundle's ratio check alone misses it.
    bundle, manifest = keras_bundle
    inner = _bomb(_keras_archive(bundle, manifest), "padding.bin", b"", b"\0", 1024)
    bomb = rebuild(bundle, replace={manifest["modelFile"]: inner})
    assert len(bomb) < 2 * 1024 * 1024
    before = _max_rss_mb()
    refused(server, bomb, 413, "Keras archive")
    assert _max_rss_mb() - before < 200


def test_a_keras_archive_whose_header_understates_a_size_is_refused(server, keras_bundle) -> None:
    bundle, manifest = keras_bundle
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_keras_archive(bundle, manifest))) as source,
        zipfile.ZipFile(out, "w", compresslevel=9) as target,
    ):
        for info in source.infolist():
            if info.filename != "config.json":
                target.writestr(info, source.read(info))
        info = zipfile.ZipInfo("config.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        with target.open(info, "w") as member:
            for _ in range(300):
                member.write(b" " * (1 << 20))
    inner = _lying(out.getvalue(), "config.json", 4096)
    before = _max_rss_mb()
    refused(server, rebuild(bundle, replace={manifest["modelFile"]: inner}), 400, "Keras archive")
    assert _max_rss_mb() - before < 200


def test_a_member_that_is_both_a_file_and_a_folder_is_refused(server) -> None:
    # Extracting it would fail on every load: refused at upload instead.
    clash = rebuild(BUNDLE, add=[(f"{MANIFEST_OF_BUNDLE['modelFile']}/inside", b"x")])
    refused(server, clash, 400, "both as a file and as a folder")

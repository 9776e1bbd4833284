"""The artifact store on a local folder, ``memory://`` and S3 (moto's server over real HTTP), and through the API."""

from __future__ import annotations

import abc
import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import fsspec
import httpx
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from genome.errors import ArtifactCorrupt, PayloadTooLarge
from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator
from genome.store.artifacts import ArtifactStore

X, Y = load_diabetes(return_X_y=True)
MODEL = LinearRegression().fit(X, Y)
META = {"application": "search", "canonicalName": "/diabetes/linear"}
CREDENTIALS = {"key": "testing", "secret": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server in a subprocess, so s3fs talks real HTTP to it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"genome-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


class Root(abc.ABC):
    """An artifact root, plus raw access to its bytes that goes around the store, to damage a blob the way a disk
    or a bucket would."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.options = options or {}

    def open(self) -> ArtifactStore:
        return ArtifactStore(self.url, self.options)

    @abc.abstractmethod
    def files(self) -> list[str]: ...

    @abc.abstractmethod
    def read(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def write(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...


class LocalRoot(Root):
    def __init__(self, folder: Path, *, as_url: bool = False) -> None:
        super().__init__(f"file://{folder}" if as_url else str(folder))
        self.folder = folder

    def files(self) -> list[str]:
        return sorted(path.relative_to(self.folder).as_posix() for path in self.folder.rglob("*") if path.is_file())

    def read(self, key: str) -> bytes:
        return (self.folder / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        (self.folder / key).write_bytes(data)

    def delete(self, key: str) -> None:
        (self.folder / key).unlink()


class MemoryRoot(Root):
    def __init__(self) -> None:
        self.base = f"/genome-test-{uuid.uuid4().hex}"
        super().__init__(f"memory://{self.base}")
        self.fs = fsspec.filesystem("memory")

    def files(self) -> list[str]:
        return sorted(path.removeprefix(f"{self.base}/") for path in self.fs.find(self.base))

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.base}/{key}"))

    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.base}/{key}", data)

    def delete(self, key: str) -> None:
        self.fs.rm(f"{self.base}/{key}")

    def clear(self) -> None:
        self.fs.rm(self.base, recursive=True)


class S3Root(Root):
    def __init__(self, client: Any, endpoint: str, bucket: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, "artifacts/genome"
        super().__init__(f"s3://{bucket}/{self.prefix}", {"endpoint_url": endpoint, **CREDENTIALS})

    def files(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/")
        return sorted(item["Key"].removeprefix(f"{self.prefix}/") for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")


@pytest.fixture(params=["local", "file-url", "memory", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Root]:
    if request.param == "s3":
        yield S3Root(*(request.getfixturevalue(name) for name in ("s3_client", "s3_endpoint", "bucket")))
    elif request.param == "memory":
        memory = MemoryRoot()
        yield memory
        memory.clear()
    else:
        yield LocalRoot(tmp_path / "artifacts", as_url=request.param == "file-url")


def damaged(data: bytes) -> bytes:
    """The same number of bytes with one of them flipped, as a bad sector or a partial overwrite leaves it."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


PAYLOAD = b"model weights " * 1000


def test_put_then_get_round_trips_under_the_content_address(root: Root) -> None:
    store = root.open()
    stored = store.put(io.BytesIO(PAYLOAD))
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    assert stored.sha256 == sha256
    assert stored.size == len(PAYLOAD)
    assert stored.key == f"sha256/{sha256[:2]}/{sha256}"
    assert store.get(stored.key, stored.sha256, owner="model version 1") == PAYLOAD
    assert root.files() == [stored.key]
    assert root.read(stored.key) == PAYLOAD


def test_a_new_store_on_the_same_root_reads_what_another_wrote(root: Root) -> None:
    stored = root.open().put(io.BytesIO(PAYLOAD))
    assert root.open().get(stored.key, stored.sha256, owner="model version 1") == PAYLOAD


def test_identical_content_is_stored_once(root: Root) -> None:
    store = root.open()
    first = store.put(io.BytesIO(PAYLOAD))
    second = store.put(io.BytesIO(PAYLOAD))
    other = store.put(io.BytesIO(b"other weights"))
    assert second == first
    assert other.key != first.key
    assert root.files() == sorted([first.key, other.key])


def test_empty_content_is_a_valid_blob(root: Root) -> None:
    store = root.open()
    stored = store.put(io.BytesIO(b""))
    assert stored.size == 0
    assert store.get(stored.key, hashlib.sha256(b"").hexdigest(), owner="model version 1") == b""


def test_max_bytes_raises_payload_too_large_and_leaves_no_temporary_file(root: Root) -> None:
    store = root.open()
    big = bytes(3 * 1024 * 1024)  # several read chunks, so the limit trips partway through the copy
    with pytest.raises(PayloadTooLarge, match="limit of 2097152 bytes") as caught:
        store.put(io.BytesIO(big), max_bytes=2 * 1024 * 1024)
    assert caught.value.field == "artifact"
    assert caught.value.status == 413
    assert root.files() == []
    exact = store.put(io.BytesIO(PAYLOAD), max_bytes=len(PAYLOAD))
    assert root.files() == [exact.key]


def test_corrupted_blob_raises_artifact_corrupt_naming_its_owner(root: Root) -> None:
    store = root.open()
    stored = store.put(io.BytesIO(PAYLOAD))
    root.write(stored.key, damaged(PAYLOAD))
    with pytest.raises(ArtifactCorrupt, match=f"model version abc123 is corrupt.*{stored.sha256}"):
        store.get(stored.key, stored.sha256, owner="model version abc123")


def test_missing_blob_raises_artifact_corrupt_naming_its_owner(root: Root) -> None:
    store = root.open()
    stored = store.put(io.BytesIO(PAYLOAD))
    root.delete(stored.key)
    with pytest.raises(ArtifactCorrupt, match=f"model version abc123 is missing.*{stored.key}"):
        store.get(stored.key, stored.sha256, owner="model version abc123")


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_storing_the_same_content_again_repairs_a_damaged_blob(root: Root, damage: str) -> None:
    store = root.open()
    stored = store.put(io.BytesIO(PAYLOAD))
    if damage == "corrupt":
        root.write(stored.key, damaged(PAYLOAD))
    else:
        root.delete(stored.key)
    assert store.put(io.BytesIO(PAYLOAD)) == stored
    assert store.get(stored.key, stored.sha256, owner="model version 1") == PAYLOAD
    assert root.files() == [stored.key]


def test_only_stale_temporary_files_are_removed(root: Root) -> None:
    """A write that died leaves tmp/<id>; one in progress on another server sharing the root must survive."""
    store = root.open()
    kept = store.put(io.BytesIO(PAYLOAD))
    root.write("tmp/" + "d" * 32, b"half a model")
    assert store.remove_stale_temporaries() == []  # just written: maybe a write in progress elsewhere
    assert "tmp/" + "d" * 32 in root.files()
    time.sleep(1.1)  # S3 keeps modification times to the second
    assert len(store.remove_stale_temporaries(older_than=1.0)) == 1
    assert root.files() == [kept.key]
    assert store.remove_stale_temporaries(older_than=0) == []


def test_memory_root_without_a_path() -> None:
    store = ArtifactStore("memory://")
    payload = uuid.uuid4().bytes
    stored = store.put(io.BytesIO(payload))
    memory = fsspec.filesystem("memory")
    try:
        assert memory.cat_file(f"/{stored.key}") == payload
        assert store.get(stored.key, stored.sha256, owner="model version 1") == payload
    finally:
        memory.rm(f"/{stored.key}")


# Through a live server: S3 as the artifact root, and damaged blobs answered as errors, not crashes.


def test_server_keeps_artifacts_in_s3(
    make_server: Callable[..., Any], s3_client: Any, s3_endpoint: str, bucket: str
) -> None:
    server = make_server(
        "sqlite",
        artifact_root=f"s3://{bucket}/models",
        artifact_options={"endpoint_url": s3_endpoint, **CREDENTIALS},
    )
    with server.store() as store:
        record = store.save_model(GenomeEstimator(MODEL, feature_names=[f"x{i}" for i in range(10)]), META)
        key = f"models/{record['artifact']['ref']}"
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == record["artifact"]["sha256"]
        assert len(body) == record["artifact"]["size"]
        loaded = store.load_model(record["id"])
        np.testing.assert_array_equal(loaded.estimator.predict(X), MODEL.predict(X))
        assert loaded.feature_names == [f"x{i}" for i in range(10)]

        again = store.save_model(GenomeEstimator(MODEL, feature_names=[f"x{i}" for i in range(10)]), META)
        assert again["artifact"] == record["artifact"]
        listing = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
        assert [item["Key"] for item in listing] == [key]  # one blob, no temporary files left

        s3_client.put_object(Bucket=bucket, Key=key, Body=damaged(body))
        with pytest.raises(ArtifactCorrupt, match=record["id"]):
            store.load_model(record["id"])


def blob_path(server: Any, record: dict[str, Any]) -> Path:
    return Path(server.settings.resolved_artifact_root) / record["artifact"]["ref"]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_damaged_blob_is_an_error_envelope_naming_the_version(server: Any, store: ModelStore, damage: str) -> None:
    record = store.save_model(GenomeEstimator(MODEL), META)
    path = blob_path(server, record)
    if damage == "corrupt":
        path.write_bytes(damaged(path.read_bytes()))
    else:
        path.unlink()

    with pytest.raises(ArtifactCorrupt, match=f"model version {record['id']}") as caught:
        store.load_model(record["id"])
    assert damage in str(caught.value)
    with pytest.raises(ArtifactCorrupt, match=record["id"]):
        store.load_model(application=META["application"], canonical_name=META["canonicalName"])

    response = server.http.get(f"/v1.0/genome/modelstore/models/{record['id']}/artifact")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 500
    assert error["type"] == "ArtifactCorrupt"
    assert record["id"] in error["message"]
    assert "/diabetes/linear v1" in error["message"]
    # The record itself is still readable, and the server still serves other requests.
    assert store.get_model(record["id"]) == record


def test_saving_the_model_again_repairs_its_damaged_blob(server: Any, store: ModelStore) -> None:
    first = store.save_model(GenomeEstimator(MODEL), META)
    path = blob_path(server, first)
    path.write_bytes(damaged(path.read_bytes()))
    second = store.save_model(GenomeEstimator(MODEL), META)
    assert second["artifact"] == first["artifact"]
    np.testing.assert_array_equal(store.load_model(first["id"]).estimator.predict(X), MODEL.predict(X))


def test_a_server_start_removes_temporary_files_left_by_a_crash(
    make_server: Callable[..., Any], tmp_path: Path
) -> None:
    folder = tmp_path / "shared-artifacts" / "tmp"
    folder.mkdir(parents=True)
    crashed, writing = folder / ("c" * 32), folder / ("w" * 32)
    crashed.write_bytes(b"half a model")
    an_hour_ago = time.time() - 3600
    os.utime(crashed, (an_hour_ago, an_hour_ago))
    writing.write_bytes(b"a model being written by another server on the same root")
    server = make_server("sqlite", artifact_root=str(tmp_path / "shared-artifacts"))
    assert not crashed.exists()
    assert writing.exists()
    with server.store() as store:
        record = store.save_model(GenomeEstimator(MODEL), META)
        assert store.load_model(record["id"]).estimator.predict(X[:1]) == pytest.approx(MODEL.predict(X[:1]))

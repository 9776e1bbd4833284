"""The Kubernetes manifests: each overlay rendered offline by ``kubectl kustomize``, every object validated against
the Kubernetes schemas (kubernetes-validate bundles them: no cluster, no network), the dask-kubernetes operator's
DaskCluster checked through the pod and service specs it holds, and the settings read as the server reads them.

``kubectl`` comes with this kind of machine; where it is missing the rendering tests skip, except in CI, which must
run them. (Debian's kubernetes-client is 1.20, whose kustomize v2 cannot read a base listed under ``resources``.)
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from genome.config import Settings
from genome.server.app import API_PREFIX

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("minikube", "cloud")
# The oldest Kubernetes the manifests are meant for, and the newest the validator knows.
VERSIONS = ("1.27", kubernetes_validate.latest_version())
# Variables of the SDK and of steps, not of the server: they may be named in comments.
STEP_VARIABLES = {"GENOME_URL", "GENOME_TOKEN"}
SETTINGS = {f"GENOME_{name.upper()}" for name in Settings.model_fields}


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        message = "kubectl is not installed: the Kubernetes manifests cannot be rendered"
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the manifests: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / request.param)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr.lower(), result.stderr
    return request.param, [document for document in yaml.safe_load_all(result.stdout) if document]


def objects(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = objects(documents, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def validate(document: dict[str, Any]) -> None:
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            raise AssertionError(
                f"{document['kind']}/{document['metadata']['name']} against Kubernetes {version}: {where}: "
                f"{error.message}"
            ) from None


def containers(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from document["spec"]["template"]["spec"]["containers"]


def test_every_object_validates_against_the_kubernetes_schemas(rendered) -> None:
    overlay, documents = rendered
    kinds = {document["kind"] for document in documents}
    expected = {"Namespace", "ConfigMap", "Deployment", "Service", "Ingress", "PodDisruptionBudget", "DaskCluster"}
    assert kinds == expected | ({"Secret"} if overlay == "minikube" else set())
    for document in documents:
        assert document["metadata"].get("namespace", "genome") == "genome"
        if document["kind"] != "DaskCluster":
            validate(document)


def test_the_validator_is_strict() -> None:
    """A misspelt field fails, so a passing manifest has none."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    validate(pod)
    pod["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/", "port": 80}}
    with pytest.raises(AssertionError, match="readinesProbe"):
        validate(pod)


def test_dask_cluster_holds_valid_pod_and_service_specs(rendered) -> None:
    _, documents = rendered
    cluster = one(documents, "DaskCluster")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    name, spec = cluster["metadata"]["name"], cluster["spec"]
    assert set(spec) == {"worker", "scheduler"}
    assert isinstance(spec["worker"]["replicas"], int) and spec["worker"]["replicas"] >= 1
    for role in ("worker", "scheduler"):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-{role}"}, "spec": spec[role]["spec"]}
        validate(pod)
        assert spec[role]["spec"]["securityContext"]["runAsNonRoot"] is True
    service = spec["scheduler"]["service"]
    validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-scheduler"}, "spec": service})
    assert service["selector"] == {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    (scheduler,) = spec["scheduler"]["spec"]["containers"]
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    port = int(scheduler["args"][scheduler["args"].index("--port") + 1])
    assert {"name": "tcp-comm", "containerPort": port, "protocol": "TCP"} in scheduler["ports"]
    (worker,) = spec["worker"]["spec"]["containers"]
    assert worker["args"][:2] == ["dask", "worker"]
    assert not any(item["name"].startswith("GENOME_") for item in worker.get("env", [])), "no server settings"


def test_server_deployment_probes_resources_and_unprivileged(rendered) -> None:
    _, documents = rendered
    deployment = one(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = containers(deployment)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": f"{API_PREFIX}/healthz", "port": "http"}, probe
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    image = container["image"]
    cluster = one(documents, "DaskCluster")
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0]["image"] == image, "one image for both"
    disruption = one(documents, "PodDisruptionBudget")
    assert disruption["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_settings_come_from_a_config_map_and_a_secret(rendered, read_settings) -> None:
    overlay, documents = rendered
    deployment = one(documents, "Deployment")
    (container,) = containers(deployment)
    sources = container["envFrom"]
    config = one(documents, "ConfigMap")
    assert sources[0] == {"configMapRef": {"name": config["metadata"]["name"]}}
    secret_name = sources[1]["secretRef"]["name"]
    environment = dict(config["data"])
    if overlay == "minikube":
        secret = one(documents, "Secret")
        assert secret_name == secret["metadata"]["name"]
        decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        assert "change-me" in decoded["GENOME_ADMIN_PASSWORD"], "placeholders, not secrets"
        assert not set(decoded) & set(environment)
        environment.update(decoded)
    else:
        assert secret_name == "genome-secrets", "the cloud overlay expects an existing Secret"
        assert not objects(documents, "Secret")
        environment["GENOME_DATABASE_URL"] = "postgresql+psycopg://genome:secret@db.internal:5432/genome"
    assert not any(name.startswith("GENOME_") for item in container.get("env", []) for name in [item["name"]])
    settings = read_settings(environment, f"the {overlay} overlay")
    assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")
    assert settings.artifact_root and settings.artifact_root.startswith("s3://")
    assert settings.executor == "dask"
    cluster = one(documents, "DaskCluster")
    scheduler = urlsplit(settings.dask_scheduler)
    service_ports = {port["name"]: port["port"] for port in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert scheduler.hostname == f"{cluster['metadata']['name']}-scheduler", "the Service the operator makes"
    assert scheduler.port == service_ports["tcp-comm"]
    # Steps run in the Dask workers' pods: their GENOME_URL must be the Service, not the replica's loopback.
    service = one(documents, "Service")
    public = urlsplit(settings.resolved_public_url)
    assert public.hostname == service["metadata"]["name"]
    assert public.port == next(port["port"] for port in service["spec"]["ports"] if port["name"] == "http")
    assert settings.port == container["ports"][0]["containerPort"]
    assert environment["FORWARDED_ALLOW_IPS"] not in ("", "*")


def test_ingress_is_the_gateway(rendered, read_settings) -> None:
    _, documents = rendered
    ingress = one(documents, "Ingress")
    service = one(documents, "Service")
    backends = [path["backend"]["service"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert backends == [{"name": service["metadata"]["name"], "port": {"name": "http"}}]
    annotations = ingress["metadata"]["annotations"]
    config = one(documents, "ConfigMap")["data"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == int(config["GENOME_MAX_REQUEST_BYTES"])
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_every_genome_variable_named_in_deploy_exists() -> None:
    """Manifests, compose file, gateway and Dockerfiles, comments included: a GENOME_* name is a setting of
    genome.config.Settings (or a step's GENOME_URL and GENOME_TOKEN)."""
    files = [path for path in (ROOT / "deploy").rglob("*") if path.is_file()]
    files += list((ROOT / "examples" / "images").glob("*.Dockerfile"))
    for path in files:
        for name in set(re.findall(r"\bGENOME_[A-Z0-9_]*[A-Z0-9]", path.read_text())):
            assert name in SETTINGS | STEP_VARIABLES, f"{path.relative_to(ROOT)} names {name}, which is no setting"

"""deploy/compose.yaml and its gateway's nginx.conf, read offline: the topology, the images, the health checks, and
settings that agree with each other and with genome.config.Settings. ``docker compose config`` checks the file
too where the compose plugin is installed (it needs no engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from genome.server.app import API_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REPLICAS = ("genome-1", "genome-2")
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def secrets() -> dict[str, str]:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """``${NAME}``, ``${NAME:?message}`` and ``${NAME:-default}`` filled in, as docker compose fills them."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        if name in variables:
            return variables[name]
        assert kind and "-" in kind, f"${{{name}}} is used but deploy/env.example does not define it"
        return default

    return _VARIABLE.sub(fill, value).replace("$$", "$")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, secrets())


@pytest.fixture(scope="module")
def nginx() -> str:
    return "\n".join(line.split("#", 1)[0] for line in (DEPLOY / "nginx.conf").read_text().splitlines())


def directive(block: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", block, flags=re.MULTILINE)


def block_of(config: str, opening: str) -> str:
    """The text between ``opening {`` and its closing brace."""
    start = config.index(opening)
    depth, index = 0, config.index("{", start)
    for position in range(index, len(config)):
        depth += {"{": 1, "}": -1}.get(config[position], 0)
        if depth == 0:
            return config[index + 1 : position]
    raise AssertionError(f"unbalanced braces after {opening!r}")


def size_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text.strip()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** {"": 0, "k": 1, "m": 2, "g": 3}[unit.lower()]


def test_topology_images_and_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"gateway", *REPLICAS, "postgres", "minio", "dask-scheduler", "dask-worker"}
    makefile = (ROOT / "Makefile").read_text()
    assert "IMAGE_TAG ?= local" in makefile
    for name in (*REPLICAS, "dask-scheduler"):
        assert services[name]["image"] == "genome-server:local"
        assert "-t genome-server:$(IMAGE_TAG)" in makefile
    assert services["dask-worker"]["image"] == "ensemble-training:local.3"
    assert "-t ensemble-training:local.3" in makefile
    for name, service in services.items():
        check = service.get("healthcheck", {}).get("test")
        assert check and check[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services and condition["condition"].startswith("service_"), (name, needed)
    for name in REPLICAS:
        assert f"{API_PREFIX}/healthz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["ports"] == ["8080:8080"]


def test_secrets_come_from_an_uncommitted_env_file(raw: dict[str, Any]) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    used = {match.group(1) for match in _VARIABLE.finditer(text)}
    assert used == set(secrets()), "every variable compose.yaml reads is in deploy/env.example, and only those"
    for name in used:  # required: compose refuses to start without them
        assert re.search(rf"\$\{{{name}:\?", text), name
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "deploy/.env must be in .gitignore"
    for name in REPLICAS:
        environment = raw["services"][name]["environment"]
        assert environment["GENOME_ADMIN_PASSWORD"].startswith("${")
        assert "${POSTGRES_PASSWORD" in environment["GENOME_DATABASE_URL"]


def test_replica_settings_are_settings_and_agree_with_the_other_services(
    compose: dict[str, Any], nginx: str, read_settings
) -> None:
    services = compose["services"]
    for name in REPLICAS:
        environment = services[name]["environment"]
        settings = read_settings(environment, f"compose.yaml's {name}")
        assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")
        assert urlsplit(settings.database_url).hostname == "postgres"
        assert settings.artifact_root and settings.artifact_root.startswith("s3://")
        assert urlsplit(settings.artifact_options["endpoint_url"]).hostname == "minio"
        assert settings.executor == "dask"
        scheduler = urlsplit(settings.dask_scheduler)
        command = services[scheduler.hostname]["command"]
        assert command[:2] == ["dask", "scheduler"] and command[command.index("--port") + 1] == str(scheduler.port)
        # Steps run on the Dask workers, in other containers: their GENOME_URL must name the gateway, not loopback.
        public = urlsplit(settings.resolved_public_url)
        assert public.hostname == "gateway" and str(public.port) in directive(nginx, "listen")
        assert settings.max_request_bytes == size_bytes(directive(nginx, "client_max_body_size")[0])
        gateway_address = services["gateway"]["networks"]["genome"]["ipv4_address"]
        assert environment["FORWARDED_ALLOW_IPS"] == gateway_address
    assert services["dask-worker"]["command"][:3] == ["dask", "worker", settings.dask_scheduler]


def test_gateway_balances_the_replicas_and_passes_what_genome_needs(nginx: str, read_settings) -> None:
    upstream = block_of(nginx, "upstream genome")
    servers = [entry.split()[0] for entry in directive(upstream, "server")]
    port = read_settings({}, "defaults").port
    assert servers == [f"{name}:{port}" for name in REPLICAS]
    server = block_of(nginx, "server {")
    headers = {value.split()[0]: value.split(None, 1)[1] for value in directive(server, "proxy_set_header")}
    assert headers["Host"] == "$http_host"
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert "proxy_hide_header" not in nginx and "proxy_cookie" not in nginx, "cookies pass untouched"
    assert directive(server, "proxy_request_buffering") == ["off"]
    assert "error" in directive(server, "proxy_next_upstream")[0]
    logs = block_of(nginx, "location ~ /attempts/[0-9]+/log(/|$)")
    assert directive(logs, "proxy_buffering") == ["off"]
    assert int(directive(logs, "proxy_read_timeout")[0].rstrip("s")) >= 3600
    for route in (
        f"{API_PREFIX}/compute/runs/r1/steps/step-1/attempts/2/log",
        f"{API_PREFIX}/compute/runs/r1/steps/step-1/attempts/2/log/download",
        f"{API_PREFIX}/compute/runs/r1/steps/step-1/attempts/2/log/search",
    ):
        assert re.search(r"/attempts/[0-9]+/log(/|$)", route), route


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_compose_accepts_the_file() -> None:
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        ["docker", "compose", "--env-file", "env.example", "-f", "compose.yaml", "config", "--quiet"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr

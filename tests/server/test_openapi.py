"""The API's shape: OpenAPI served under the prefix, and every route but health behind authentication."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from genome.config import Settings
from genome.errors import Unauthenticated
from genome.server.app import API_PREFIX, create_app
from genome.server.deps import authenticate

PUBLIC = {f"{API_PREFIX}/healthz"}


def _refuse() -> None:
    raise Unauthenticated("no credential")


def test_every_route_but_health_goes_through_authentication(tmp_path, serve_app) -> None:
    """Make the authentication seam refuse everyone, then call every operation the OpenAPI lists."""
    settings = Settings(home=tmp_path)
    app: FastAPI = create_app(settings)
    app.dependency_overrides[authenticate] = _refuse
    server = serve_app(settings, app)
    with httpx.Client(base_url=server.url) as client:
        paths = client.get(f"{API_PREFIX}/openapi.json").json()["paths"]
        operations = [(method, path) for path, item in paths.items() for method in item]
        assert len(operations) >= 10
        for method, path in operations:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            status = client.request(method.upper(), concrete).status_code
            if path in PUBLIC:
                assert status == 200, path
            else:
                assert status == 401, f"{method.upper()} {path} answered {status} without a credential"


def test_openapi_document_is_served_and_lists_the_model_store(server) -> None:
    document = httpx.get(f"{server.url}{API_PREFIX}/openapi.json").json()
    paths = document["paths"]
    assert f"{API_PREFIX}/modelstore/models" in paths
    assert f"{API_PREFIX}/modelstore/search" in paths
    assert all(path.startswith(API_PREFIX) for path in paths)
    assert httpx.get(f"{server.url}{API_PREFIX}/docs").status_code == 200


def test_health(server) -> None:
    body = httpx.get(f"{server.url}{API_PREFIX}/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")

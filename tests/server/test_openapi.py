"""The API's shape: OpenAPI served under the prefix, and every route but health and login needs a credential."""

from __future__ import annotations

import re

from genome.server.app import API_PREFIX

PUBLIC = {f"{API_PREFIX}/healthz", f"{API_PREFIX}/auth/login"}


def test_every_route_but_health_and_login_refuses_anonymous_callers(server) -> None:
    """Walks every operation in the OpenAPI document, so a route added unprotected fails here."""
    anonymous = server.client(None)
    paths = anonymous.get(f"{API_PREFIX}/openapi.json").json()["paths"]
    operations = [(method, path) for path, item in paths.items() for method in item]
    assert len(operations) >= 20
    for method, path in operations:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        status = anonymous.request(method.upper(), concrete).status_code
        if path in PUBLIC:
            assert status != 401, path
        else:
            assert status == 401, f"{method.upper()} {path} answered {status} without a credential"


def test_openapi_document_is_served_and_lists_the_model_store(server) -> None:
    paths = server.http.get(f"{API_PREFIX}/openapi.json").json()["paths"]
    assert f"{API_PREFIX}/modelstore/models" in paths
    assert f"{API_PREFIX}/modelstore/search" in paths
    assert all(path.startswith(API_PREFIX) for path in paths)
    assert server.http.get(f"{API_PREFIX}/docs").status_code == 200


def test_health(server) -> None:
    body = server.client(None).get(f"{API_PREFIX}/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")

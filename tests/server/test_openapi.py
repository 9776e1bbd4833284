"""The API's shape: OpenAPI served under the prefix, and every route but health and login needs a credential, the
API's own description included."""

from __future__ import annotations

import re

from genome.server.app import API_PREFIX

PUBLIC = {f"{API_PREFIX}/healthz", f"{API_PREFIX}/auth/login"}


def test_every_route_but_health_and_login_refuses_anonymous_callers(server) -> None:
    """Walks every operation in the OpenAPI document, so a route added unprotected fails here."""
    anonymous = server.client(None)
    paths = server.http.get(f"{API_PREFIX}/openapi.json").json()["paths"]
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
    assert not any(path.endswith(("/openapi.json", "/docs")) for path in paths)
    page = server.http.get(f"{API_PREFIX}/docs")
    assert page.status_code == 200 and f"url: '{API_PREFIX}/openapi.json'" in page.text


def test_the_api_description_needs_a_credential_a_browser_session_will_do(server) -> None:
    anonymous = server.client(None)
    for path in ("openapi.json", "docs"):
        response = anonymous.get(f"{API_PREFIX}/{path}")
        assert response.status_code == 401, f"{path} answered {response.status_code} without a credential"
        assert response.json()["error"]["status"] == 401
        assert server.client("not-a-token").get(f"{API_PREFIX}/{path}").status_code == 401
    for path in ("redoc", "docs/oauth2-redirect"):
        assert anonymous.get(f"{API_PREFIX}/{path}").status_code in (401, 404)
    browser = server.client(None)
    login = browser.post(f"{API_PREFIX}/auth/login", json={"username": "admin", "password": server.admin_password})
    assert login.status_code == 200, login.text
    assert browser.get(f"{API_PREFIX}/docs").status_code == 200
    assert "paths" in browser.get(f"{API_PREFIX}/openapi.json").json()


def test_health(server) -> None:
    body = server.client(None).get(f"{API_PREFIX}/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")

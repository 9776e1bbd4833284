"""Signing in and out through the login form, the header of a signed-in page, and the seed's address."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from live import ADMIN_PASSWORD

PASSWORD = "dana-password-1"


@pytest.fixture(scope="module", autouse=True)
def dana(live_server) -> str:
    live_server.accounts().create_user("dana", PASSWORD, {"alpha": "editor", "beta": "viewer"})
    return "dana"


def test_wrong_password_is_refused_on_the_form(ui) -> None:
    ui.goto("/login", "empty-form")
    ui.page.get_by_label("Username").fill("dana")
    ui.page.get_by_label("Password").fill("not-the-password")
    ui.submit(ui.page.get_by_role("button", name="Log in"), "refused", status=401)

    error = ui.page.get_by_test_id("login-error")
    assert error.is_visible()
    assert "wrong username or password" in error.inner_text()
    assert ui.path() == "/login"
    # the form is drawn again, with the name kept and the password not
    assert ui.page.get_by_label("Username").input_value() == "dana"
    assert ui.page.get_by_label("Password").input_value() == ""
    assert ui.page.get_by_test_id("user").count() == 0


def test_login_shows_the_user_and_roles_and_logout_ends_the_session(ui) -> None:
    ui.login("dana", PASSWORD, step="home")
    assert ui.path() == "/"
    assert ui.page.locator("h1").inner_text() == "Model Store"
    assert ui.page.get_by_test_id("user").inner_text() == "dana"
    roles = ui.page.locator("header .badge.role").all_inner_texts()
    assert roles == ["alpha: editor", "beta: viewer"]

    ui.goto("/models", "models")
    ui.submit(ui.page.get_by_role("button", name="Log out"), "logged-out")
    assert ui.path() == "/login"
    assert ui.page.get_by_test_id("user").count() == 0

    ui.goto("/models", "models-after-logout")
    parts = urlsplit(ui.page.url)
    assert parts.path == "/login" and parse_qs(parts.query) == {"next": ["/models"]}
    assert ui.page.get_by_role("button", name="Log in").is_visible()


def test_login_returns_to_the_page_asked_for(ui) -> None:
    ui.goto("/models?q=forest", "redirected-to-login")
    assert ui.path().startswith("/login?next=")
    ui.page.get_by_label("Username").fill("admin")
    ui.page.get_by_label("Password").fill(ADMIN_PASSWORD)
    ui.submit(ui.page.get_by_role("button", name="Log in"), "back-on-models")
    assert ui.path() == "/models?q=forest"
    assert ui.page.get_by_label("Keywords").input_value() == "forest"
    assert ui.page.get_by_test_id("user").inner_text() == "admin"
    assert ui.page.locator("header .badge.role").all_inner_texts() == ["all: admin"]


def test_the_seed_address_leads_to_the_ui(ui) -> None:
    ui.goto("/static/index.html", "seed-address-signed-out")
    assert ui.path() == "/login?next=%2F"
    ui.login("dana", PASSWORD, step="home")
    assert ui.path() == "/"
    ui.goto("/static/index.html", "seed-address-signed-in")
    assert ui.path() == "/"
    assert ui.page.locator("h1").inner_text() == "Model Store"


def test_pages_refuse_frames_and_keep_their_address_and_content_to_themselves(live_server) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as browser:
        login = browser.get("/login")
        assert browser.post("/login", data={"username": "dana", "password": PASSWORD, "next": "/"}).status_code == 303
        pages = [login, browser.get("/models"), browser.get("/runs/no-such-run")]
    assert [page.status_code for page in pages] == [200, 200, 404]
    for page in pages:  # the login form, a signed-in page, an error page
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "private, no-cache"

"""The account and administration pages: a token created, copied, used and revoked in a real browser; a password
changed; an admin adding a user, granting a role the user then sees, and removing a user; an application's admin
seeing only their application; readers without the admin role seeing no admin controls; and, over plain HTTP,
CSRF, mistakes named beside their fields, and what an application's admin may change."""

from __future__ import annotations

import re

import httpx
import numpy as np
from sklearn.linear_model import LinearRegression

from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from live import LiveServer

PASSWORD = "a-long-enough-password"
ME = f"{API_PREFIX}/auth/me"


def form_client(server: LiveServer, username: str, password: str = PASSWORD) -> httpx.Client:
    """A client keeping cookies, logged in through the login form."""
    client = server._keep(httpx.Client(base_url=server.url, timeout=60))
    response = client.post("/login", data={"username": username, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return client.cookies["genome_csrf"]


def test_a_token_is_shown_once_copied_used_and_refused_once_revoked(ui, live_server: LiveServer) -> None:
    live_server.accounts().create_user("tess", PASSWORD, {"search": "viewer"})
    ui.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    ui.login("tess", PASSWORD)
    ui.submit(ui.page.get_by_test_id("user"), "account")  # the username in the header leads to the account
    assert ui.path() == "/account"
    ui.page.get_by_label("Name").fill("laptop")
    ui.page.get_by_label("Expires").select_option(label="in 30 days")
    response = ui.submit(ui.page.get_by_role("button", name="Create token"), "token-created", status=201)
    assert response.headers["cache-control"] == "no-store" and ui.path() == "/account/tokens"
    secret = ui.page.get_by_test_id("token-secret").inner_text().strip()
    assert secret.startswith("gnm_")
    ui.page.get_by_role("button", name="Copy").click()
    ui.page.get_by_text("Copied.").wait_for()
    assert ui.page.evaluate("navigator.clipboard.readText()") == secret
    ui.shot("token-copied")

    api = live_server.client(secret)
    assert api.get(ME).json()["username"] == "tess"
    ui.goto("/account", "token-listed")
    assert secret not in ui.page.content()  # shown once, never again
    row = ui.page.locator("tr[data-state=active]", has_text="laptop")
    assert "never" not in row.locator("td").nth(2).inner_text()  # last used: just now

    row.get_by_text("Revoke…").click()
    ui.submit(row.get_by_role("button", name="Revoke laptop"), "token-revoked")
    assert ui.page.locator("tr[data-state=revoked]", has_text="laptop").count() == 1
    assert api.get(ME).status_code == 401


def test_a_password_change_names_a_wrong_current_password_then_the_new_one_logs_in(ui, live_server) -> None:
    live_server.accounts().create_user("pat", PASSWORD, {"search": "viewer"})
    ui.login("pat", PASSWORD)
    ui.goto("/account", "account")
    page = ui.page
    page.get_by_label("Current password", exact=True).fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("pat-new-password-2")
    page.get_by_label("Repeat the new password", exact=True).fill("pat-new-password-2")
    ui.submit(page.get_by_role("button", name="Change password"), "wrong-current-password", status=403)
    current = page.get_by_label("Current password", exact=True)
    assert current.get_attribute("aria-invalid") == "true"
    alert = page.locator("#" + current.get_attribute("aria-describedby"))
    assert alert.get_attribute("role") == "alert" and "the current password is wrong" in alert.inner_text()

    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("pat-new-password-2")
    page.get_by_label("Repeat the new password", exact=True).fill("pat-new-password-2")
    ui.submit(page.get_by_role("button", name="Change password"), "password-changed")
    assert page.get_by_test_id("password-changed").is_visible()
    page.context.clear_cookies()
    ui.login("pat", "pat-new-password-2", step="logged-in-with-new-password")


def test_an_admin_adds_a_user_and_grants_a_role_the_user_then_sees(ui, live_server: LiveServer) -> None:
    model = LinearRegression().fit(np.arange(20.0).reshape(10, 2), np.arange(10.0))
    meta = {"application": "search", "canonicalName": "/ranker", "inputModality": "tabular"}
    live_server.store().save_model(GenomeEstimator(model, modality="tabular"), meta)
    live_server.accounts().create_user("gone", PASSWORD, {"ads": "editor"})
    ui.login_admin()
    page = ui.page
    ui.submit(page.get_by_role("link", name="Users"), "users")
    add = page.get_by_test_id("add-user")

    add.get_by_label("Username").fill("admin")  # taken: the service's 409 is drawn beside the field
    add.get_by_label("Password").fill(PASSWORD)
    ui.submit(add.get_by_role("button", name="Add user"), "add-user-conflict", status=409)
    add = page.get_by_test_id("add-user")
    assert add.get_by_label("Username").input_value() == "admin"  # what was typed stays
    assert add.get_by_label("Username").get_attribute("aria-invalid") == "true"
    assert "already exists" in add.get_by_test_id("add-username-error").inner_text()

    add.get_by_label("Username").fill("uma")
    add.get_by_label("Password").fill(PASSWORD)
    ui.submit(add.get_by_role("button", name="Add user"), "user-added")
    assert ui.path() == "/admin/users/uma" and page.get_by_text("No roles yet").is_visible()
    grant = page.get_by_test_id("grant-role")
    grant.get_by_label("Application").fill("search")
    grant.get_by_label("Role").select_option("viewer")
    ui.submit(grant.get_by_role("button", name="Grant"), "role-granted")
    assert page.locator('tr[data-application="search"]').inner_text().split() == ["search", "viewer", "Remove"]

    ui.goto("/admin/users", "users-with-uma")
    assert "search: viewer" in page.locator('tr[data-user="uma"]').inner_text()
    ui.goto("/admin/users/gone", "user-to-remove")
    page.get_by_text("Remove gone…").click()
    ui.submit(page.get_by_role("button", name="Remove gone"), "user-removed")
    assert ui.path() == "/admin/users" and page.locator('tr[data-user="gone"]').count() == 0
    ui.goto("/admin/users/admin", "self")  # no removing yourself
    assert page.get_by_test_id("remove-user").count() == 0
    page.context.clear_cookies()

    ui.login("uma", PASSWORD, step="uma-logged-in")
    ui.goto("/models", "uma-models")
    assert page.get_by_role("link", name="/ranker").count() >= 1
    assert "search: viewer" in page.locator(".top .roles").inner_text()
    assert page.get_by_role("link", name="Users").count() == 0  # no admin controls for a viewer
    ui.goto("/admin/users", "uma-not-allowed", status=403)
    assert page.get_by_test_id("add-user").count() == 0 and page.get_by_test_id("grant-role").count() == 0


def test_an_application_admin_sees_only_their_application(ui, live_server: LiveServer) -> None:
    accounts = live_server.accounts()
    accounts.create_user("ada", PASSWORD, {"ads": "admin", "search": "viewer"})
    accounts.create_user("ben", PASSWORD, {"ads": "viewer", "payroll": "editor"})
    ui.login("ada", PASSWORD)
    ui.submit(ui.page.get_by_role("link", name="Users"), "users-of-ads")
    page = ui.page
    rows = {row.get_attribute("data-user"): row.inner_text() for row in page.locator("tr[data-user]").all()}
    assert {"ada", "ben"} <= set(rows) and all("ads:" in text for text in rows.values()), rows
    assert "payroll" not in page.locator("main").inner_text()
    assert page.get_by_test_id("add-user").count() == 0
    assert page.get_by_test_id("grant-role").get_by_label("Application").locator("option").all_inner_texts() == ["ads"]
    ui.goto("/admin/users/ben", "ben-as-seen-by-ads-admin")
    assert page.locator("tr[data-application]").count() == 1 and page.get_by_test_id("remove-user").count() == 0


def test_forms_without_their_csrf_token_change_nothing(live_server: LiveServer) -> None:
    client = form_client(live_server, "admin", live_server.admin_password)
    tokens = len(live_server.accounts().list_tokens())
    for path, data in [
        ("/account/tokens", {"name": "forged"}),
        (
            "/account/password",
            {"currentPassword": live_server.admin_password, "password": "x" * 12, "repeat": "x" * 12},
        ),
        ("/admin/users", {"username": "mallory", "password": PASSWORD}),
        ("/admin/roles", {"username": "admin", "application": "ads", "role": "viewer"}),
    ]:
        assert client.post(path, data=data).status_code == 400, path
        forged = client.post(path, data={**data, "csrf": "guessed"})
        assert forged.status_code == 403 and "another site" in forged.text, path
    assert len(live_server.accounts().list_tokens()) == tokens
    assert "mallory" not in [user["username"] for user in live_server.accounts().list_users()]
    assert form_client(live_server, "admin", live_server.admin_password)  # the password did not change


def test_admin_forms_name_the_field_at_fault_and_keep_what_was_typed(live_server: LiveServer) -> None:
    client = form_client(live_server, "admin", live_server.admin_password)
    for data, field in [
        ({"username": "bad name!", "password": PASSWORD}, "username"),
        ({"username": "nina", "password": "short"}, "password"),
        ({"username": "nina", "password": PASSWORD, "application": "x" * 201}, "application"),
    ]:
        page = client.post("/admin/users", data={**data, "csrf": csrf_of(client)})
        assert page.status_code == 400, page.text
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true" aria-describedby="add-{field}-error"', page.text)
        assert f'id="add-{field}-error"' in page.text and 'role="alert"' in page.text
        assert f'value="{data["username"]}"' in page.text
    blank = client.post(
        "/admin/roles", data={"csrf": csrf_of(client), "username": "admin", "application": " ", "role": "viewer"}
    )
    assert blank.status_code == 400 and 'id="grant-application-error"' in blank.text
    unknown = client.post(
        "/admin/roles", data={"csrf": csrf_of(client), "username": "nobody", "application": "ads", "role": "viewer"}
    )
    assert (
        unknown.status_code == 404 and 'id="grant-username-error"' in unknown.text and 'value="nobody"' in unknown.text
    )
    token = client.post("/account/tokens", data={"csrf": csrf_of(client), "name": " ", "expiresInDays": "90"})
    assert token.status_code == 400 and 'id="token-name-error"' in token.text
    mismatch = {"currentPassword": live_server.admin_password, "password": "y" * 12, "repeat": "z" * 12}
    repeat = client.post("/account/password", data={"csrf": csrf_of(client), **mismatch})
    assert repeat.status_code == 400 and 'id="password-repeat-error"' in repeat.text


def test_an_application_admin_manages_only_the_roles_of_their_application(live_server: LiveServer) -> None:
    accounts = live_server.accounts()
    accounts.create_user("sal", PASSWORD, {"search": "admin"})
    accounts.create_user("bea", PASSWORD, {"search": "viewer", "payroll": "editor"})
    accounts.create_user("carl", PASSWORD, {"payroll": "viewer"})
    sal = form_client(live_server, "sal")
    listing = sal.get("/admin/users")
    assert listing.status_code == 200 and 'href="/admin/users"' in listing.text  # the Users link, for sal too
    assert 'data-user="bea"' in listing.text and 'data-user="carl"' not in listing.text
    assert "payroll" not in listing.text  # bea's other role stays private
    assert 'data-testid="add-user"' not in listing.text
    assert re.search(r'<select name="application"[^>]*><option *>search</option></select>', listing.text)

    granted = sal.post(
        "/admin/roles", data={"csrf": csrf_of(sal), "username": "carl", "application": "search", "role": "editor"}
    )
    assert granted.status_code == 303 and granted.headers["location"] == "/admin/users/carl"
    carl = sal.get("/admin/users/carl").text
    assert 'data-application="search"' in carl and "payroll" not in carl and 'data-testid="remove-user"' not in carl
    roles = {user["username"]: user["roles"] for user in accounts.list_users()}
    assert roles["carl"] == {"payroll": "viewer", "search": "editor"}
    forged = sal.post(
        "/admin/roles", data={"csrf": csrf_of(sal), "username": "carl", "application": "payroll", "role": "admin"}
    )
    assert forged.status_code == 403
    assert sal.post("/admin/users/carl/delete", data={"csrf": csrf_of(sal)}).status_code == 403
    removed = sal.post("/admin/users/bea/roles/remove", data={"csrf": csrf_of(sal), "application": "search"})
    assert removed.status_code == 303
    assert next(user["roles"] for user in accounts.list_users() if user["username"] == "bea") == {"payroll": "editor"}

    bea = form_client(live_server, "bea")
    assert 'href="/admin/users"' not in bea.get("/").text
    assert bea.get("/admin/users").status_code == 403 and bea.get("/admin/users/carl").status_code == 403


def test_without_authentication_the_account_page_says_there_are_no_accounts(make_server) -> None:
    server = make_server("sqlite", no_auth=True)
    page = httpx.get(f"{server.url}/account", timeout=30)
    assert page.status_code == 200 and 'data-testid="no-accounts"' in page.text
    assert "Create a token" not in page.text and 'name="currentPassword"' not in page.text

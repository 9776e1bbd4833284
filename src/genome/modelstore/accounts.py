"""``Accounts``: users, roles and API tokens of a Genome server, for the CLI and admin scripts."""

from __future__ import annotations

from typing import Any

from genome.modelstore._http import ApiClient

__all__ = ["Accounts"]


class Accounts(ApiClient):
    """Manage who may do what. Authenticate with a token (``GENOME_TOKEN``) or with ``login``.

    Example:
        >>> with Accounts("http://127.0.0.1:8080") as accounts:  # doctest: +SKIP
        ...     accounts.login("admin", "the password printed at first start")
        ...     token = accounts.create_token("laptop")["token"]
    """

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Open a session with a password; later calls on this client use it."""
        session: dict[str, Any] = self._request(
            "POST", "/auth/login", json={"username": username, "password": password}
        ).json()
        self._headers.pop("Authorization", None)
        self._headers["X-CSRF-Token"] = session["csrfToken"]
        return session

    def logout(self) -> None:
        self._request("POST", "/auth/logout")

    def me(self) -> dict[str, Any]:
        """Who this client acts as, and its roles."""
        me: dict[str, Any] = self._request("GET", "/auth/me").json()
        return me

    def create_user(self, username: str, password: str, roles: dict[str, str] | None = None) -> dict[str, Any]:
        """Add a user; ``roles`` maps application (or ``*``) to ``viewer``, ``editor`` or ``admin``."""
        body = {"username": username, "password": password, "roles": roles or {}}
        user: dict[str, Any] = self._request("POST", "/auth/users", json=body).json()
        return user

    def list_users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self._request("GET", "/auth/users").json()
        return users

    def set_role(self, username: str, application: str, role: str) -> dict[str, Any]:
        user: dict[str, Any] = self._request(
            "PUT", f"/auth/users/{username}/roles/{application}", json={"role": role}
        ).json()
        return user

    def remove_role(self, username: str, application: str) -> dict[str, Any]:
        user: dict[str, Any] = self._request("DELETE", f"/auth/users/{username}/roles/{application}").json()
        return user

    def delete_user(self, username: str) -> None:
        self._request("DELETE", f"/auth/users/{username}")

    def set_password(self, username: str, password: str, current_password: str | None = None) -> None:
        body = {"password": password, "currentPassword": current_password}
        self._request("PUT", f"/auth/users/{username}/password", json=body)

    def create_token(
        self, name: str, *, expires_in_days: int | None = 90, username: str | None = None
    ) -> dict[str, Any]:
        """A new API token; its secret (``["token"]``) is shown only in this answer."""
        body = {"name": name, "expiresInDays": expires_in_days, "username": username}
        token: dict[str, Any] = self._request("POST", "/auth/tokens", json=body).json()
        return token

    def list_tokens(self, username: str | None = None, *, all_users: bool = False) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"all": all_users}
        if username:
            params["username"] = username
        tokens: list[dict[str, Any]] = self._request("GET", "/auth/tokens", params=params).json()
        return tokens

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        token: dict[str, Any] = self._request("DELETE", f"/auth/tokens/{token_id}").json()
        return token

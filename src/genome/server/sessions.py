"""Browser session cookies, set the same way by the API's login and the UI's."""

from __future__ import annotations

from fastapi import Request, Response

from genome.auth.service import LoginPolicy, NewSession
from genome.server.deps import CSRF_COOKIE, SESSION_COOKIE

__all__ = ["clear_session_cookies", "set_session_cookies"]


def set_session_cookies(request: Request, response: Response, opened: NewSession, policy: LoginPolicy) -> None:
    """The session itself in an HttpOnly cookie; its CSRF token in one that pages read and send back on writes.
    Both ``SameSite=Strict``, and ``Secure`` behind HTTPS."""
    secure = request.url.scheme == "https"
    max_age = int(policy.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE, opened.cookie, max_age=max_age, httponly=True, secure=secure, samesite="strict", path="/"
    )
    response.set_cookie(CSRF_COOKIE, opened.csrf_token, max_age=max_age, secure=secure, samesite="strict", path="/")


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")

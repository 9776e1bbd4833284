"""Signing in and out of the UI: the API's login service, with its errors drawn on the form."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from genome.auth import service as auth_service
from genome.errors import TooManyRequests, Unauthenticated
from genome.server.deps import Db, LoginPolicyDep, client_address
from genome.server.sessions import clear_session_cookies, set_session_cookies
from genome.ui.render import PageRoute, check_csrf, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _local(target: str | None) -> str:
    """Where to go after login: a path of this site only, never another site's address."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=_local(next), username="", error=None)


@router.post("/login")
def login(
    request: Request,
    db: Db,
    policy: LoginPolicyDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        opened = auth_service.login(db, username, password, client=client_address(request), policy=policy)
    except (Unauthenticated, TooManyRequests) as exc:
        page = render(request, "login.html", status=exc.status, next=_local(next), username=username, error=exc)
        if isinstance(exc, TooManyRequests) and exc.retry_after:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(_local(next), status_code=303)
    set_session_cookies(request, response, opened, policy)
    return response


@router.post("/logout")
def logout(request: Request, db: Db, csrf: Annotated[str, Form()]) -> Response:
    principal = check_csrf(request, csrf)
    auth_service.logout(db, principal)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    return response

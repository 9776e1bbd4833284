"""What every page shares: the templates, the signed-in principal, CSRF on forms, and errors drawn as pages."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from pydantic import ValidationError

from genome.auth import service as auth_service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.errors import GenomeError, InvalidInput, PermissionDenied, Unauthenticated
from genome.server.deps import CSRF_COOKIE, SESSION_COOKIE, authenticate
from genome.server.errors import invalid_from_validation

__all__ = ["PageRoute", "SignedIn", "check_csrf", "day", "render", "url_with"]

log = logging.getLogger("genome.ui")

_HERE = Path(__file__).parent
STATIC = _HERE / "static"


class LoginRequired(Exception):
    """A page was asked for without a session: the reader goes to the login page, and comes back after."""


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _utc(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def _mark(text: str, query: str) -> Markup:
    """``text`` with each occurrence of ``query`` (ignoring case) in a ``<mark>``."""
    if not query:
        return escape(text)
    parts = re.split(f"({re.escape(query)})", text, flags=re.IGNORECASE)
    return Markup("").join(Markup("<mark>%s</mark>") % part if i % 2 else escape(part) for i, part in enumerate(parts))


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        iso=_iso, utc=_utc, number=_number, mark=_mark, tojson_pretty=lambda v: json.dumps(v, indent=2)
    )
    return environment


TEMPLATES = _environment()


def day(value: str | None, field: str, *, end: bool = False) -> int | None:
    """A date from a form (YYYY-MM-DD, the reader's day taken as UTC) as ms since epoch; ``end``: the day after."""
    if not value:
        return None
    try:
        date = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
    except ValueError:
        raise InvalidInput(f"{field} must be a date written YYYY-MM-DD, not {value!r}", field=field) from None
    except OverflowError:  # the day after 9999-12-31
        raise InvalidInput(f"{field} must be a date before 9999-12-31, not {value!r}", field=field) from None
    return int(dt.datetime.combine(date, dt.time(), dt.UTC).timestamp() * 1000)


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one): how links keep the page's state."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            params.append((key, str(item)))
    query = urlencode(params)
    return f"{request.url.path}?{query}" if query else request.url.path


# Every page: never inside another site's frame (its forms could be clicked through a decoy), no address of ours in
# the Referer other sites get, no content sniffing, and no copy kept by shared caches (pages show a user's data).
PAGE_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-cache",
}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    html = TEMPLATES.get_template(template).render(
        request=request,
        principal=principal,
        csrf=request.cookies.get(CSRF_COOKIE, ""),
        url_with=lambda **changes: url_with(request, **changes),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _signed_in(request: Request) -> Principal:
    """The reader, from their session cookie (or an API token, for scripts that fetch pages)."""
    try:
        principal = authenticate(request)
    except Unauthenticated:
        raise LoginRequired() from None
    request.state.principal = principal
    return principal


SignedIn = Annotated[Principal, Depends(_signed_in)]


def check_csrf(request: Request, token: str) -> Principal:
    """The principal behind a form post: its session, and the CSRF token the form carried (a page of ours wrote it;
    another site's form cannot know it)."""
    runtime = request.app.state.runtime
    if runtime.settings.no_auth:
        request.state.principal = LOCAL_ADMIN
        return LOCAL_ADMIN
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired()
    try:
        principal = auth_service.authenticate(runtime.db, cookie, kinds=(auth_service.SESSION,), csrf=token or "")
    except Unauthenticated:
        raise LoginRequired() from None
    except PermissionDenied:
        raise PermissionDenied("this form is stale or came from another site; reload the page and try again") from None
    request.state.principal = principal
    return principal


class PageRoute(APIRoute):
    """A route whose errors are pages: a reader without a session goes to log in, any other error is drawn with
    its status and message, as the API would say it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
            except (RequestValidationError, ValidationError) as exc:
                return _error_page(request, invalid_from_validation(list(exc.errors())))
            except GenomeError as exc:
                if exc.status >= 500:
                    log.error("%s: %s", type(exc).__name__, exc.message)
                return _error_page(request, exc)

        return page


def _error_page(request: Request, error: GenomeError) -> HTMLResponse:
    return render(request, "error.html", status=error.status, error=error)

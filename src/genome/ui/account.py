"""The reader's own account: their API tokens (created, listed, revoked) and their password, through the same
auth services, and so the same rules, as the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from genome.auth import service as auth_service
from genome.auth.principal import LOCAL_ADMIN, Principal
from genome.auth.schemas import PasswordChange, TokenCreate, TokenCreated
from genome.clock import now_ms
from genome.errors import GenomeError, InvalidInput, PermissionDenied
from genome.server.deps import Db
from genome.server.errors import invalid_from_validation
from genome.ui.render import PageRoute, SignedIn, check_csrf, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

EXPIRIES = {"30": "in 30 days", "90": "in 90 days", "365": "in a year", "": "never"}


def _page(
    request: Request,
    db: Db,
    principal: Principal,
    *,
    status: int = 200,
    created: TokenCreated | None = None,
    failed: str = "",
    error: GenomeError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    # Run tokens are minted and revoked by the Sequencer, one per run: listing them would bury the reader's own.
    tokens = [
        token for token in auth_service.list_tokens(db, principal, principal.username) if token.kind == auth_service.API
    ]
    return render(
        request,
        "account.html",
        status=status,
        tokens=tokens,
        created=created,
        failed=failed,
        error=error,
        form={"name": "", "expiresInDays": "90", **(form or {})},
        expiries=EXPIRIES,
        now=now_ms(),
        local=principal is LOCAL_ADMIN,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, db: Db, principal: SignedIn) -> HTMLResponse:
    return _page(request, db, principal)


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    db: Db,
    csrf: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    expiresInDays: Annotated[str, Form()] = "90",
) -> HTMLResponse:
    """A new API token, its secret drawn in this answer only: never in a URL, a redirect or a cache."""
    principal = check_csrf(request, csrf)
    form = {"name": name, "expiresInDays": expiresInDays}
    try:
        body = TokenCreate.model_validate({"name": name, "expiresInDays": expiresInDays or None})
    except ValidationError as exc:
        error = invalid_from_validation(list(exc.errors()))
        return _page(request, db, principal, status=error.status, failed="token", error=error, form=form)
    created = auth_service.create_token(db, principal, body)
    page = _page(request, db, principal, status=201, created=created)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    principal = check_csrf(request, csrf)
    auth_service.revoke_token(db, principal, token_id)
    return RedirectResponse("/account#tokens", status_code=303)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    db: Db,
    csrf: Annotated[str, Form()],
    currentPassword: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    """Change the reader's password (their other sessions end); a mistake is named beside its field."""
    principal = check_csrf(request, csrf)
    try:
        change = PasswordChange(password=password, currentPassword=currentPassword)
        if repeat != password:
            raise InvalidInput("repeat the new password exactly", field="repeat")
        auth_service.set_password(db, principal, principal.username, change.password, change.currentPassword)
    except ValidationError as exc:
        error = invalid_from_validation(list(exc.errors()))
        return _page(request, db, principal, status=error.status, failed="password", error=error)
    except (InvalidInput, PermissionDenied) as exc:
        if exc.field is None:
            raise
        return _page(request, db, principal, status=exc.status, failed="password", error=exc)
    return RedirectResponse("/account?changed=password#password", status_code=303)

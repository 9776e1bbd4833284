"""Users and their roles per application, for admins: a global admin manages everyone, an application's admin
the roles in their applications. The auth services decide (the API's rule); each page shows only the controls
its reader may use, and a mistake is named beside its field."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from genome.auth import service as auth_service
from genome.auth.principal import ROLES, Principal
from genome.auth.schemas import UserCreate
from genome.errors import Conflict, GenomeError, InvalidInput, NotFound
from genome.models import service as models
from genome.server.deps import Db
from genome.server.errors import invalid_from_validation
from genome.ui.render import PageRoute, SignedIn, check_csrf, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_FIXABLE = (InvalidInput, Conflict, NotFound)  # errors naming a field of the form, drawn beside it


def _applications(db: Db, principal: Principal, managed: list[str] | None, roles: list[dict[str, str]]) -> list[str]:
    """The applications to offer in the forms: the reader's own for an application's admin; for a global admin,
    those holding models or roles (any other may still be typed)."""
    if managed is not None:
        return managed
    named = {application for held in roles for application in held} | set(models.applications(db, principal))
    return sorted(named - {"*"})


def _users_page(
    request: Request,
    db: Db,
    principal: Principal,
    *,
    status: int = 200,
    failed: str = "",
    error: GenomeError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    users = auth_service.list_managed_users(db, principal)
    managed = auth_service.managed_applications(principal)
    return render(
        request,
        "admin_users.html",
        status=status,
        users=users,
        managed=managed,
        applications=_applications(db, principal, managed, [user.roles for user in users]),
        roles=ROLES,
        failed=failed,
        error=error,
        form={"username": "", "application": "", "role": "viewer", **(form or {})},
    )


def _user_page(
    request: Request,
    db: Db,
    principal: Principal,
    username: str,
    *,
    status: int = 200,
    error: GenomeError | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    user = auth_service.get_managed_user(db, principal, username)
    managed = auth_service.managed_applications(principal)
    return render(
        request,
        "admin_user.html",
        status=status,
        user=user,
        managed=managed,
        applications=_applications(db, principal, managed, [user.roles]),
        roles=ROLES,
        failed="grant" if error else "",
        error=error,
        form={"application": "", "role": "viewer", **(form or {})},
    )


def _new_user(username: str, password: str, application: str, role: str) -> UserCreate:
    """The add-user form as the API's schema; a bad first role, named ``roles.<application>`` by the schema, is
    named by the form's field, ``application``."""
    roles = {application.strip(): role} if application.strip() else {}
    try:
        return UserCreate.model_validate({"username": username.strip(), "password": password, "roles": roles})
    except ValidationError as exc:
        error = invalid_from_validation(list(exc.errors()))
        field = "application" if (error.field or "").startswith("roles") else error.field
        raise InvalidInput(error.message, field=field) from None


def _user_url(username: str) -> str:
    return f"/admin/users/{quote(username, safe='')}"


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, db: Db, principal: SignedIn) -> HTMLResponse:
    """The users the reader manages, with the roles they manage (403 for a reader who administers nothing)."""
    return _users_page(request, db, principal)


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, db: Db, principal: SignedIn) -> HTMLResponse:
    return _user_page(request, db, principal, username)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    db: Db,
    csrf: Annotated[str, Form()],
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    application: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    """Add a user (global admins), with a first role when an application is given."""
    principal = check_csrf(request, csrf)
    form = {"username": username, "application": application, "role": role}
    try:
        created = auth_service.create_user(db, principal, _new_user(username, password, application, role))
    except _FIXABLE as exc:
        return _users_page(request, db, principal, status=exc.status, failed="add", error=exc, form=form)
    return RedirectResponse(_user_url(created.username), status_code=303)


@router.post("/admin/roles", response_class=HTMLResponse)
def grant_role(
    request: Request,
    db: Db,
    csrf: Annotated[str, Form()],
    username: Annotated[str, Form()] = "",
    application: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Grant a role in an application (or change it), from the users' page or a user's (``back="user"``)."""
    principal = check_csrf(request, csrf)
    form = {"username": username, "application": application, "role": role}
    try:
        auth_service.set_role(db, principal, username.strip(), application.strip(), role)
    except _FIXABLE as exc:
        if back == "user":
            return _user_page(request, db, principal, username, status=exc.status, error=exc, form=form)
        return _users_page(request, db, principal, status=exc.status, failed="grant", error=exc, form=form)
    return RedirectResponse(_user_url(username.strip()), status_code=303)


@router.post("/admin/users/{username}/roles/remove")
def remove_role(
    request: Request, username: str, db: Db, csrf: Annotated[str, Form()], application: Annotated[str, Form()]
) -> RedirectResponse:
    principal = check_csrf(request, csrf)
    auth_service.remove_role(db, principal, username, application)
    return RedirectResponse(_user_url(username), status_code=303)


@router.post("/admin/users/{username}/delete")
def delete_user(request: Request, username: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    """Remove a user (global admins; never yourself), with their tokens and sessions."""
    principal = check_csrf(request, csrf)
    auth_service.delete_user(db, principal, username)
    return RedirectResponse("/admin/users", status_code=303)

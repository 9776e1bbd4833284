"""Authentication routes: login/logout (browser sessions), the caller, users and roles, API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from genome.auth import service
from genome.auth.schemas import (
    LoginRequest,
    PasswordChange,
    RoleGrant,
    SessionRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
)
from genome.server.deps import (
    RUN_TOKENS_ALLOWED,
    CurrentPrincipal,
    Db,
    LoginPolicyDep,
    client_address,
)
from genome.server.sessions import clear_session_cookies, set_session_cookies

public = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"])


@public.post("/login")
def login(db: Db, policy: LoginPolicyDep, request: Request, response: Response, body: LoginRequest) -> SessionRead:
    """Open a browser session: sets an HttpOnly session cookie and returns the CSRF token to send back."""
    opened = service.login(db, body.username, body.password, client=client_address(request), policy=policy)
    set_session_cookies(request, response, opened, policy)
    return SessionRead(
        username=opened.principal.username,
        roles=dict(opened.principal.roles),
        csrfToken=opened.csrf_token,
        expires=opened.expires,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(db: Db, principal: CurrentPrincipal, response: Response) -> None:
    """End the session (or revoke the token) this request came with."""
    service.logout(db, principal)
    clear_session_cookies(response)


@router.get("/me", dependencies=[RUN_TOKENS_ALLOWED])
def me(principal: CurrentPrincipal) -> SessionRead:
    """Who the caller is and their roles."""
    return SessionRead(username=principal.username, roles=dict(principal.roles))


@router.get("/users")
def list_users(db: Db, principal: CurrentPrincipal) -> list[UserRead]:
    return service.list_users(db, principal)


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(db: Db, principal: CurrentPrincipal, body: UserCreate) -> UserRead:
    return service.create_user(db, principal, body)


@router.get("/users/{username}")
def get_user(db: Db, principal: CurrentPrincipal, username: str) -> UserRead:
    return service.get_user(db, principal, username)


@router.delete("/users/{username}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(db: Db, principal: CurrentPrincipal, username: str) -> None:
    service.delete_user(db, principal, username)


@router.put("/users/{username}/roles/{application}")
def set_role(db: Db, principal: CurrentPrincipal, username: str, application: str, body: RoleGrant) -> UserRead:
    """Grant a role in an application (``*`` for all)."""
    return service.set_role(db, principal, username, application, body.role)


@router.delete("/users/{username}/roles/{application}")
def remove_role(db: Db, principal: CurrentPrincipal, username: str, application: str) -> UserRead:
    return service.remove_role(db, principal, username, application)


@router.put("/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT)
def set_password(db: Db, principal: CurrentPrincipal, username: str, body: PasswordChange) -> None:
    service.set_password(db, principal, username, body.password, body.currentPassword)


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(db: Db, principal: CurrentPrincipal, body: TokenCreate) -> TokenCreated:
    """Create an API token; its secret is in this answer only."""
    return service.create_token(db, principal, body)


@router.get("/tokens")
def list_tokens(
    db: Db,
    principal: CurrentPrincipal,
    username: Annotated[str | None, Query(description="Admins: whose tokens; omit for all.")] = None,
    all: Annotated[bool, Query(description="Admins: every user's tokens.")] = False,
) -> list[TokenRead]:
    """Your tokens; global admins may list another user's or everyone's."""
    return service.list_tokens(db, principal, None if all else username or principal.username)


@router.delete("/tokens/{token_id}")
def revoke_token(db: Db, principal: CurrentPrincipal, token_id: str) -> TokenRead:
    """Revoke a token at once."""
    return service.revoke_token(db, principal, token_id)

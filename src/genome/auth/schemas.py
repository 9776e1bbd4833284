"""Wire schemas of authentication: login, users, roles and tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "LoginRequest",
    "PasswordChange",
    "RoleGrant",
    "SessionRead",
    "TokenCreate",
    "TokenCreated",
    "TokenRead",
    "UserCreate",
    "UserRead",
]

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")]
Application = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Role = Literal["viewer", "editor", "admin"]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1000)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Wire):
    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SessionRead(BaseModel):
    username: str
    roles: dict[str, str]
    csrfToken: str | None = Field(
        default=None, description="Send as X-CSRF-Token on state-changing requests that use the session cookie."
    )
    expires: int | None = None


class UserCreate(_Wire):
    username: Username
    password: Password
    roles: dict[Application, Role] = Field(default_factory=dict, description='e.g. {"search": "editor", "*": "viewer"}')


class UserRead(BaseModel):
    username: str
    roles: dict[str, str]
    created: int


class RoleGrant(_Wire):
    role: Role


class PasswordChange(_Wire):
    password: Password
    currentPassword: str | None = Field(default=None, description="Required when changing your own password.")


class TokenCreate(_Wire):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    expiresInDays: int | None = Field(default=90, ge=1, le=3650, description="null: never expires.")
    username: Username | None = Field(default=None, description="Admins may create tokens for other users.")


class TokenRead(BaseModel):
    id: str
    kind: str
    name: str
    username: str
    scopeApplication: str | None
    created: int
    expires: int | None
    lastUsed: int | None
    revoked: int | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret; shown only now, never again.")

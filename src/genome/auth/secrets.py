"""Password hashing (argon2id) and credential secrets (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from genome.errors import InvalidInput

__all__ = [
    "hash_password",
    "hash_secret",
    "new_credential",
    "parse_credential",
    "secret_matches",
    "verify_password",
]

_HASHER = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
# Verified against when the user does not exist, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
_PREFIX = "gnm"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_secret(secret: str) -> str:
    # Credential secrets are 256 random bits: a fast hash is enough, and it keeps each request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def new_credential() -> tuple[str, str, str]:
    """A fresh credential: its id, its secret, and the string the holder presents (``gnm_<id>_<secret>``)."""
    credential_id, secret = uuid.uuid4().hex, secrets.token_urlsafe(32)
    return credential_id, secret, f"{_PREFIX}_{credential_id}_{secret}"


def parse_credential(presented: str) -> tuple[str, str] | None:
    """The id and secret inside a presented credential, or ``None`` if it is not one of ours."""
    prefix, _, rest = presented.partition("_")
    credential_id, _, secret = rest.partition("_")
    if prefix != _PREFIX or len(credential_id) != 32 or not secret:
        return None
    return credential_id, secret

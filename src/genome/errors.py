"""The errors Genome raises, on the server and in the SDK alike.

    GenomeError
    ├── InvalidInput (400, also a ValueError)
    │   ├── PayloadTooLarge (413)
    │   └── MissingDependency (400, also an ImportError: an optional library is not installed; names the pip extra)
    ├── Unauthenticated (401)
    ├── PermissionDenied (403)
    ├── NotFound (404, also a LookupError)
    ├── Conflict (409)
    ├── TooManyRequests (429: e.g. a login locked after repeated failures)
    ├── ArtifactCorrupt (500 on the server: stored bytes no longer match their checksum)
    ├── Unavailable (503: the isolated workers are all busy; retry later)
    ├── TimedOut (504: an explanation or drawing ran past its time limit and was stopped)
    ├── InvalidSetting (a configuration value is unusable, also a ValueError)
    └── NotFitted (an estimator or explainer used before it was prepared, also an AttributeError)

Every error carries the HTTP ``status`` it maps to and an optional ``field`` naming the input at fault. The server
turns any of them into ``{"error": {"status", "message", "field"}}`` and the SDK rebuilds the same class from that
envelope, so ``except NotFound`` works on both sides.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactCorrupt",
    "Conflict",
    "GenomeError",
    "InvalidInput",
    "InvalidSetting",
    "MissingDependency",
    "NotFitted",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "TimedOut",
    "TooManyRequests",
    "Unauthenticated",
    "Unavailable",
    "error_from_envelope",
]


class GenomeError(Exception):
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_envelope(self) -> dict[str, Any]:
        return {
            "error": {"status": self.status, "type": type(self).__name__, "message": self.message, "field": self.field}
        }


class InvalidInput(GenomeError, ValueError):
    status = 400


class PayloadTooLarge(InvalidInput):
    status = 413


class MissingDependency(InvalidInput, ImportError):
    """A model, explainer or reader needs an optional library that is not installed where it runs; the message
    names the pip extra that installs it (``genome.extras``). A 400: the stored version is sound, and the answer
    says what would make it servable."""


class Unauthenticated(GenomeError):
    status = 401


class PermissionDenied(GenomeError):
    status = 403


class NotFound(GenomeError, LookupError):
    status = 404


class Conflict(GenomeError):
    status = 409


class TooManyRequests(GenomeError):
    status = 429

    def __init__(self, message: str, *, field: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class ArtifactCorrupt(GenomeError):
    status = 500


class Unavailable(GenomeError):
    """The server cannot take the request now (its isolated workers are all busy); it may be retried."""

    status = 503


class TimedOut(GenomeError):
    """The work a request asked for ran past its time limit and was stopped."""

    status = 504


class InvalidSetting(GenomeError, ValueError):
    status = 500


class NotFitted(GenomeError, AttributeError):
    status = 400


_BY_NAME: dict[str, type[GenomeError]] = {
    cls.__name__: cls
    for cls in (
        InvalidInput,
        PayloadTooLarge,
        MissingDependency,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Conflict,
        TooManyRequests,
        ArtifactCorrupt,
        Unavailable,
        TimedOut,
    )
}
_BY_STATUS: dict[int, type[GenomeError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: TooManyRequests,
    413: PayloadTooLarge,
    503: Unavailable,
    504: TimedOut,
}


def error_from_envelope(status: int, body: Any) -> GenomeError:
    """Rebuild the error a server sent, from its status and JSON body."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {"message": f"HTTP {status}: {str(body)[:500]}"}
    cls = _BY_NAME.get(str(detail.get("type")))
    if cls is None:
        cls = _BY_STATUS.get(status, InvalidInput if 400 <= status < 500 else GenomeError)
    return cls(str(detail.get("message") or f"HTTP {status}"), field=detail.get("field"))

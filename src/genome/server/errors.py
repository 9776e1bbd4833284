"""One handler on ``GenomeError`` (Starlette looks handlers up along the MRO), plus the framework's own errors,
all answered with the envelope ``{"error": {"status", "type", "message", "field"}}``."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from genome.errors import GenomeError, InvalidInput, TooManyRequests, Unauthenticated

__all__ = ["install_error_handlers", "invalid_from_validation", "parse_json_field"]

T = TypeVar("T", bound=BaseModel)

log = logging.getLogger("genome.server")


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or None


def invalid_from_validation(errors: list[Any], prefix: str | None = None) -> InvalidInput:
    """The first pydantic error as an ``InvalidInput`` naming its field."""
    first = errors[0]
    field = _field(tuple(first.get("loc", ())))
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    if first.get("type") == "json_invalid":
        # FastAPI puts the character position in the location, ("body", 12): the field at fault is the body.
        field = prefix or "body"
        return InvalidInput(f"{field} is not valid JSON: {first.get('ctx', {}).get('error', '')}".strip(), field=field)
    if field is None and first.get("type") in ("model_attributes_type", "dict_type"):
        return InvalidInput("the request body must be a JSON object (Content-Type: application/json)", field="body")
    if first.get("type") == "missing":
        return InvalidInput(f"{field} is required", field=field)
    if first.get("type") == "extra_forbidden":
        return InvalidInput(f"{field} is not a known field", field=field)
    message = first.get("msg", "is invalid")
    return InvalidInput(f"{field}: {message}" if field else message, field=field)


def _envelope(error: GenomeError) -> JSONResponse:
    headers = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="genome"'
    if isinstance(error, TooManyRequests) and error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(error.to_envelope(), status_code=error.status, headers=headers)


async def _on_genome_error(_request: Request, exc: GenomeError) -> JSONResponse:
    if exc.status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return _envelope(exc)


async def _on_validation(_request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    return _envelope(invalid_from_validation(list(exc.errors())))


async def _on_http(_request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": exc.status_code, "type": "HTTPError", "message": str(exc.detail), "field": None}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _on_data_error(_request: Request, exc: DataError) -> JSONResponse:
    # The database refused a value the schemas let through, e.g. PostgreSQL and a NUL character in a string.
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "a value is not valid"
    return _envelope(InvalidInput(f"a value in the request cannot be stored or searched: {reason}"))


async def _on_overflow(request: Request, exc: OverflowError) -> JSONResponse:
    # SQLite's driver refuses integers beyond 64 bits (PostgreSQL's answers with a DataError, above).
    if "too large to convert" in str(exc):
        return _envelope(InvalidInput("a number in the request is out of range: integers must be below 2**63"))
    return await _on_unexpected(request, exc)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        {"error": {"status": 500, "type": "InternalError", "message": "internal server error", "field": None}},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GenomeError, _on_genome_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _on_data_error)  # type: ignore[arg-type]
    app.add_exception_handler(OverflowError, _on_overflow)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


def parse_json_field(model: type[T], raw: str, field: str) -> T:
    """A multipart field holding JSON, validated into ``model``; errors name ``field`` and the key inside it."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors()), prefix=field) from None

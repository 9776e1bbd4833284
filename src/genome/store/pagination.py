"""Keyset pagination: opaque cursors holding the sort, the last row's sort value and its id.

A page is read as ``ORDER BY column, id LIMIT n + 1`` and the next one seeks past ``(value, id)``, so pages stay
stable and fast however deep they go, and a cursor cannot be replayed under a different sort.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from genome.errors import InvalidInput

__all__ = ["decode_cursor", "encode_cursor", "fetch_page", "keyset"]


def encode_cursor(sort: str, value: Any, row_id: str) -> str:
    raw = json.dumps([sort, value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc
    if cursor_sort != sort or not isinstance(row_id, str):
        raise InvalidInput(f"cursor was issued for sort {cursor_sort!r}, not {sort!r}", field="cursor")
    return value, row_id


def keyset(
    query: Select[Any],
    column: ColumnElement[Any],
    id_column: ColumnElement[Any],
    sort: str,
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """``query`` ordered by ``sort`` (``column``, ``-`` for descending) then id, one row past ``limit``, after
    ``cursor``."""
    descending = sort.startswith("-")
    if cursor:
        value, last_id = decode_cursor(cursor, sort)
        # Sort columns are NOT NULL, so the row comparison means "column < value, or equal and id < last_id";
        # written as one, both databases seek to it in the (column, id) index.
        position, last = tuple_(column, id_column), tuple_(value, last_id)
        query = query.where(position < last if descending else position > last)
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    return query.order_by(*order).limit(limit + 1)


def fetch_page(
    session: Session,
    query: Select[Any],
    column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of ``query``'s rows in ``sort`` order after ``cursor``, and the cursor of the next page (None on
    the last)."""
    rows = list(session.scalars(keyset(query, column, id_column, sort, cursor, limit)))
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(sort, getattr(last, column.key), getattr(last, id_column.key))

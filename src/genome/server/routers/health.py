"""Liveness and readiness: the one route that never needs a credential."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

import genome
from genome.server.deps import Db

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(db: Db) -> dict[str, str]:
    """``ok`` when the server can reach its database."""
    with db.read() as session:
        session.execute(text("select 1"))
    return {"status": "ok", "version": genome.__version__, "database": db.dialect}

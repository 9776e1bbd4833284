"""The API's description, for callers with a credential like every other route: the OpenAPI document and its
Swagger UI page (a browser's session cookie is enough for both)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from genome.server.deps import RUN_TOKENS_ALLOWED

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json", dependencies=[RUN_TOKENS_ALLOWED])
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI document of every route (built once, then kept by the app)."""
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the document above; the page fetches it with the browser's session cookie."""
    return get_swagger_ui_html(openapi_url=request.url_for("openapi").path, title=f"{request.app.title} API")

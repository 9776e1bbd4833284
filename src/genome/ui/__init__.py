"""The web UI: pages drawn on the server (Jinja2 templates, SVG pictures, a little vanilla JavaScript) over the same
services, with the same principal and access rule, as the API. Nothing to build or start apart from the server."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from genome.ui import account, admin, auth, deployments, evaluations, models, pipelines, runs
from genome.ui.render import STATIC

__all__ = ["install_ui"]


def install_ui(app: FastAPI) -> None:
    """The pages at ``/``, their assets under ``/static/ui``, and the seed's ``/static/index.html`` leading to them."""
    app.include_router(auth.router)
    app.include_router(models.router)
    app.include_router(evaluations.router)
    app.include_router(runs.router)
    app.include_router(pipelines.router)
    app.include_router(deployments.router)
    app.include_router(account.router)
    app.include_router(admin.router)

    @app.get("/static/index.html", include_in_schema=False)
    def seed_address() -> RedirectResponse:
        return RedirectResponse("/", status_code=308)

    app.mount("/static/ui", StaticFiles(directory=STATIC), name="ui-static")

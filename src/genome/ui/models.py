"""The Model Store's pages: home, the models list, and a version's page with its tabs. Each view reads the same
services as the API, as the signed-in principal, and draws what they answer."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import TypeAdapter, ValidationError

from genome.auth.principal import Principal
from genome.cards import service as cards
from genome.cards.compare import compare_versions
from genome.errors import GenomeError, InvalidInput, PayloadTooLarge
from genome.evaluations import service as evaluations
from genome.models import service
from genome.models.schemas import Condition, ModelVersionRead, ModelVersionSearch, TagKey, TagValue
from genome.models.search import from_params
from genome.sequencer import service as sequencer
from genome.server.deps import Db, Explanations, Models, SettingsDep
from genome.server.errors import invalid_from_validation
from genome.ui import explanations as explaining
from genome.ui.render import PageRoute, SignedIn, check_csrf, day, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "pytorch", "keras", "tensorflow", "spark", "custom")
MODALITIES = ("tabular", "text", "image")
PREDICTION_TYPES = ("classification", "regression")
SORTS = {
    "-created": "newest first",
    "created": "oldest first",
    "canonicalName": "name A-Z",
    "-canonicalName": "name Z-A",
    "application": "application A-Z",
    "-versionNumber": "version, highest first",
}
TABS = ("overview", "explain", "visualize", "evaluations")
PAGE = 25


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Db, principal: SignedIn) -> HTMLResponse:
    recent = service.search_versions(db, principal, ModelVersionSearch(limit=10), page_size_max=10)
    counts = service.counts_by_application(db, principal)
    failing = [
        run
        for status in ("failed", "error")
        for run in evaluations.search_runs(db, principal, status=status, limit=5, page_size_max=5).items
    ]
    failing.sort(key=lambda run: -run.created)
    runs = sequencer.list_runs(db, principal, limit=5, page_size_max=5).items
    return render(request, "home.html", recent=recent.items, counts=counts, failing=failing[:5], runs=runs)


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
    q: str | None = None,
    application: str | None = None,
    framework: str | None = None,
    inputModality: str | None = None,
    predictionType: str | None = None,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006
    alias: str | None = None,
    createdFrom: str | None = None,
    createdTo: str | None = None,
    sort: str = "-created",
    cursor: str | None = None,
    back: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    """Versions matching the form, a page at a time; ``back`` holds the cursors of the pages before this one, so
    "previous" is a link like any other and the URL alone redraws the page."""
    form = {
        "q": q or "",
        "application": application or "",
        "framework": framework or "",
        "inputModality": inputModality or "",
        "predictionType": predictionType or "",
        "tag": " ".join(tag),
        "alias": alias or "",
        "createdFrom": createdFrom or "",
        "createdTo": createdTo or "",
        "sort": sort,
    }
    error: GenomeError | None = None
    page = None
    try:
        tags = [pair for item in tag for pair in item.split()]
        params = {
            "application": application or None,
            "framework": framework or None,
            "inputModality": inputModality or None,
            "predictionType": predictionType or None,
            "alias": alias or None,
            "createdAfter": day(createdFrom, "createdFrom"),
            "createdBefore": day(createdTo, "createdTo", end=True),
        }
        search = from_params(params, tags, q or None, sort, PAGE, cursor or None)
        page = service.search_versions(db, principal, search, page_size_max=settings.page_size_max)
    except InvalidInput as exc:  # the form is redrawn with the message beside the field at fault
        error = exc
    except ValidationError as exc:
        error = invalid_from_validation(list(exc.errors()))
    applications = service.applications(db, principal)
    previous = back[-1] if back else None
    return render(
        request,
        "models.html",
        status=400 if error else 200,
        form=form,
        error=error,
        page=page,
        applications=applications,
        frameworks=FRAMEWORKS,
        modalities=MODALITIES,
        prediction_types=PREDICTION_TYPES,
        sorts=SORTS,
        previous=previous,
        back=back,
    )


def _siblings(db: Db, principal: Principal, record: ModelVersionRead) -> list[ModelVersionRead]:
    filters = [
        Condition(field="application", value=record.application),
        Condition(field="canonicalName", value=record.canonicalName),
    ]
    search = ModelVersionSearch.model_validate(
        {"filter": {"and": [item.model_dump() for item in filters]}, "sort": "-versionNumber", "limit": 20}
    )
    return service.search_versions(db, principal, search, page_size_max=20).items


def _version_context(
    request: Request, db: Db, principal: Principal, record: ModelVersionRead, tab: str
) -> dict[str, Any]:
    """What every tab of a version's page shows: the version, its siblings, the alias ledger (as of the date in
    ``asOf``, when given), and whether the reader may edit it."""
    as_of = request.query_params.get("asOf") or None
    history = service.alias_history(
        db, principal, record.application, record.canonicalName, at=day(as_of, "asOf", end=True), limit=10
    )
    return {
        "record": record,
        "tab": tab,
        "tabs": TABS,
        "siblings": _siblings(db, principal, record),
        "history": history,
        "as_of": as_of or "",
        "editor": principal.can(record.application, "editor"),
    }


@router.get("/models/{version_id}", response_class=HTMLResponse)
def version_page(
    request: Request,
    version_id: str,
    db: Db,
    models: Models,
    results: Explanations,
    settings: SettingsDep,
    principal: SignedIn,
    tab: str = "overview",
) -> HTMLResponse:
    if tab not in TABS:
        raise InvalidInput(f"tab must be one of {', '.join(TABS)}; got {tab!r}", field="tab")
    record = service.get_version(db, principal, version_id)
    context = _version_context(request, db, principal, record, tab)
    if tab == "overview":
        context["card"] = cards.model_card(db, principal, version_id, page_size=settings.page_size_max)
    elif tab == "explain":
        context["explain"] = explaining.explain_tab(request, models, results, principal, record, settings)
    elif tab == "visualize":
        context["view"] = explaining.visualize_tab(request, models, principal, record, settings)
    else:
        context["runs"] = evaluations.search_runs(
            db, principal, target=version_id, limit=50, page_size_max=settings.page_size_max
        ).items
    return render(request, "version.html", **context)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, db: Db, settings: SettingsDep, principal: SignedIn, a: str = "", b: str = ""
) -> HTMLResponse:
    """Two versions side by side, differences first; the URL alone redraws it."""
    if not a or not b:
        raise InvalidInput("compare needs two version ids, a and b", field="a" if not a else "b")
    comparison = compare_versions(db, principal, a, b, page_size=settings.page_size_max)
    return render(request, "compare.html", comparison=comparison)


@router.post("/models/{version_id}/explain-image", response_class=HTMLResponse)
def explain_image(
    request: Request,
    version_id: str,
    db: Db,
    models: Models,
    results: Explanations,
    settings: SettingsDep,
    csrf: Annotated[str, Form()],
    image: Annotated[UploadFile, File()],
) -> HTMLResponse:
    """An uploaded picture explained (a file cannot travel in a URL; the rest of the page still does)."""
    principal = check_csrf(request, csrf)
    data = image.file.read(settings.max_request_bytes + 1)
    if len(data) > settings.max_request_bytes:
        raise PayloadTooLarge(f"the picture is larger than {settings.max_request_bytes} bytes", field="image")
    record = service.get_version(db, principal, version_id)
    encoded = base64.b64encode(data).decode()
    context = _version_context(request, db, principal, record, "explain")
    context["explain"] = explaining.explain_tab(request, models, results, principal, record, settings, image=encoded)
    return render(request, "version.html", **context)


@router.post("/models/{version_id}/aliases")
def set_alias(
    request: Request,
    version_id: str,
    db: Db,
    csrf: Annotated[str, Form()],
    alias: Annotated[str, Form()],
    requirePassing: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Point an alias at this version (editors), optionally only when its evaluations passed."""
    principal = check_csrf(request, csrf)
    gate = evaluations.check_passing if requirePassing else None
    service.set_alias(db, principal, version_id, alias.strip(), gate=gate)
    return RedirectResponse(f"/models/{version_id}", status_code=303)


@router.post("/models/{version_id}/aliases/{alias}/delete")
def remove_alias(
    request: Request, version_id: str, alias: str, db: Db, csrf: Annotated[str, Form()]
) -> RedirectResponse:
    principal = check_csrf(request, csrf)
    service.remove_alias(db, principal, version_id, alias)
    return RedirectResponse(f"/models/{version_id}", status_code=303)


@router.post("/models/{version_id}/delete")
def delete_version(
    request: Request, version_id: str, db: Db, csrf: Annotated[str, Form()], confirm: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Delete the version (editors), once its name was typed to confirm."""
    principal = check_csrf(request, csrf)
    record = service.get_version(db, principal, version_id)
    expected = f"{record.canonicalName} v{record.versionNumber}"
    if confirm.strip() != expected:
        raise InvalidInput(f"type {expected!r} to confirm the deletion", field="confirm")
    service.delete_version(db, principal, version_id)
    return RedirectResponse("/models", status_code=303)


_TAG_CHANGES: TypeAdapter[dict[TagKey, TagValue | None]] = TypeAdapter(dict[TagKey, TagValue | None])


@router.post("/models/{version_id}/tags")
def update_tags(
    request: Request,
    version_id: str,
    db: Db,
    csrf: Annotated[str, Form()],
    key: Annotated[str, Form()],
    value: Annotated[str, Form()] = "",
    remove: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Set a tag, or remove it (editors), with the API's rules for keys and values."""
    principal = check_csrf(request, csrf)
    try:
        changes = _TAG_CHANGES.validate_python({key.strip(): None if remove else value})
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors()), "tags") from None
    service.update_tags(db, principal, version_id, changes)
    return RedirectResponse(f"/models/{version_id}", status_code=303)

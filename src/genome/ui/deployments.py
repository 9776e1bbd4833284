"""The deployments' pages: an application's deployments at their current versions, and one deployment with its
parameters, its history, the difference between two versions (chosen in the URL), the parameters it had on a day,
and for editors a JSON editor checked with the API's rules, and deletion. Every view reads
``genome.sequencer.deployments`` as the signed-in principal."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from genome.auth.principal import Principal
from genome.errors import Conflict, InvalidInput, NotFound
from genome.models import service as models
from genome.sequencer import deployments as service
from genome.sequencer.schemas import DeploymentDiff, DeploymentWrite
from genome.server.deps import Db, SettingsDep
from genome.server.errors import invalid_from_validation
from genome.ui.render import PageRoute, SignedIn, check_csrf, day, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = 25
_KINDS = {"added": ("+", "added"), "removed": ("\u2212", "removed"), "changed": ("~", "changed")}


def _path(application: str, name: str) -> str:
    return f"/deployments/{quote(application, safe='')}/{quote(name, safe='')}"


def _applications(db: Db, principal: Principal) -> list[str]:
    """Where the reader may look for deployments: applications with deployments or models they may read, and those
    they hold a role in (an editor's first deployment starts there)."""
    named = {application for application in principal.roles if application != "*"}
    return sorted(set(service.applications(db, principal)) | set(models.applications(db, principal)) | named)


def _list_page(
    request: Request,
    db: Db,
    principal: Principal,
    application: str,
    *,
    error: InvalidInput | Conflict | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    items = service.list_deployments(db, principal, application) if application else []
    deleted = service.deleted_deployments(db, principal, application) if application else []
    return render(
        request,
        "deployments.html",
        status=error.status if error else 200,
        application=application,
        applications=_applications(db, principal),
        items=items,
        deleted=deleted,
        editor=bool(application) and principal.can(application, "editor"),
        error=error,
        form=form or {"name": "", "parameters": "{}"},
    )


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(request: Request, db: Db, principal: SignedIn, application: str = "") -> HTMLResponse:
    """The applications to choose from; with ``application``, its deployments at their current versions."""
    return _list_page(request, db, principal, application.strip())


def _parameters(text: str) -> dict[str, Any]:
    """The editor's text as the API's body would be checked: JSON, an object, keys of 1 to 200 characters."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"parameters is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", field="parameters"
        ) from None
    except RecursionError:
        raise InvalidInput("parameters is nested too deep to read; flatten it", field="parameters") from None
    try:
        return DeploymentWrite.model_validate({"parameters": value}).parameters
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors())) from None


@router.post("/deployments/{application}", response_class=HTMLResponse)
def create(
    request: Request,
    application: str,
    db: Db,
    csrf: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    parameters: Annotated[str, Form()] = "{}",
) -> Any:
    """A new deployment (editors). A name in use is refused, so no one replaces a deployment's parameters from this
    form without seeing them."""
    principal = check_csrf(request, csrf)
    principal.require(application, "editor")
    form = {"name": name, "parameters": parameters}
    try:
        service.check_name(name)
        try:
            service.get_deployment(db, principal, application, name)
        except NotFound:
            pass
        else:
            raise Conflict(f"deployment {name!r} exists already: change it on its page", field="name")
        saved = service.put_deployment(db, principal, application, name, _parameters(parameters))
    except (InvalidInput, Conflict) as exc:
        return _list_page(request, db, principal, application, error=exc, form=form)
    # Version 1, or the next one for a name used before (its history goes on).
    return RedirectResponse(f"{_path(application, name)}?saved={saved.version}", status_code=303)


def _version_number(value: str, field: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) < 2**31:
        raise InvalidInput(f"{field} must be a version number (1, 2, …), not {value!r}", field=field)
    return int(value)


def _saved(value: str) -> str | None:
    """What the redirect after a save said happened; anything else in the URL (words another site put in a link,
    to be read as the page's own) is not shown."""
    return value if value in ("deleted", "unchanged") or (value.isascii() and value.isdigit()) else None


def _diff_rows(diff: DeploymentDiff) -> list[dict[str, str]]:
    """The diff as table rows: key path, what happened (symbol and word), the values before and after as JSON."""
    entries: list[tuple[str, list[str], Any, Any]] = [("added", item.path, None, item.value) for item in diff.added]
    entries += [("removed", item.path, item.value, None) for item in diff.removed]
    entries += [("changed", item.path, item.old, item.new) for item in diff.changed]
    rows = []
    for kind, path, old, new in sorted(entries, key=lambda entry: entry[1]):
        symbol, word = _KINDS[kind]
        rows.append(
            {
                "kind": kind,
                "symbol": symbol,
                "word": word,
                "path": ".".join(path),
                "old": "" if kind == "added" else json.dumps(old),
                "new": "" if kind == "removed" else json.dumps(new),
            }
        )
    return rows


def _deployment_page(
    request: Request,
    db: Db,
    settings: SettingsDep,
    principal: Principal,
    application: str,
    name: str,
    *,
    edit_error: InvalidInput | None = None,
    edit_text: str | None = None,
) -> HTMLResponse:
    query = request.query_params
    history = service.list_versions(
        db,
        principal,
        application,
        name,
        limit=PAGE,
        cursor=query.get("cursor") or None,
        page_size_max=settings.page_size_max,
    )
    try:
        current = service.get_deployment(db, principal, application, name)
    except NotFound:
        current = None  # deleted: its history stays readable
    number = _version_number(query.get("version", ""), "version")
    shown = service.get_version(db, principal, application, name, number) if number is not None else None
    compare: dict[str, Any] = {"from": query.get("from", ""), "to": query.get("to", "")}
    if compare["from"] or compare["to"]:
        try:
            first = _version_number(compare["from"], "from")
            second = _version_number(compare["to"], "to")
            if first is None or second is None:
                raise InvalidInput("choose two versions to compare", field="from" if first is None else "to")
            diff = service.diff_versions(db, principal, application, name, first, second)
            compare.update(diff=diff, rows=_diff_rows(diff))
        except (InvalidInput, NotFound) as exc:
            compare["error"] = exc
    as_of: dict[str, Any] = {"day": query.get("asOf", "")}
    if as_of["day"]:
        try:
            as_of["found"] = service.get_deployment(
                db, principal, application, name, at=day(as_of["day"], "asOf", end=True)
            )
        except (InvalidInput, NotFound) as exc:
            as_of["error"] = exc
    editor = principal.can(application, "editor")
    if edit_text is None:
        # A deleted deployment's editor starts from the last parameters it had.
        live = current or next((item for item in history.items if not item.deleted), None)
        edit_text = json.dumps(live.parameters, indent=2) if live is not None else "{}"
    return render(
        request,
        "deployment.html",
        status=edit_error.status if edit_error else 200,
        application=application,
        name=name,
        current=current,
        history=history,
        shown=shown,
        compare=compare,
        as_of=as_of,
        editor=editor,
        edit_text=edit_text,
        edit_error=edit_error,
        back=query.getlist("back"),
        saved=_saved(query.get("saved", "")),
    )


@router.get("/deployments/{application}/{name}", response_class=HTMLResponse)
def deployment_page(
    request: Request,
    application: str,
    name: str,
    db: Db,
    settings: SettingsDep,
    principal: SignedIn,
) -> HTMLResponse:
    """A deployment: its parameters, history and, as the URL asks, one version (``version``), the difference
    between two (``from``, ``to``) and the version current at the end of a day (``asOf``)."""
    return _deployment_page(request, db, settings, principal, application, name)


@router.post("/deployments/{application}/{name}", response_class=HTMLResponse)
def edit(
    request: Request,
    application: str,
    name: str,
    db: Db,
    settings: SettingsDep,
    csrf: Annotated[str, Form()],
    parameters: Annotated[str, Form()] = "",
) -> Any:
    """Save the editor's JSON as the next version (editors). A mistake redraws the page with the API's message
    beside the text, which is kept as it was typed."""
    principal = check_csrf(request, csrf)
    principal.require(application, "editor")
    try:
        before = service.get_deployment(db, principal, application, name).version
    except NotFound:
        before = None
    try:
        saved = service.put_deployment(db, principal, application, name, _parameters(parameters))
    except InvalidInput as exc:
        return _deployment_page(
            request, db, settings, principal, application, name, edit_error=exc, edit_text=parameters
        )
    outcome = "unchanged" if saved.version == before else str(saved.version)
    return RedirectResponse(f"{_path(application, name)}?saved={outcome}", status_code=303)


@router.post("/deployments/{application}/{name}/delete")
def delete(request: Request, application: str, name: str, db: Db, csrf: Annotated[str, Form()]) -> RedirectResponse:
    """Delete the deployment (editors); its history stays, and its page still shows it."""
    principal = check_csrf(request, csrf)
    service.delete_deployment(db, principal, application, name)
    return RedirectResponse(f"{_path(application, name)}?saved=deleted", status_code=303)

"""Model version search: a filter tree compiled to SQL, keyword matching and keyset (cursor) paging."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from genome.errors import InvalidInput
from genome.models.schemas import And, Condition, Filter, LegacySearch, ModelVersionSearch, Not, Or
from genome.store.tables import ModelAlias, ModelTag, ModelVersion

__all__ = ["FIELDS", "build_query", "from_legacy", "from_params"]

V = ModelVersion
FIELDS: dict[str, Any] = {
    "id": V.id,
    "application": V.application,
    "canonicalName": V.canonical_name,
    "versionNumber": V.version_number,
    "versionName": V.version_name,
    "pipelineName": V.pipeline_name,
    "pipelineRunId": V.pipeline_run_id,
    "pipelineStage": V.pipeline_stage,
    "framework": V.framework,
    "inputModality": V.input_modality,
    "predictionType": V.prediction_type,
    "created": V.created,
    "artifactTime": V.artifact_time,
    "createdBy": V.created_by,
}
_NUMERIC = {"versionNumber", "created", "artifactTime"}


class _Unindexed(ColumnElement[Any]):
    """A column SQLite must not drive the query from: it renders ``+column`` there and the bare column elsewhere.

    SQLite has no statistics to tell a tag matching 60 versions from one matching 15,000, and left alone it
    always starts from the tag's version ids, then sorts every matching (wide) row to find one page. Walking the
    sort order's index instead, testing each id against the tag's ids held in memory, reads only the index and
    stops when the page is full. PostgreSQL keeps its statistics-based choice.
    """

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012 (SQLAlchemy's own form)

    def __init__(self, column: Any) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.type = self.column.type


@compiles(_Unindexed)
def _compile_unindexed(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Unindexed, "sqlite")
def _compile_unindexed_sqlite(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_value(condition: Condition, numeric: bool) -> Any:
    value, where = condition.value, f"filter field {condition.field!r}"
    if condition.op == "exists":
        if not isinstance(value, bool) and value is not None:
            raise InvalidInput(f"{where}: op 'exists' takes true, false or no value", field="filter.value")
        return value is not False
    if condition.op == "in":
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{where}: op 'in' needs a non-empty list", field="filter.value")
        items = value
    else:
        if value is None or isinstance(value, list):
            raise InvalidInput(f"{where}: op {condition.op!r} needs one value", field="filter.value")
        items = [value]
    for item in items:
        wrong = (isinstance(item, bool) or not isinstance(item, int | float)) if numeric else not isinstance(item, str)
        if wrong:
            kind = "a number (ms since epoch for times)" if numeric else "a string"
            raise InvalidInput(f"{where} compares with {kind}; got {item!r}", field="filter.value")
    return value


def _compare(column: Any, condition: Condition, value: Any) -> ColumnElement[bool]:
    match condition.op:
        case "eq":
            return column == value
        case "ne":
            return or_(column != value, column.is_(None))
        case "lt":
            return column < value
        case "lte":
            return column <= value
        case "gt":
            return column > value
        case "gte":
            return column >= value
        case "in":
            return column.in_(value)
        case "contains":
            return column.ilike(f"%{_like_escape(value)}%", escape="\\")
        case "prefix":
            return column.like(f"{_like_escape(value)}%", escape="\\")
        case _:  # exists
            return column.is_not(None) if value else column.is_(None)


def _condition(condition: Condition) -> ColumnElement[bool]:
    field = condition.field
    prefix, _, key = field.partition(".")
    if prefix == "tags" and key:
        value = _check_value(condition, numeric=False)
        version_id = _Unindexed(V.id)
        if condition.op == "exists":
            found = version_id.in_(select(ModelTag.version_id).where(ModelTag.key == key))
            return found if value else not_(found)
        if condition.op == "ne":
            tagged = select(ModelTag.version_id).where(ModelTag.key == key, ModelTag.value == value)
            return not_(version_id.in_(tagged))
        matching = select(ModelTag.version_id).where(ModelTag.key == key, _compare(ModelTag.value, condition, value))
        return version_id.in_(matching)
    if prefix in ("parameters", "metrics") and key:
        return _json_condition(condition, getattr(V, prefix)[key])
    if field in ("alias", "aliases"):
        value = _check_value(condition, numeric=False)
        if condition.op not in ("eq", "in", "exists"):
            raise InvalidInput("filter field 'alias' supports ops eq, in and exists", field="filter.op")
        aliased = exists().where(ModelAlias.version_id == V.id)
        if condition.op == "exists":
            return aliased if value else not_(aliased)
        return exists().where(ModelAlias.version_id == V.id, _compare(ModelAlias.alias, condition, value))
    column = FIELDS.get(field)
    if column is None:
        known = ", ".join([*FIELDS, "alias", "tags.<key>", "parameters.<key>", "metrics.<key>"])
        raise InvalidInput(f"filter field {field!r} is unknown; known fields: {known}", field="filter.field")
    numeric = field in _NUMERIC
    if numeric and condition.op in ("contains", "prefix"):
        raise InvalidInput(f"filter field {field!r} is a number; op {condition.op!r} is for text", field="filter.op")
    return _compare(column, condition, _check_value(condition, numeric))


def _json_condition(condition: Condition, element: Any) -> ColumnElement[bool]:
    """``parameters.<key>`` or ``metrics.<key>``: compared as numbers or text, after the value given."""
    sample = condition.value[0] if isinstance(condition.value, list) and condition.value else condition.value
    numeric = isinstance(sample, int | float) and not isinstance(sample, bool)
    if condition.op == "exists":
        return _compare(element.as_string(), condition, _check_value(condition, numeric=False))
    if isinstance(sample, bool):
        if condition.op not in ("eq", "ne"):
            raise InvalidInput(
                f"filter field {condition.field!r}: true/false compares with eq or ne", field="filter.op"
            )
        return _compare(element.as_boolean(), condition, sample)
    typed = element.as_float() if numeric else element.as_string()
    return _compare(typed, condition, _check_value(condition, numeric=numeric))


def _compile(node: Filter) -> ColumnElement[bool]:
    if isinstance(node, Condition):
        return _condition(node)
    if isinstance(node, And):
        return and_(*(_compile(child) for child in node.and_))
    if isinstance(node, Or):
        return or_(*(_compile(child) for child in node.or_))
    if isinstance(node, Not):
        return not_(_compile(node.not_))
    raise InvalidInput("filter node must be a condition or an and/or/not group", field="filter")


def build_query(search: ModelVersionSearch) -> Select[Any]:
    """The SELECT of every version matching ``search``'s filter and keywords (paged by ``fetch_page``)."""
    query = select(V)
    if search.filter is not None:
        query = query.where(_compile(search.filter))
    words = (search.keyword or "").lower().split()
    if words:
        # Always true (the column is NOT NULL); stating it lets SQLite use its keyword index, which is partial on it.
        query = query.where(V.search_text.is_not(None))
    for word in words:
        query = query.where(V.search_text.like(f"%{_like_escape(word)}%", escape="\\"))
    return query


def _all_of(conditions: list[Filter], **paging: Any) -> ModelVersionSearch:
    group = And.model_validate({"and": conditions}) if conditions else None
    return ModelVersionSearch.model_validate({"filter": group, **paging})


def from_legacy(body: LegacySearch) -> ModelVersionSearch:
    """The original search form: every other key is an equality on a model field."""
    conditions: list[Filter] = []
    for field, value in (body.model_extra or {}).items():
        if field not in FIELDS and field != "alias":
            known = ", ".join([*FIELDS, "alias", "tags", "keyword", "sort", "limit", "cursor"])
            raise InvalidInput(f"search field {field!r} is unknown; known fields: {known}", field=field)
        conditions.append(Condition(field=field, op="eq", value=value))
    conditions += [Condition(field=f"tags.{key}", op="eq", value=value) for key, value in body.tags.items()]
    return _all_of(conditions, keyword=body.keyword, sort=body.sort, limit=body.limit, cursor=body.cursor)


def from_params(
    params: dict[str, Any], tags: list[str], keyword: str | None, sort: str, limit: int, cursor: str | None
) -> ModelVersionSearch:
    """The search a ``GET /models`` query string describes: equalities, tag pairs and a created range."""
    conditions: list[Filter] = [
        Condition(field=field, op="eq", value=value)
        for field, value in params.items()
        if value is not None and field not in ("createdAfter", "createdBefore")
    ]
    if params.get("createdAfter") is not None:
        conditions.append(Condition(field="created", op="gte", value=params["createdAfter"]))
    if params.get("createdBefore") is not None:
        conditions.append(Condition(field="created", op="lt", value=params["createdBefore"]))
    for pair in tags:
        key, sep, value = pair.partition(":")
        if not sep or not key:
            raise InvalidInput(f"tag {pair!r} must be written key:value", field="tag")
        conditions.append(Condition(field=f"tags.{key}", op="eq", value=value))
    return _all_of(conditions, keyword=keyword, sort=sort, limit=limit, cursor=cursor)

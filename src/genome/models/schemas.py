"""Wire schemas of the Model Store: what clients send and what they get back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "ALIAS_PATTERN",
    "FILTER_MAX_CONDITIONS",
    "FILTER_MAX_DEPTH",
    "FILTER_MAX_VALUES",
    "ArtifactRead",
    "Condition",
    "LegacySearch",
    "ModelCode",
    "ModelVersionCreate",
    "ModelVersionPage",
    "ModelVersionRead",
    "ModelVersionSearch",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s.][^\s]*$")]
TagValue = Annotated[str, StringConstraints(max_length=2000)]
Framework = Literal["sklearn", "xgboost", "lightgbm", "pytorch", "keras", "tensorflow", "spark", "custom"]
Modality = Literal["tabular", "image", "text"]
PredictionType = Literal["classification", "regression"]
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
Alias = Annotated[str, StringConstraints(pattern=ALIAS_PATTERN)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ModelCode(_Wire):
    ref: Label
    refType: Label = "image"


class ModelVersionCreate(_Wire):
    """The metadata sent with a model artifact (the seed's meta dict)."""

    application: Label
    canonicalName: Name
    versionName: Label | None = None
    pipelineName: Name | None = None
    pipelineRunId: Label | None = None
    pipelineStage: Label | None = None
    framework: Framework | None = Field(default=None, description="Default: read from the artifact.")
    inputModality: Modality | None = Field(default=None, description="Default: the estimator's modality.")
    predictionType: PredictionType | None = Field(default=None, description="Default: read from the estimator.")
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    intendedUse: Annotated[str, StringConstraints(max_length=20000)] | None = Field(
        default=None, description="What the model is for, and what not: shown on its model card."
    )
    code: ModelCode | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    aliases: list[Alias] = Field(default_factory=list, description="Aliases to point at this version at once.")
    metrics: dict[Label, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, description="Finite numbers: JSON has no NaN or Infinity, so they are refused."
    )
    artifactTime: int | None = Field(default=None, ge=0, description="When the model was trained, ms since epoch.")


class ArtifactRead(BaseModel):
    ref: str
    sha256: str
    size: int
    format: str
    isolated: bool | None = Field(
        default=None,
        description="Whether the bundle carries code (pickles beyond Genome's trusted types), so that it is loaded "
        "only by the isolated worker; null for versions stored before Genome recorded it.",
    )


class ModelVersionRead(BaseModel):
    id: str
    application: str
    canonicalName: str
    versionNumber: int
    versionName: str | None
    pipelineName: str | None
    pipelineRunId: str | None
    pipelineStage: str | None
    framework: str
    inputModality: str
    predictionType: str | None
    description: str | None
    intendedUse: str | None
    code: dict[str, Any] | None
    parameters: dict[str, Any]
    artifact: ArtifactRead
    tags: dict[str, str]
    aliases: list[str]
    metrics: dict[str, Any]
    featureImportance: dict[str, Any] | None
    created: int
    artifactTime: int
    createdBy: str | None


class AliasEventRead(BaseModel):
    """One move of an alias: from ``previousVersion*`` to ``version*`` (both null-able: set for the first time,
    or removed), by ``actor`` at ``at`` (ms since epoch)."""

    alias: str
    versionId: str | None
    versionNumber: int | None
    previousVersionId: str | None
    previousVersionNumber: int | None
    actor: str | None
    at: int


class AliasHistoryRead(BaseModel):
    """The ledger of a model's aliases, newest first, and where each alias pointed at ``asOf``."""

    application: str
    canonicalName: str
    asOf: int = Field(description="ms since epoch: now, or the `at` asked for")
    aliases: dict[str, AliasEventRead] = Field(
        description="Per alias, the move that put it where it was at `asOf` (aliases removed by then are absent)."
    )
    items: list[AliasEventRead] = Field(description="The moves at or before `asOf`, newest first.")


class ModelVersionPage(BaseModel):
    items: list[ModelVersionRead]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


Op = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "prefix", "exists"]
Scalar = str | int | float | bool


class Condition(_Wire):
    """One test on one field: ``{"field": "tags.team", "op": "eq", "value": "search"}``."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None


class And(_Wire):
    and_: list[Filter] = Field(alias="and", min_length=1)


class Or(_Wire):
    or_: list[Filter] = Field(alias="or", min_length=1)


class Not(_Wire):
    not_: Filter = Field(alias="not")


Filter = Condition | And | Or | Not

# A filter is compiled to one SQL expression: SQLite refuses expressions over 1000 deep (a flat or of 1000
# conditions is that deep), PostgreSQL over 65535 parameters, and deep JSON recurses in Python. These bounds stay
# far inside all three, and far above any filter written by hand.
FILTER_MAX_CONDITIONS = 100
FILTER_MAX_DEPTH = 16
FILTER_MAX_VALUES = 5000


def _filter_size(node: Any) -> tuple[int, int, int]:
    """``(conditions, depth, values)`` of a filter, raw JSON or models, walked without recursion."""
    conditions = depth = values = 0
    pending = [(node, 1)]
    while pending:
        node, level = pending.pop()
        depth = max(depth, level)
        if depth > FILTER_MAX_DEPTH:
            break  # enough to refuse it: walk no further down
        if isinstance(node, BaseModel):
            node = node.model_dump(by_alias=True)
        if not isinstance(node, dict):
            continue  # not a filter node: validation names it
        children = [node[key] for key in ("and", "or") if isinstance(node.get(key), list)]
        children += [[node["not"]]] if "not" in node else []
        for group in children:
            pending.extend((child, level + 1) for child in group)
        if "field" in node:
            conditions += 1
            values += len(node["value"]) if isinstance(node.get("value"), list) else 1
    return conditions, depth, values


def _check_filter_size(node: Any) -> Any:
    conditions, depth, values = _filter_size(node)
    if depth > FILTER_MAX_DEPTH:
        problem = f"nested too deep: more than {FILTER_MAX_DEPTH} levels of and/or/not, at most {FILTER_MAX_DEPTH}"
    elif conditions > FILTER_MAX_CONDITIONS:
        problem = f"too many conditions: {conditions}, at most {FILTER_MAX_CONDITIONS}"
    elif values > FILTER_MAX_VALUES:
        problem = f"too many values: {values} (items of 'in' lists count one each), at most {FILTER_MAX_VALUES}"
    else:
        return node
    raise PydanticCustomError("filter_too_large", "{problem}; split the search into several", {"problem": problem})


class ModelVersionSearch(_Wire):
    """A search: a filter tree, free-text keywords, one sort key and a cursor."""

    filter: Filter | None = Field(
        default=None,
        description=f"At most {FILTER_MAX_CONDITIONS} conditions, {FILTER_MAX_DEPTH} levels deep and "
        f"{FILTER_MAX_VALUES} values in all.",
    )
    keyword: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Words that must all appear in the names (case-insensitive)."
    )
    sort: Literal[
        "created",
        "-created",
        "versionNumber",
        "-versionNumber",
        "canonicalName",
        "-canonicalName",
        "application",
        "-application",
        "artifactTime",
        "-artifactTime",
    ] = "-created"
    limit: int = Field(default=50, ge=1, description="Page size, at most GENOME_PAGE_SIZE_MAX.")
    cursor: str | None = None

    # Before the tree is validated: pydantic would recurse through all of it first.
    _bounded_filter = field_validator("filter", mode="before")(_check_filter_size)


class LegacySearch(BaseModel):
    """The original ``POST /modelstore/search`` body: field equalities plus paging."""

    model_config = ConfigDict(extra="allow")

    keyword: str | None = None
    sort: str = "-created"
    limit: int = Field(default=50, ge=1)
    cursor: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()

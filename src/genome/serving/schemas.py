"""Wire schemas of serving: which version a request means, and which version answered."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["Label", "ServedModel", "VersionRef"]

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class VersionRef(BaseModel):
    """Which model version: its ``id``, or ``application`` + ``canonicalName`` (latest, or by number, name or
    alias)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    application: Label | None = None
    canonicalName: Label | None = None
    versionNumber: int | None = Field(default=None, ge=1)
    versionName: Label | None = None
    alias: Label | None = None


class ServedModel(BaseModel):
    """The version that answered a request."""

    id: str
    canonicalName: str
    versionNumber: int

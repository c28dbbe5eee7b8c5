"""Canonical event models of the data contract (ARCHITECTURE.md).

A feedback event, an account snapshot and an opportunity snapshot, one JSON object per Kafka
message. The JSON Schema files in ``schemas/jsonschema`` are generated from these models
(``python -m schemas.export``); a test fails when they drift.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas.names import Source

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# What the Postgres columns can hold: integer votes, numeric(18, 2) money.
MAX_INT32 = 2**31 - 1
MONEY_BOUND = 1e16  # exclusive: numeric(18, 2) holds up to 9,999,999,999,999,999.99


class FeedbackEvent(BaseModel):
    """One piece of customer feedback from one source system."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"title": "trendmine feedback event"},
    )

    source: Source = Field(description="Which silo it came from.")
    source_id: str = Field(
        min_length=1,
        max_length=256,
        description="The record's id in its own system; (source, source_id) is unique.",
    )
    account_id: str | None = Field(
        default=None,
        max_length=256,
        description="The customer account it came from; null for an unknown prospect.",
    )
    text: str = Field(
        min_length=1,
        description="The feedback itself: notes, ticket body, idea title + details, call summary.",
    )
    created_at: AwareDatetime = Field(description="When it was said, ISO 8601 with time zone.")
    updated_at: AwareDatetime | None = Field(
        default=None, description="Last edit in the source system, if known."
    )
    opportunity_id: str | None = Field(default=None, max_length=256)
    author: str | None = Field(default=None, max_length=512)
    votes: int | None = Field(
        default=None, ge=0, le=MAX_INT32, description="Idea-portal vote score."
    )
    url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON.")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty")
        return v


class Segment(StrEnum):
    ENTERPRISE = "enterprise"
    MID_MARKET = "mid_market"
    SMB = "smb"


class Account(BaseModel):
    """A CRM account snapshot; the newest snapshot (by updated_at) wins."""

    model_config = _STRICT

    account_id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1)
    segment: str = Field(
        min_length=1, description="e.g. enterprise / mid_market / smb (free text allowed)."
    )
    arr: float = Field(
        ge=0, lt=MONEY_BOUND, description="Annual recurring revenue, one currency."
    )
    icp_fit: float | None = Field(default=None, ge=0, le=1, description="Ideal-customer fit 0..1.")
    region: str | None = None
    plan: str | None = None
    updated_at: AwareDatetime | None = Field(
        default=None, description="When this snapshot was taken; defaults to ingest time."
    )

    @field_validator("segment")
    @classmethod
    def _normalise_segment(cls, v: str) -> str:
        return v.strip().lower().replace("-", "_").replace(" ", "_")


class Stage(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Opportunity(BaseModel):
    """A CRM deal snapshot; the newest snapshot (by updated_at) wins."""

    model_config = _STRICT

    opportunity_id: str = Field(min_length=1, max_length=256)
    account_id: str | None = Field(default=None, max_length=256)
    amount: float = Field(ge=0, lt=MONEY_BOUND)
    stage: Stage
    close_date: date | None = None
    loss_reason: str | None = None
    name: str | None = None
    updated_at: AwareDatetime | None = None


MODELS: dict[str, type[BaseModel]] = {
    "feedback_event": FeedbackEvent,
    "account": Account,
    "opportunity": Opportunity,
}

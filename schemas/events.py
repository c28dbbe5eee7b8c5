"""Canonical event models of the data contract (docs/architecture.md).

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


class AccountRef(BaseModel):
    """What the source itself knows of the customer: its own id and name for the company
    (a Zendesk organization, an Intercom company) and a company domain. Matched to a CRM
    account at ingest (docs/accounts.md); never trusted as a CRM id itself."""

    model_config = _STRICT

    system: str | None = Field(
        default=None, max_length=64,
        description="Whose id `id` is: zendesk, intercom, canny, gong, ... (lower case).",
    )
    id: str | None = Field(default=None, max_length=256, description="The company's id there.")
    name: str | None = Field(default=None, max_length=512, description="Company name as typed.")
    domain: str | None = Field(
        default=None, max_length=253, description="A company domain (website or e-mail)."
    )


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
        description="The CRM account it came from, when the source knows it; otherwise "
        "null and matched from account_ref / author_email (docs/accounts.md).",
    )
    account_ref: AccountRef | None = Field(
        default=None, description="The source's own clues to the customer's company."
    )
    author_email: str | None = Field(
        default=None,
        max_length=320,
        description="The author's e-mail address: only its domain is kept (for matching, "
        "never a free-mail domain); the address itself is never stored.",
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
    domains: list[str] = Field(
        default_factory=list, description="Company domains (website, e-mail) for matching."
    )
    external_ids: dict[str, str] = Field(
        default_factory=dict,
        description='Its ids in other systems, e.g. {"zendesk": "361", "intercom": "c-9"}.',
    )
    owner_email: str | None = Field(
        default=None, max_length=320,
        description="The account owner's e-mail in the CRM: told of decisions (docs/alerts.md).",
    )
    owner_slack_id: str | None = Field(
        default=None, max_length=64, description="The account owner's Slack user id, if known."
    )
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

"""Validate one raw Kafka message into a canonical model, or say exactly why not.

Every rejection carries a stable ``code`` (for counting and filtering) and a ``reason`` a
human can act on; the consumer sends it to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ValidationError

from ingest.redact import redact_pii
from schemas.events import MAX_INT32, Account, AccountRef, FeedbackEvent, Opportunity
from schemas.names import Source

# Where in the path a record was rejected (the DLQ's stage header and dead_letters.stage).
PARSE, VALIDATE, NORMALISE, DATABASE, PRODUCE = (
    "parse", "validate", "normalise", "database", "produce"
)
_PARSE_CODES = frozenset({"malformed_json", "invalid_utf8", "not_an_object", "record_too_large"})
MAX_INPUT_REPR = 200  # a reason quotes at most this much of the offending input


@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str
    stage: str = ""  # "" = derived from the code: parse errors vs. validation
    exception: str = ""  # class of the error behind it, when there was one

    @property
    def where(self) -> str:
        return self.stage or (PARSE if self.code in _PARSE_CODES else VALIDATE)


@dataclass(frozen=True)
class Limits:
    """What one record may hold before it is rejected instead of stored (settings)."""

    max_text_chars: int = 20000
    max_record_bytes: int = 1_000_000
    max_metadata_bytes: int = 16384
    max_metadata_keys: int = 200
    oldest: datetime = datetime(1990, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(days=1)
    time_budget_s: float = 2.0

    @classmethod
    def from_settings(cls, settings) -> Limits:  # type: ignore[no-untyped-def]
        return cls(
            max_text_chars=settings.max_text_chars,
            max_record_bytes=settings.max_record_bytes,
            max_metadata_bytes=settings.max_metadata_bytes,
            max_metadata_keys=settings.max_metadata_keys,
            oldest=datetime.fromisoformat(settings.oldest_timestamp),
            max_future=timedelta(seconds=settings.max_future_seconds),
            time_budget_s=settings.record_time_budget_s,
        )


def _shown(value: Any) -> str:
    """A rejected value as a reason may quote it: PII-redacted and cut short (reasons are
    kept in trends.dead_letters, which the BI role reads)."""
    text = repr(redact_pii(value)[0] if isinstance(value, str) else value)
    return text if len(text) <= MAX_INPUT_REPR else text[:MAX_INPUT_REPR] + "...(truncated)"


_JSON_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               dict: "an object", list: "an array", type(None): "null"}


def _kind_of(value: Any) -> str:
    """What a wrongly typed value is, never the value itself: it may be free text."""
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} of {len(value)} characters" if isinstance(value, str) else kind


# pydantic error type -> our code, checked in order against each error
_TIMESTAMP_TYPES = ("datetime", "timezone", "date_")


def _classify(model: type[BaseModel], exc: ValidationError) -> Rejection:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind, loc = first["type"], ".".join(str(p) for p in first["loc"])
    if kind == "json_invalid":
        return Rejection("malformed_json", f"not valid JSON: {first['msg']}")
    if kind == "model_type" or (kind.endswith("_type") and not loc):
        return Rejection("not_an_object", "the message must be one JSON object")
    missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
    if missing:
        return Rejection(
            "missing_field",
            f"required field(s) missing: {', '.join(missing)} "
            f"(see schemas/jsonschema/ for the {model.__name__} contract)",
        )
    if loc == "source" and kind == "enum":
        return Rejection(
            "unknown_source",
            f"unknown source {_shown(first.get('input'))}; expected one of "
            f"{', '.join(s.value for s in Source)}",
        )
    if any(kind.startswith(t) for t in _TIMESTAMP_TYPES) or loc in ("created_at", "updated_at"):
        return Rejection(
            "bad_timestamp",
            f"{loc} {_shown(first.get('input'))} is not an ISO 8601 timestamp with a time zone "
            f"({first['msg']})",
        )
    if loc == "text":
        return Rejection("empty_text", "text is empty")
    if kind == "extra_forbidden":
        return Rejection("unknown_field", f"unknown field {loc!r} (put extras in metadata)")
    return Rejection(
        "invalid_field", f"{loc}: {first['msg']} (got {_kind_of(first.get('input'))})"
    )


def parse_model(model: type[BaseModel], raw: bytes) -> BaseModel | Rejection:
    """bytes -> model instance, or the Rejection that explains the problem."""
    try:
        # The model's own validator, as model_validate_json calls it (minus its wrapper).
        return model.__pydantic_validator__.validate_json(raw)
    except ValidationError as exc:
        # The JSON parser rejects invalid UTF-8 too; decoding only on failure keeps the
        # common path to one parse while still naming the real problem.
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as dec:
            return Rejection(
                "invalid_utf8",
                f"message is not valid UTF-8 (byte {dec.start}); re-encode as UTF-8",
            )
        return _classify(model, exc)


def check_size(raw: bytes, limits: Limits) -> Rejection | None:
    if len(raw) <= limits.max_record_bytes:
        return None
    return Rejection(
        "record_too_large",
        f"record has {len(raw)} bytes, over the limit of {limits.max_record_bytes} "
        "(TRENDMINE_MAX_RECORD_BYTES)",
    )


def _nul_field(model: BaseModel | FastFeedback) -> str | None:
    """The first string field holding a NUL byte (Postgres text cannot store one)."""
    fields = (
        msgspec.structs.asdict(model).items() if isinstance(model, FastFeedback) else model
    )
    for name, value in fields:
        if isinstance(value, str) and "\x00" in value:
            return name
        if isinstance(value, AccountRef) and any(
            isinstance(v, str) and "\x00" in v for _, v in value
        ):
            return name
    return None


def _metadata_problem(metadata: dict, limits: Limits) -> Rejection | None:
    """Why metadata cannot be stored as-is (jsonb: no NUL, no NaN/Infinity; bounded)."""
    keys = 0
    stack: list[Any] = [metadata]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keys += len(node)
            if keys > limits.max_metadata_keys:
                return Rejection(
                    "metadata_too_large", f"metadata has more than {limits.max_metadata_keys} keys"
                )
            for k, v in node.items():
                if "\x00" in k:
                    return Rejection("nul_byte", "a metadata key contains a NUL byte")
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            if "\x00" in node:
                return Rejection("nul_byte", "a metadata string contains a NUL byte")
        elif isinstance(node, float) and not math.isfinite(node):
            return Rejection(
                "invalid_field", "metadata holds NaN or Infinity, which JSON cannot store"
            )
    size = len(json.dumps(metadata, ensure_ascii=False).encode())
    if size > limits.max_metadata_bytes:
        return Rejection(
            "metadata_too_large",
            f"metadata is {size} bytes as JSON, over {limits.max_metadata_bytes} "
            "(TRENDMINE_MAX_METADATA_BYTES)",
        )
    return None


def _timestamp_problem(
    name: str, ts: datetime | None, limits: Limits, latest: datetime
) -> Rejection | None:
    if ts is None or limits.oldest <= ts <= latest:
        return None
    return Rejection(
        "timestamp_out_of_range",
        f"{name} {ts.isoformat()} is outside {limits.oldest.date()} .. now + "
        f"{limits.max_future} (TRENDMINE_OLDEST_TIMESTAMP, TRENDMINE_MAX_FUTURE_SECONDS)",
    )


def check_storable(
    model: BaseModel | FastFeedback,
    limits: Limits,
    raw: bytes | None = None,
    latest: datetime | None = None,
) -> Rejection | None:
    """Reject what Postgres would refuse (NUL bytes, unbounded metadata) or what is not sane
    (timestamps outside the window), so that one record never fails a batch's write.

    `raw` (the JSON it was parsed from) lets the NUL check skip the walk: JSON can only
    carry a NUL as the escape \\u0000. `latest` is the newest timestamp accepted (the
    caller computes it once per batch)."""
    field = _nul_field(model) if raw is None or b"\\u0000" in raw else None
    if field:
        return Rejection(
            "nul_byte", f"{field} contains a NUL byte (\\u0000), which Postgres cannot store"
        )
    metadata = getattr(model, "metadata", None)
    if metadata:
        problem = _metadata_problem(metadata, limits)
        if problem:
            return problem
    latest = latest or datetime.now(UTC) + limits.max_future
    created, updated = getattr(model, "created_at", None), getattr(model, "updated_at", None)
    if created is not None and not limits.oldest <= created <= latest:
        return _timestamp_problem("created_at", created, limits, latest)
    if updated is not None and not limits.oldest <= updated <= latest:
        return _timestamp_problem("updated_at", updated, limits, latest)
    return None


# ---------------------------------------------------------------------------- fast path

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# Timestamps are read as text and parsed below: msgspec rounds a 7th fraction digit where
# pydantic truncates it, so only the RFC 3339 shape our producers write is parsed here
# (any other shape pydantic accepts, such as a space separator or +hhmm, goes to it).
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


def _upto(n: int) -> Any:
    return Annotated[str, msgspec.Meta(max_length=n)] | None


class FastAccountRef(msgspec.Struct, forbid_unknown_fields=True):
    """AccountRef's fields and limits (schemas/events.py)."""

    system: _upto(64) = None  # type: ignore[valid-type]
    id: _upto(256) = None  # type: ignore[valid-type]
    name: _upto(512) = None  # type: ignore[valid-type]
    domain: _upto(253) = None  # type: ignore[valid-type]


class FastFeedback(msgspec.Struct, forbid_unknown_fields=True):
    """FeedbackEvent's fields and limits, decoded by msgspec (C) for the hot path. The
    pydantic model stays the contract (and the JSON Schema); `fast_feedback` hands anything
    this struct cannot vouch for to it."""

    source: Source
    source_id: _Id
    text: Annotated[str, msgspec.Meta(min_length=1)]
    created_at: Any  # the JSON value; fast_feedback makes it a datetime
    account_id: _upto(256) = None  # type: ignore[valid-type]
    updated_at: Any = None  # likewise
    opportunity_id: _upto(256) = None  # type: ignore[valid-type]
    author: _upto(512) = None  # type: ignore[valid-type]
    votes: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT32)] | None = None
    url: _upto(2048) = None  # type: ignore[valid-type]
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    account_ref: FastAccountRef | None = None
    author_email: _upto(320) = None  # type: ignore[valid-type]


assert set(FastFeedback.__struct_fields__) == set(FeedbackEvent.model_fields)
assert set(FastAccountRef.__struct_fields__) == set(AccountRef.model_fields)
_decode_feedback = msgspec.json.Decoder(FastFeedback).decode
# If the JSON decoder ever reads an integer beyond 64 bits as a float (pydantic keeps the
# int), a float this large in metadata sends the record to pydantic.
_FLOAT_EXACT = float(2**63)


def _kept(value: str | None) -> bool:
    """pydantic would keep this string as it is (str_strip_whitespace strips nothing);
    `str.strip` returns the very same object when it has nothing to strip."""
    return value is None or value.strip() is value


def _ref_kept(ref: FastAccountRef | None) -> bool:
    return ref is None or (
        _kept(ref.system) and _kept(ref.id) and _kept(ref.name) and _kept(ref.domain)
    )


def _timestamp(value: Any) -> datetime | None:
    if type(value) is not str or _RFC3339.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # 2026-02-30, 24:00:00, second 60: pydantic names the problem
        return None


def _metadata_same_in_pydantic(metadata: dict) -> bool:
    """pydantic strips metadata's top-level keys; no float that was an integer literal."""
    stack: list[Any] = []
    for k, v in metadata.items():
        if k.strip() is not k:
            return False
        stack.append(v)
    while stack:
        node = stack.pop()
        if type(node) is dict:
            stack.extend(node.values())
        elif type(node) is list:
            stack.extend(node)
        elif type(node) is float and not -_FLOAT_EXACT < node < _FLOAT_EXACT:
            return False
    return True


def fast_feedback(raw: bytes) -> FastFeedback | None:
    """A clean feedback record decoded by msgspec (~5x cheaper than pydantic here). It
    accepts a subset of what FeedbackEvent accepts, with the same values (checked against
    pydantic in tests/test_validate_fastpath.py); None means "not sure": pydantic then
    validates the record and names any problem, so every rejection keeps its code, reason
    and stage."""
    if b"\\u0000" in raw:  # NUL: check_storable's field-by-field walk reports it
        return None
    try:
        event = _decode_feedback(raw)
    except (msgspec.DecodeError, ValueError):  # ValueError: invalid UTF-8 in a key
        return None
    if not (
        _kept(event.text) and _kept(event.source_id) and _kept(event.account_id)
        and _kept(event.author) and _kept(event.url) and _kept(event.opportunity_id)
        and _kept(event.author_email) and _ref_kept(event.account_ref)
    ):
        return None
    if event.metadata and not _metadata_same_in_pydantic(event.metadata):
        return None
    created = _timestamp(event.created_at)
    if created is None:
        return None
    event.created_at = created
    if event.updated_at is not None:
        updated = _timestamp(event.updated_at)
        if updated is None:
            return None
        event.updated_at = updated
    return event


def validate_feedback(
    raw: bytes,
    *,
    expected_source: Source | None,
    max_text_chars: int,
    limits: Limits | None = None,
    latest: datetime | None = None,
) -> FeedbackEvent | FastFeedback | Rejection:
    """Validate a feedback message from a ``feedback.<source>`` topic (msgspec first)."""
    limits = limits or Limits(max_text_chars=max_text_chars)
    too_big = check_size(raw, limits)
    if too_big:
        return too_big
    result = fast_feedback(raw) or parse_model(FeedbackEvent, raw)
    if isinstance(result, Rejection):
        return result
    if expected_source is not None and result.source != expected_source:
        return Rejection(
            "wrong_topic",
            f"source {result.source.value!r} arrived on the topic for {expected_source.value!r}; "
            "publish it to its own feedback.<source> topic",
        )
    if len(result.text) > max_text_chars:
        return Rejection(
            "text_too_long",
            f"text has {len(result.text)} characters, over the limit of {max_text_chars} "
            "(raise TRENDMINE_MAX_TEXT_CHARS, then `trendmine dlq replay --code text_too_long`)",
        )
    return check_storable(result, limits, raw, latest) or result


def _validate_crm(model: type[BaseModel], raw: bytes, limits: Limits | None):  # type: ignore[no-untyped-def]
    limits = limits or Limits()
    too_big = check_size(raw, limits)
    if too_big:
        return too_big
    result = parse_model(model, raw)
    if isinstance(result, Rejection):
        return result
    return check_storable(result, limits, raw) or result


def validate_account(raw: bytes, limits: Limits | None = None) -> Account | Rejection:
    return _validate_crm(Account, raw, limits)


def validate_opportunity(raw: bytes, limits: Limits | None = None) -> Opportunity | Rejection:
    return _validate_crm(Opportunity, raw, limits)

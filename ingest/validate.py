"""Validate one raw Kafka message into a canonical model, or say exactly why not.

Every rejection carries a stable ``code`` (for counting and filtering) and a ``reason`` a
human can act on; the consumer sends it to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from schemas.events import Account, FeedbackEvent, Opportunity
from schemas.names import Source


@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str


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
            f"unknown source {first.get('input')!r}; expected one of "
            f"{', '.join(s.value for s in Source)}",
        )
    if any(kind.startswith(t) for t in _TIMESTAMP_TYPES) or loc in ("created_at", "updated_at"):
        return Rejection(
            "bad_timestamp",
            f"{loc} {first.get('input')!r} is not an ISO 8601 timestamp with a time zone "
            f"({first['msg']})",
        )
    if loc == "text":
        return Rejection("empty_text", "text is empty")
    if kind == "extra_forbidden":
        return Rejection("unknown_field", f"unknown field {loc!r} (put extras in metadata)")
    return Rejection("invalid_field", f"{loc}: {first['msg']} (got {first.get('input')!r})")


def parse_model(model: type[BaseModel], raw: bytes) -> BaseModel | Rejection:
    """bytes -> model instance, or the Rejection that explains the problem."""
    try:
        return model.model_validate_json(raw)
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


def validate_feedback(
    raw: bytes, *, expected_source: Source | None, max_text_chars: int
) -> FeedbackEvent | Rejection:
    """Validate a feedback message from a ``feedback.<source>`` topic."""
    result = parse_model(FeedbackEvent, raw)
    if isinstance(result, Rejection):
        return result
    assert isinstance(result, FeedbackEvent)
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
    return result


def validate_account(raw: bytes) -> Account | Rejection:
    return parse_model(Account, raw)  # type: ignore[return-value]


def validate_opportunity(raw: bytes) -> Opportunity | Rejection:
    return parse_model(Opportunity, raw)  # type: ignore[return-value]

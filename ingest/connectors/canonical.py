"""JSON Lines of canonical objects (FeedbackEvent / Account / Opportunity field names).

Passed through as they are: the consumer validates field contents and dead-letters what
fails, so a bad value is reported once, in one place, with the model's own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ingest.connectors._base import FEEDBACK_TARGETS, Head, Item, Parsed, Unparseable, iter_jsonl

KEY_FIELD = {"accounts": "account_id", "opportunities": "opportunity_id"}
# Fields that tell the three canonical shapes apart during detection.
SHAPE_FIELDS = {
    "feedback": {"source_id", "text"},
    "accounts": {"account_id", "segment"},
    "opportunities": {"opportunity_id", "stage"},
}


def parse(target: str, stream: IO[bytes]) -> Iterator[Item]:
    key_field = KEY_FIELD.get(target, "account_id")
    for n, obj, raw in iter_jsonl(stream):
        if isinstance(obj, Exception):
            yield Unparseable(raw, f"line {n} is not valid JSON ({obj})")
        elif not isinstance(obj, dict):
            yield Unparseable(raw, f"line {n} is a JSON {type(obj).__name__}, not an object")
        else:
            key = obj.get(key_field)
            yield Parsed(str(key) if key is not None else None, obj)


def sniff(head: Head) -> bool:
    shape = SHAPE_FIELDS["feedback" if head.target in FEEDBACK_TARGETS else head.target]
    return head.kind == "jsonl" and shape <= head.first_keys

"""Kafka message -> storable row: validate, normalise, redact. Pure, no I/O.

`Transformer` is small and picklable, and `Message` is a plain tuple, so the ingest worker
can run this CPU-bound step in a separate process while it fetches the next batch and
writes the previous one (Python threads would share one core through the GIL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from ingest.normalise import normalise_text
from ingest.redact import Redactor, redact_value
from ingest.validate import (
    DATABASE,
    NORMALISE,
    Limits,
    Rejection,
    validate_account,
    validate_feedback,
    validate_opportunity,
)
from ingest.writer import encode_feedback, feedback_row
from schemas.events import Account, Opportunity
from schemas.names import ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC, Source, feedback_topic

EMPTY_AFTER_CLEANUP = Rejection(
    "empty_text", "text is empty after removing markup, quotes and signature", NORMALISE
)


class Message(NamedTuple):
    """The parts of a Kafka record the transform reads (cheap to pickle)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # ms since the epoch, as Kafka stamps a record
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, rec) -> Message:  # type: ignore[no-untyped-def]
        return cls(rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value)


class Messages(NamedTuple):
    """A batch as columns, the way the worker sends it to the transform process: pickling
    six lists costs ~0.2 us per record where a list of Message tuples costs ~3 us, paid in
    the worker's own thread (the one that also fetches from Kafka)."""

    topics: list[str]
    partitions: list[int]
    offsets: list[int]
    timestamps: list[int]
    keys: list[bytes | None]
    values: list[bytes]

    @classmethod
    def of(cls, records) -> Messages:  # type: ignore[no-untyped-def]
        return cls(
            [r.topic for r in records],
            [r.partition for r in records],
            [r.offset for r in records],
            [r.timestamp for r in records],
            [r.key for r in records],
            [r.value for r in records],
        )

    def rows(self) -> list[Message]:
        return list(map(Message, *self))


@dataclass
class Transformed:
    feedback: list[bytes] = field(default_factory=list)  # writer.encode_feedback rows
    accounts: list[tuple[Account, datetime]] = field(default_factory=list)
    opportunities: list[tuple[Opportunity, datetime]] = field(default_factory=list)
    rejects: list[tuple[int, Rejection]] = field(default_factory=list)  # (index in batch, why)
    # index in the batch of each feedback row / account / opportunity
    feedback_index: list[int] = field(default_factory=list)
    repeats: bool = False  # a record appears twice among the feedback rows: the writer dedupes
    account_index: list[int] = field(default_factory=list)
    opportunity_index: list[int] = field(default_factory=list)


class Transformer:
    """Turns a batch of messages into rows and rejections; `kinds` maps topic -> what it holds
    (a feedback Source, or the accounts/opportunities topic name)."""

    def __init__(
        self,
        kinds: dict[str, Source | str],
        *,
        max_text_chars: int,
        redact_pii: bool = True,
        limits: Limits | None = None,
    ) -> None:
        self.kinds = kinds
        self.max_text_chars = max_text_chars
        self.limits = limits or Limits(max_text_chars=max_text_chars)
        self.redactor = Redactor(enabled=redact_pii)

    @classmethod
    def from_settings(cls, settings) -> Transformer:  # type: ignore[no-untyped-def]
        """The Transformer of every ingest path (the worker, `store_files`): each ingest
        topic, the record limits and the redaction switch as configured."""
        kinds: dict[str, Source | str] = {
            settings.topic(t): t for t in (ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC)
        }
        kinds.update({settings.topic(feedback_topic(s)): s for s in Source})
        return cls(
            kinds,
            max_text_chars=settings.max_text_chars,
            redact_pii=settings.redact_pii,
            limits=Limits.from_settings(settings),
        )

    def __call__(self, messages) -> Transformed:  # type: ignore[no-untyped-def]
        """`messages`: Messages, or a sequence of Message-like records (Kafka's own)."""
        if isinstance(messages, Messages):
            messages = messages.rows()
        out = Transformed()
        keys: set[tuple[str, str]] = set()
        latest = datetime.now(UTC) + self.limits.max_future  # once per batch
        for i, msg in enumerate(messages):
            kind = self.kinds.get(msg.topic)
            if isinstance(kind, Source):
                got = self._feedback(msg, kind, latest)
                if isinstance(got, Rejection):
                    out.rejects.append((i, got))
                    continue
                key, row = got
                out.repeats = out.repeats or key in keys
                keys.add(key)
                out.feedback.append(row)
                out.feedback_index.append(i)
                continue
            if kind is None:
                out.rejects.append(
                    (i, Rejection("wrong_topic", f"not an ingest topic: {msg.topic}"))
                )
                continue
            ts = datetime.fromtimestamp(msg.timestamp / 1000, UTC)
            crm = validate_account if kind == ACCOUNTS_TOPIC else validate_opportunity
            result = crm(msg.value, self.limits)
            if isinstance(result, Rejection):
                out.rejects.append((i, result))
            elif kind == ACCOUNTS_TOPIC:
                out.accounts.append((result, ts))  # type: ignore[arg-type]
                out.account_index.append(i)
            elif kind == OPPORTUNITIES_TOPIC:
                out.opportunities.append((result, ts))  # type: ignore[arg-type]
                out.opportunity_index.append(i)
        return out

    def _feedback(
        self, msg: Message, source: Source, latest: datetime
    ) -> tuple[tuple[str, str], bytes] | Rejection:
        """One feedback message -> its key and encoded row, within the per-record time
        budget."""
        started = time.perf_counter()
        event = validate_feedback(
            msg.value,
            expected_source=source,
            max_text_chars=self.limits.max_text_chars,
            limits=self.limits,
            latest=latest,
        )
        if isinstance(event, Rejection):
            return event
        text, _ = self.redactor(normalise_text(event.text))
        # Checked after the fact: normalisation is linear and the text length is capped, so
        # this catches a pathological input (or a starved machine) without preempting it.
        spent = time.perf_counter() - started
        if spent > self.limits.time_budget_s:
            return Rejection(
                "over_budget",
                f"validating and normalising took {spent:.2f} s, over the per-record budget "
                f"of {self.limits.time_budget_s} s (TRENDMINE_RECORD_TIME_BUDGET_S)",
                NORMALISE,
            )
        if not text.strip():
            return EMPTY_AFTER_CLEANUP
        row = feedback_row(event, text, msg.topic, msg.partition, msg.offset, self._redact_value)
        try:
            return (source, event.source_id), encode_feedback(row)
        except OverflowError as exc:  # a number no column type holds: Postgres would refuse it
            return Rejection(
                "database_rejected", f"a value Postgres cannot hold: {exc}", DATABASE,
                f"{type(exc).__module__}.{type(exc).__qualname__}",
            )

    def _redact_value(self, value):  # type: ignore[no-untyped-def]
        return None if value is None else redact_value(value, self.redactor)

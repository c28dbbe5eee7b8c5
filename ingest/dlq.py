"""The dead-letter topic: every rejected record, with its reason and the original bytes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from psycopg.rows import dict_row

from foundation.config import Settings
from foundation.db import connect
from foundation.errors import ServiceUnavailable, TrendmineError
from ingest.kafka import consumer, producer
from ingest.normalise import strip_controls
from ingest.redact import redact_pii
from ingest.validate import Rejection
from schemas import names

log = logging.getLogger(__name__)


MAX_REASON_CHARS = 1000  # reason and exception message, in headers and in Postgres
PREVIEW_CHARS = 500  # the redacted start of the record kept in trendmine.dead_letters
_RECORD_OVERHEAD = 512  # record framing, generously, on top of key + value + headers


def _truncate(text: str, limit: int = MAX_REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "...(truncated)"


def _reason(text: str) -> str:
    """A reason as it is stored: no control characters, PII-redacted (it may quote an
    input or a database error that holds one), then truncated."""
    return _truncate(redact_pii(strip_controls(text))[0])


def dlq_headers(
    code: str,
    reason: str,
    *,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
    stage: str = "",
    exception: str = "",
) -> list[tuple[str, bytes]]:
    """trendmine's own headers, then Kafka Connect's error context (same facts)."""
    reason = _reason(reason)
    headers = [
        (names.DLQ_HEADER_ERROR_CODE, code.encode()),
        (names.DLQ_HEADER_REASON, reason.encode()),
        (names.DLQ_HEADER_REJECTED_AT, datetime.now(UTC).isoformat().encode()),
    ]
    if stage:
        headers.append((names.DLQ_HEADER_STAGE, stage.encode()))
        headers.append((names.CONNECT_HEADER_STAGE, stage.encode()))
    if topic is not None:
        headers.append((names.DLQ_HEADER_TOPIC, topic.encode()))
        headers.append((names.CONNECT_HEADER_TOPIC, topic.encode()))
    if partition is not None:
        headers.append((names.DLQ_HEADER_PARTITION, str(partition).encode()))
        headers.append((names.CONNECT_HEADER_PARTITION, str(partition).encode()))
    if offset is not None:
        headers.append((names.DLQ_HEADER_OFFSET, str(offset).encode()))
        headers.append((names.CONNECT_HEADER_OFFSET, str(offset).encode()))
    if key is not None:
        headers.append((names.DLQ_HEADER_KEY, key[:MAX_REASON_CHARS]))
    headers.append((names.CONNECT_HEADER_EXCEPTION, (exception or code).encode()))
    headers.append((names.CONNECT_HEADER_MESSAGE, reason.encode()))
    return headers


def fit_value(raw: bytes, key: bytes | None, headers: list[tuple[str, bytes]], limit: int):
    """The value to publish: the original bytes, unless they alone break the broker's size
    limit; then a truncated copy, and a header that says so (original size)."""
    framing = _RECORD_OVERHEAD + len(key or b"") + sum(len(k) + len(v) + 8 for k, v in headers)
    if len(raw) + framing <= limit:
        return raw, headers
    return raw[: max(limit - framing - 64, 0)], [
        *headers,
        (names.DLQ_HEADER_VALUE_TRUNCATED, str(len(raw)).encode()),
    ]


class _Failed:
    """A send that failed before it reached the producer's queue (too large, no metadata)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get(self, timeout: float | None = None):  # type: ignore[no-untyped-def]
        raise self.exc


def send(
    prod: KafkaProducer,
    settings: Settings,
    raw: bytes,
    code: str,
    reason: str,
    *,
    topic: str | None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    stage: str = "",
    exception: str = "",
):
    """Publish one rejected record; returns its send future: `confirm` it before moving on."""
    headers = dlq_headers(
        code, reason, topic=topic, partition=partition, offset=offset, key=key,
        stage=stage, exception=exception,
    )
    value, headers = fit_value(raw, key, headers, settings.dlq_max_bytes)
    try:
        return prod.send(settings.topic(names.DLQ_TOPIC), key=key, value=value, headers=headers)
    except KafkaError as exc:
        return _Failed(exc)


class DeadLetterUnwritable(TrendmineError):
    """A dead letter the broker did not acknowledge: nothing past it may be committed."""


def confirm(prod: KafkaProducer, futures: list, timeout: float, what: str = "dead letter"):
    """Flush and wait for the broker's ack (acks=all) of every send; returns their
    RecordMetadata in order, or raises DeadLetterUnwritable naming the first failure."""
    if not futures:
        return []
    prod.flush(timeout=timeout)
    metas = []
    for future in futures:
        try:
            metas.append(future.get(timeout=timeout))
        except Exception as exc:  # KafkaError, or the flush timed out
            raise DeadLetterUnwritable(
                f"the broker did not accept a {what}: {type(exc).__name__}: "
                f"{_truncate(str(exc), 200)}",
                "check the broker (its message.max.bytes, ACLs, disk); nothing past this "
                "batch was committed, so a restart retries it",
            ) from exc
    return metas


def preview(raw: bytes) -> str:
    """The start of a record for people to read: decoded, no control characters,
    PII-redacted, truncated."""
    text = raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return _truncate(redact_pii(strip_controls(text))[0], PREVIEW_CHARS)


@dataclass(frozen=True)
class Letter:
    """One rejected record on its way out: to the DLQ topic and to trendmine.dead_letters."""

    raw: bytes
    rejection: Rejection
    topic: str | None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None

    def send(self, prod: KafkaProducer, settings: Settings):  # type: ignore[no-untyped-def]
        r = self.rejection
        return send(
            prod, settings, self.raw, r.code, r.reason, topic=self.topic,
            partition=self.partition, offset=self.offset, key=self.key,
            stage=r.where, exception=r.exception,
        )


_RECORD_SQL = f"""
INSERT INTO {names.DEAD_LETTERS_TABLE} AS d
    (source_topic, source_partition, source_offset, stage, error_code, reason,
     exception_class, value_bytes, preview, dlq_topic, dlq_partition, dlq_offset)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""
# A batch replayed after a crash publishes its dead letters again: point at the newest copy.
_REPOINT_SQL = f"""
UPDATE {names.DEAD_LETTERS_TABLE} SET dlq_partition = %s, dlq_offset = %s
WHERE source_topic = %s AND source_partition = %s AND source_offset = %s
  AND dlq_topic = %s AND (dlq_partition, dlq_offset) IS DISTINCT FROM (%s, %s)
"""


def record(conn, settings: Settings, letters: list[Letter], metas: list) -> None:  # type: ignore[no-untyped-def]
    """Write confirmed dead letters into trendmine.dead_letters, once per origin."""
    if not letters:
        return
    dlq_topic = settings.topic(names.DLQ_TOPIC)
    rows, repoint = [], []
    for letter, meta in zip(letters, metas, strict=True):
        r = letter.rejection
        part, off = (meta.partition, meta.offset) if meta is not None else (None, None)
        rows.append((
            letter.topic, letter.partition, letter.offset, r.where, r.code,
            _reason(r.reason), r.exception or None, len(letter.raw), preview(letter.raw),
            dlq_topic, part, off,
        ))
        if letter.offset is not None and part is not None:
            repoint.append(
                (part, off, letter.topic, letter.partition, letter.offset, dlq_topic, part, off)
            )
    with conn.cursor() as cur:
        cur.executemany(_RECORD_SQL, rows)
        if repoint:
            cur.executemany(_REPOINT_SQL, repoint)


@dataclass(frozen=True)
class DeadLetter:
    dlq_partition: int
    dlq_offset: int
    code: str
    reason: str
    topic: str | None
    partition: int | None
    offset: int | None
    key: bytes | None
    rejected_at: str
    raw: bytes
    stage: str = ""
    truncated_from: int | None = None  # original size when the value is a truncated copy

    @property
    def origin(self) -> tuple:
        """Where it came from; a record re-rejected after a crash has the same origin."""
        if self.offset is None:
            return ("produce", self.dlq_partition, self.dlq_offset)
        return (self.topic, self.partition, self.offset)


def _decode(msg) -> DeadLetter:
    h = {k: v for k, v in (msg.headers or [])}

    def text(name: str) -> str | None:
        return h[name].decode(errors="replace") if name in h else None

    part, off = text(names.DLQ_HEADER_PARTITION), text(names.DLQ_HEADER_OFFSET)
    truncated = text(names.DLQ_HEADER_VALUE_TRUNCATED)
    return DeadLetter(
        msg.partition,
        msg.offset,
        text(names.DLQ_HEADER_ERROR_CODE) or "unknown",
        text(names.DLQ_HEADER_REASON) or "",
        text(names.DLQ_HEADER_TOPIC),
        int(part) if part else None,
        int(off) if off else None,
        h.get(names.DLQ_HEADER_KEY),
        text(names.DLQ_HEADER_REJECTED_AT) or "",
        msg.value,
        text(names.DLQ_HEADER_STAGE) or "",
        int(truncated) if truncated else None,
    )


def read_all(settings: Settings, idle_seconds: float = 2.0) -> Iterator[DeadLetter]:
    """Every record on the DLQ, from the beginning, without joining a group."""
    topic = settings.topic(names.DLQ_TOPIC)
    c = consumer(settings, group_id=None)
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        c.assign(tps)
        c.seek_to_beginning(*tps)
        last = time.monotonic()
        while time.monotonic() - last < idle_seconds:
            batch = c.poll(timeout_ms=300)
            for msgs in batch.values():
                last = time.monotonic()
                for m in msgs:
                    yield _decode(m)
    finally:
        c.close()


# ---------------------------------------------------------------------------- the ledger


def _ledger_key(d: DeadLetter) -> tuple:
    return (d.topic, d.partition, d.offset) if d.offset is not None else (
        "produce", d.dlq_partition, d.dlq_offset
    )


def sync(conn, settings: Settings, letters: list[DeadLetter]) -> None:  # type: ignore[no-untyped-def]
    """Record dead letters found on the topic but not yet in trendmine.dead_letters (those
    `produce` rejected, or written before the table existed)."""
    dlq_topic = settings.topic(names.DLQ_TOPIC)
    with conn.cursor() as cur:
        cur.executemany(
            _RECORD_SQL,
            [
                (
                    d.topic, d.partition, d.offset,
                    d.stage or ("produce" if d.offset is None else "validate"), d.code,
                    _reason(d.reason), None, d.truncated_from or len(d.raw), preview(d.raw),
                    dlq_topic, d.dlq_partition, d.dlq_offset,
                )
                for d in letters
            ],
        )


def _pending(conn, settings: Settings, code: str | None, topic: str | None) -> dict:  # type: ignore[no-untyped-def]
    """Ledger keys of the dead letters still to replay (and matching the filter) -> id."""
    rows = conn.execute(
        f"""
        SELECT dead_letter_id, source_topic, source_partition, source_offset, dlq_partition,
               dlq_offset
        FROM {names.DEAD_LETTERS_TABLE}
        WHERE replayed_at IS NULL AND dlq_topic = %s
          AND (%s::text IS NULL OR error_code = %s) AND (%s::text IS NULL OR source_topic = %s)
        """,
        (settings.topic(names.DLQ_TOPIC), code, code, topic, topic),
    ).fetchall()
    return {
        ((t, p, o) if o is not None else ("produce", dp, do)): i for i, t, p, o, dp, do in rows
    }


def replay(
    settings: Settings,
    *,
    code: str | None = None,
    topic: str | None = None,
    idle_seconds: float = 2.0,
) -> tuple[int, int]:
    """Republish dead letters (original bytes) to their origin topic, once each.

    trendmine.dead_letters is the ledger: the selected letters still unreplayed are sent,
    confirmed by the broker, then marked replayed_at; the others stay replayable. Running it
    twice sends nothing twice. Returns (republished, skipped: not selected or already done).
    """
    letters = {_ledger_key(d): d for d in read_all(settings, idle_seconds)}
    prod = producer(settings)
    try:
        with connect(settings) as conn:
            sync(conn, settings, list(letters.values()))
            pending = _pending(conn, settings, code, topic)
            chosen = [
                (pending[k], d) for k, d in letters.items()
                if k in pending and d.topic and d.truncated_from is None
            ]
            futures = [prod.send(d.topic, key=d.key, value=d.raw) for _, d in chosen]
            confirm(prod, futures, settings.dlq_ack_timeout_s, "replayed record")
            conn.execute(
                f"UPDATE {names.DEAD_LETTERS_TABLE} SET replayed_at = now() "
                "WHERE dead_letter_id = ANY(%s)",
                ([i for i, _ in chosen],),
            )
            conn.commit()
            missing = len(pending) - len(chosen)
            if missing:
                log.warning(
                    "%d selected dead letter(s) cannot be replayed: their original bytes are "
                    "not on %s (lost with an embedded broker, or truncated)", missing,
                    settings.topic(names.DLQ_TOPIC),
                )
    finally:
        prod.close()
    return len(chosen), len(letters) - len(chosen)


@dataclass
class Listing:
    total: int
    by_code: list[tuple[str, int]]
    rows: list[dict]  # trends.dead_letters rows, newest first


def listing(settings: Settings, *, code: str | None = None, limit: int = 20) -> Listing:
    """The dead letters from Postgres (topic letters not yet recorded are recorded first;
    with the broker down, Postgres alone answers)."""
    try:
        letters = list(read_all(settings))
    except ServiceUnavailable as exc:
        log.warning("listing dead letters from Postgres only: %s", exc)
        letters = []
    view = f"{names.READ_SCHEMA}.dead_letters"
    with connect(settings) as conn:
        sync(conn, settings, letters)
        conn.commit()
        by_code = conn.execute(
            f"SELECT error_code, count(*) FROM {view} GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT * FROM {view} WHERE %s::text IS NULL OR error_code = %s "
                "ORDER BY rejected_at DESC, dead_letter_id DESC LIMIT %s",
                (code, code, limit),
            ).fetchall()
    return Listing(sum(n for _, n in by_code), [(c, n) for c, n in by_code], rows)

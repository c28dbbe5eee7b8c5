"""Dead letters: every rejected record goes to the feedback.dlq topic and to the ledger.

The ledger (trendmine.dead_letters) keys a letter by what it is, sha256 of (source topic,
source id, content hash), never by where it sat on a topic: a topic or offset reset re-reads
the same records under new offsets. It keeps the original bytes (bounded), so replay works
from Postgres alone, and a redacted copy for the BI role (trends.dead_letters). The topic is
read incrementally (trendmine.dead_letter_cursor) to pick up letters only the topic got
(`intake`, or `produce` without Postgres).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
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
REDACTED_CHARS = 65_536  # the redacted copy of the whole record, for the BI role
_SOURCE_ID_FIELDS = ("source_id", "account_id", "opportunity_id")
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
    letter_key: str = "",
    attempt: int = 0,
    replay_of: int | None = None,
) -> list[tuple[str, bytes]]:
    """trendmine's own headers, then Kafka Connect's error context (same facts)."""
    reason = _reason(reason)
    headers = [
        (names.DLQ_HEADER_ERROR_CODE, code.encode()),
        (names.DLQ_HEADER_REASON, reason.encode()),
        (names.DLQ_HEADER_REJECTED_AT, datetime.now(UTC).isoformat().encode()),
    ]
    if letter_key:
        headers.append((names.DLQ_HEADER_LETTER_KEY, letter_key.encode()))
    if attempt:
        headers += replay_headers(replay_of, attempt)
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
    attempt: int = 0,
    replay_of: int | None = None,
):
    """Publish one rejected record; returns its send future: `confirm` it before moving on."""
    headers = dlq_headers(
        code, reason, topic=topic, partition=partition, offset=offset, key=key,
        stage=stage, exception=exception, letter_key=identity(topic, raw).key,
        attempt=attempt, replay_of=replay_of,
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



def _readable(raw: bytes, chars: int) -> str:
    """Bytes decoded for people: no control characters, PII-redacted, truncated."""
    text = raw[: chars * 4].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return _truncate(redact_pii(strip_controls(text))[0], chars)


def preview(raw: bytes) -> str:
    """The start of a record for people to read."""
    return _readable(raw, PREVIEW_CHARS)


def _source_id(raw: bytes) -> str | None:
    """The record's id in its system, when it parses far enough to have one."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    for name in _SOURCE_ID_FIELDS:
        value = obj.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return strip_controls(str(value)).replace("\x00", "")[:200] or None
    return None


@dataclass(frozen=True)
class Identity:
    """What a dead letter is: the ledger key and the facts it is made of."""

    key: str
    source_id: str | None
    sha256: str


def identity(source_topic: str | None, raw: bytes) -> Identity:
    """sha256 of (source topic, source id, content hash): the same record rejected again (a
    re-read after a crash or an offset reset) gets the same key, another record another."""
    content = hashlib.sha256(raw).hexdigest()
    sid = _source_id(raw)
    key = hashlib.sha256("\x00".join((source_topic or "", sid or "", content)).encode())
    return Identity(key.hexdigest(), sid, content)


def replay_headers(replay_of: int | None, attempt: int) -> list[tuple[str, bytes]]:
    """Marks a replayed record (and its letter, if it fails again) with its first letter."""
    return [
        (names.DLQ_HEADER_REPLAY_OF, str(replay_of or "").encode()),
        (names.DLQ_HEADER_ATTEMPT, str(attempt).encode()),
    ]


def replay_marks(headers) -> tuple[int, int | None]:  # type: ignore[no-untyped-def]
    """(attempt, first letter id) from a consumed record's headers; (0, None) when it is not
    a replay."""
    h = dict(headers or [])
    try:
        attempt = int(h.get(names.DLQ_HEADER_ATTEMPT, b"0") or 0)
        first = int(h[names.DLQ_HEADER_REPLAY_OF]) if h.get(names.DLQ_HEADER_REPLAY_OF) else None
    except ValueError:  # a header someone else wrote: not ours to trust
        return 0, None
    return max(attempt, 0), first


@dataclass(frozen=True)
class Letter:
    """One rejected record on its way out: to the DLQ topic and to trendmine.dead_letters."""

    raw: bytes
    rejection: Rejection
    topic: str | None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    attempt: int = 0  # n: rejected again after its n-th replay
    first_letter_id: int | None = None

    @classmethod
    def of(cls, rec, rejection: Rejection) -> Letter:  # type: ignore[no-untyped-def]
        """The letter of a consumed record (a replayed one links to its first letter)."""
        attempt, first = replay_marks(getattr(rec, "headers", None))
        return cls(rec.value, rejection, rec.topic, rec.partition, rec.offset, rec.key,
                   attempt, first)

    def send(self, prod: KafkaProducer, settings: Settings):  # type: ignore[no-untyped-def]
        r = self.rejection
        return send(
            prod, settings, self.raw, r.code, r.reason, topic=self.topic,
            partition=self.partition, offset=self.offset, key=self.key,
            stage=r.where, exception=r.exception, attempt=self.attempt,
            replay_of=self.first_letter_id,
        )


_COLUMNS = (
    "letter_key, attempt, first_letter_id, source_id, content_sha256, record_key, original, "
    "redacted, source_topic, source_partition, source_offset, stage, error_code, reason, "
    "exception_class, value_bytes, preview, dlq_topic, dlq_partition, dlq_offset"
)
# The same record again (a batch re-read after a crash or an offset reset, or its copy found
# on the topic): one row, pointing at its newest copy on the topic.
_UPSERT_SQL = f"""
INSERT INTO {names.DEAD_LETTERS_TABLE} AS d ({_COLUMNS})
VALUES ({", ".join(["%s"] * 20)})
ON CONFLICT (letter_key, attempt) DO UPDATE SET
    dlq_partition = coalesce(EXCLUDED.dlq_partition, d.dlq_partition),
    dlq_offset = coalesce(EXCLUDED.dlq_offset, d.dlq_offset),
    last_rejected_at = CASE WHEN %s THEN now() ELSE d.last_rejected_at END
"""


def _row(settings: Settings, *, raw: bytes, size: int, topic, partition, offset, key, stage,  # type: ignore[no-untyped-def]
         code, reason, exception, attempt, first, part, off, letter_key=None) -> tuple:
    ident = identity(topic, raw)
    return (
        letter_key or ident.key, attempt, first, ident.source_id, ident.sha256, key,
        raw[: settings.dlq_max_bytes], _readable(raw, REDACTED_CHARS), topic, partition, offset,
        stage, code, _reason(reason), exception or None, size, preview(raw),
        settings.topic(names.DLQ_TOPIC), part, off,
    )


def record(conn, settings: Settings, letters: list[Letter], metas: list) -> None:  # type: ignore[no-untyped-def]
    """Write confirmed dead letters into the ledger, once per record."""
    rows = []
    for letter, meta in zip(letters, metas, strict=True):
        r = letter.rejection
        part, off = (meta.partition, meta.offset) if meta is not None else (None, None)
        rows.append((*_row(
            settings, raw=letter.raw, size=len(letter.raw), topic=letter.topic,
            partition=letter.partition, offset=letter.offset, key=letter.key, stage=r.where,
            code=r.code, reason=r.reason, exception=r.exception, attempt=letter.attempt,
            first=letter.first_letter_id, part=part, off=off,
        ), True))
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_UPSERT_SQL, rows)


# ------------------------------------------------------------------ reading the DLQ topic


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter as it sits on the topic."""

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
    letter_key: str | None = None
    attempt: int = 0
    first_letter_id: int | None = None

    @property
    def origin(self) -> tuple:
        """Where it came from; a record re-rejected after a crash has the same origin."""
        if self.offset is None:
            return ("produce", self.dlq_partition, self.dlq_offset)
        return (self.topic, self.partition, self.offset)

    @property
    def ledger_key(self) -> str:
        return self.letter_key or identity(self.topic, self.raw).key


def _decode(msg) -> DeadLetter:  # type: ignore[no-untyped-def]
    h = dict(msg.headers or [])

    def text(name: str) -> str | None:
        return h[name].decode(errors="replace") if name in h else None

    part, off = text(names.DLQ_HEADER_PARTITION), text(names.DLQ_HEADER_OFFSET)
    truncated = text(names.DLQ_HEADER_VALUE_TRUNCATED)
    attempt, first = replay_marks(msg.headers)
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
        msg.value or b"",
        text(names.DLQ_HEADER_STAGE) or "",
        int(truncated) if truncated else None,
        text(names.DLQ_HEADER_LETTER_KEY),
        attempt,
        first,
    )


def _poll(c, idle_seconds: float) -> Iterator[list]:  # type: ignore[no-untyped-def]
    """Batches of records until every partition is read up to its fetch high-water mark, or
    nothing new came for idle_seconds. A high-water mark that lags only ends this call
    early: what it missed is read by the next (the cursor is exact)."""
    last = time.monotonic()
    while time.monotonic() - last < idle_seconds:
        batch = c.poll(timeout_ms=300)
        msgs = [m for part in batch.values() for m in part]
        if msgs:
            last = time.monotonic()
            yield msgs
        elif _at_end(c):
            return


def _at_end(c) -> bool:  # type: ignore[no-untyped-def]
    for tp in c.assignment():
        hw = c.highwater(tp)
        if hw is None or c.position(tp) < hw:
            return False
    return True


def read_all(settings: Settings, idle_seconds: float = 2.0) -> Iterator[DeadLetter]:
    """Every record on the DLQ, from the beginning, without joining a group."""
    topic = settings.topic(names.DLQ_TOPIC)
    c = consumer(settings, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not tps:
            return
        c.assign(tps)
        c.seek_to_beginning(*tps)
        for msgs in _poll(c, idle_seconds):
            yield from (_decode(m) for m in msgs)
    finally:
        c.close()


_CURSOR_SQL = f"""
INSERT INTO {names.DEAD_LETTER_CURSOR_TABLE} (dlq_topic, dlq_partition, next_offset, last_key)
VALUES (%s, %s, %s, %s)
ON CONFLICT (dlq_topic, dlq_partition) DO UPDATE
SET next_offset = EXCLUDED.next_offset, last_key = EXCLUDED.last_key, updated_at = now()
"""
# A row recorded before the ledger takes the key and bytes of its copy on the topic: same
# origin and same size, so a reset topic's record at the same offset is not taken for it.
_ADOPT_SQL = f"""
UPDATE {names.DEAD_LETTERS_TABLE}
SET letter_key = %s, content_sha256 = %s, source_id = %s, record_key = %s, original = %s,
    redacted = %s
WHERE letter_key LIKE 'legacy:%%' AND value_bytes = %s
  AND ((source_offset IS NOT NULL AND (source_topic, source_partition, source_offset)
        = (%s, %s, %s))
       OR (source_offset IS NULL AND (dlq_partition, dlq_offset) = (%s, %s)))
  AND NOT EXISTS (SELECT 1 FROM {names.DEAD_LETTERS_TABLE} WHERE letter_key = %s)
"""


def _sync_rows(conn, settings: Settings, letters: list[DeadLetter], legacy: bool) -> None:  # type: ignore[no-untyped-def]
    rows, adopt = [], []
    for d in letters:
        ident = identity(d.topic, d.raw)
        key = d.ledger_key
        size = d.truncated_from or len(d.raw)
        if legacy:
            adopt.append((
                key, ident.sha256, ident.source_id, d.key, d.raw[: settings.dlq_max_bytes],
                _readable(d.raw, REDACTED_CHARS), size, d.topic, d.partition, d.offset,
                d.dlq_partition, d.dlq_offset, key,
            ))
        rows.append((*_row(
            settings, raw=d.raw, size=size, topic=d.topic, partition=d.partition,
            offset=d.offset, key=d.key, stage=d.stage or ("produce" if d.offset is None
                                                           else "validate"),
            code=d.code, reason=d.reason, exception="", attempt=d.attempt,
            first=d.first_letter_id, part=d.dlq_partition, off=d.dlq_offset, letter_key=key,
        ), False))
    with conn.cursor() as cur:
        if adopt:
            cur.executemany(_ADOPT_SQL, adopt)
        cur.executemany(_UPSERT_SQL, rows)


def sync(conn, settings: Settings, idle_seconds: float = 2.0) -> int:  # type: ignore[no-untyped-def]
    """Record what is new on the DLQ topic since the last call (letters only the topic got);
    returns how many records it read. Each partition resumes after the offset read up to; when
    the record before that offset is not the one read there, the topic was reset, and the
    partition is read again from its start (the ledger key keeps every letter once)."""
    topic = settings.topic(names.DLQ_TOPIC)
    cursors = {
        p: (off, key) for p, off, key in conn.execute(
            f"SELECT dlq_partition, next_offset, last_key FROM {names.DEAD_LETTER_CURSOR_TABLE} "
            "WHERE dlq_topic = %s", (topic,),
        ).fetchall()
    }
    legacy = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM {names.DEAD_LETTERS_TABLE} "
        "WHERE letter_key LIKE 'legacy:%' AND original IS NULL AND discarded_at IS NULL)"
    ).fetchone()[0]
    c = consumer(settings, group_id=None)
    read = 0
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not tps:
            return 0
        c.assign(tps)
        check: dict[int, tuple[int, str]] = {}  # partition -> (offset, letter key) to verify
        for tp in tps:
            off, key = cursors.get(tp.partition, (0, None))
            if off > 0 and key:
                c.seek(tp, off - 1)
                check[tp.partition] = (off - 1, key)
            else:
                c.seek_to_beginning(tp)
        for msgs in _poll(c, idle_seconds):
            fresh, reset, ends = [], set(), {}
            for m in msgs:
                if m.partition in reset:
                    continue
                d = _decode(m)
                if m.partition in check:
                    at, key = check.pop(m.partition)
                    if (m.offset, d.ledger_key) == (at, key):
                        continue  # the record read last time: resume after it
                    log.warning("%s[%d] was reset (offset %d holds another record); "
                                "reading it again from its start", topic, m.partition, at)
                    c.seek_to_beginning(TopicPartition(topic, m.partition))
                    reset.add(m.partition)
                    continue
                fresh.append(d)
                ends[m.partition] = (m.offset + 1, d.ledger_key)
            if fresh:
                _sync_rows(conn, settings, fresh, legacy)
            with conn.cursor() as cur:
                cur.executemany(_CURSOR_SQL, [(topic, p, o, k) for p, (o, k) in ends.items()])
            conn.commit()
            read += len(fresh)
    finally:
        c.close()
    return read


def _sync_or_warn(conn, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Sync the topic when the broker answers; with it down, Postgres alone answers."""
    try:
        sync(conn, settings)
    except ServiceUnavailable as exc:
        log.warning("dead letters from Postgres only (the topic was not read): %s", exc)


# ------------------------------------------------------------------ selecting and acting


def _known_codes(conn) -> list[str]:  # type: ignore[no-untyped-def]
    return [r[0] for r in conn.execute(
        f"SELECT DISTINCT error_code FROM {names.DEAD_LETTERS_TABLE} ORDER BY 1").fetchall()]


def _check_selection(conn, ids: list[int] | None, code: str | None) -> None:  # type: ignore[no-untyped-def]
    """An unknown code or id is an error that names what there is, never "0 selected"."""
    if code is not None:
        known = _known_codes(conn)
        if code not in known:
            raise TrendmineError(
                f"no dead letter has the code {code!r}",
                f"known codes: {', '.join(known)}" if known else "there are no dead letters",
            )
    if ids:
        found = {r[0] for r in conn.execute(
            f"SELECT dead_letter_id FROM {names.DEAD_LETTERS_TABLE} "
            "WHERE dead_letter_id = ANY(%s)", (list(ids),)).fetchall()}
        missing = sorted(set(ids) - found)
        if missing:
            raise TrendmineError(
                f"no dead letter with id {', '.join(map(str, missing))}",
                "`trendmine dlq list` shows the ids",
            )


_WHERE = (
    "(%(ids)s::bigint[] IS NULL OR dead_letter_id = ANY(%(ids)s)) "
    "AND (%(code)s::text IS NULL OR error_code = %(code)s) "
    "AND (%(topic)s::text IS NULL OR source_topic = %(topic)s)"
)


def _params(ids, code, topic) -> dict:  # type: ignore[no-untyped-def]
    return {"ids": list(ids) if ids else None, "code": code, "topic": topic}


def unreplayable_reason(row: dict, dlq_topic: str) -> str | None:
    """Why a letter cannot be replayed; None when it can."""
    if not row["source_topic"]:
        return "its source topic is unknown"
    if row["original"] is None:
        return (f"its original bytes were not kept (recorded before the ledger) and are no "
                f"longer on {dlq_topic} (an embedded broker loses them on restart)")
    if len(row["original"]) < row["value_bytes"]:
        return (f"only the first {len(row['original'])} of its {row['value_bytes']} bytes were "
                "kept (TRENDMINE_DLQ_MAX_BYTES)")
    return None


@dataclass
class ReplayResult:
    """What `replay` (or its dry run) did with the selected letters."""

    replayed: list[int] = field(default_factory=list)
    unreplayable: list[tuple[int, str]] = field(default_factory=list)  # (id, why)
    done_before: list[int] = field(default_factory=list)  # replayed or discarded already
    dry_run: bool = False

    def as_dict(self) -> dict:
        d = asdict(self)
        d["unreplayable"] = [{"dead_letter_id": i, "why": w} for i, w in self.unreplayable]
        return d


_REPLAY_CHUNK = 500


def replay(
    settings: Settings,
    *,
    ids: list[int] | None = None,
    code: str | None = None,
    topic: str | None = None,
    dry_run: bool = False,
    sync_topic: bool = True,
) -> ReplayResult:
    """Republish the selected dead letters (their original bytes, from the ledger) to their
    source topic, once each: sent, confirmed by the broker, then marked replayed_at, a chunk
    per transaction with the rows locked, so two replays never send one letter twice. A
    replayed record carries its first letter's id: if it fails again, its new letter links
    to it. Letters whose bytes are gone come back in `unreplayable`, with why."""
    result = ReplayResult(dry_run=dry_run)
    dlq_topic = settings.topic(names.DLQ_TOPIC)
    with connect(settings) as conn:
        if sync_topic:
            _sync_or_warn(conn, settings)
        _check_selection(conn, ids, code)
        params = _params(ids, code, topic)
        result.done_before = [r[0] for r in conn.execute(
            f"SELECT dead_letter_id FROM {names.DEAD_LETTERS_TABLE} WHERE {_WHERE} "
            "AND (replayed_at IS NOT NULL OR discarded_at IS NOT NULL) ORDER BY 1", params,
        ).fetchall()]
        todo = [r[0] for r in conn.execute(
            f"SELECT dead_letter_id FROM {names.DEAD_LETTERS_TABLE} WHERE {_WHERE} "
            "AND replayed_at IS NULL AND discarded_at IS NULL ORDER BY 1", params,
        ).fetchall()]
        conn.commit()
        prod = None if dry_run else producer(settings)
        try:
            for i in range(0, len(todo), _REPLAY_CHUNK):
                _replay_chunk(conn, settings, prod, todo[i:i + _REPLAY_CHUNK], dlq_topic, result)
        finally:
            if prod is not None:
                prod.close()
    return result


def _replay_chunk(conn, settings, prod, chunk: list[int], dlq_topic: str, result) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT dead_letter_id, first_letter_id, attempt, source_topic, record_key, "
            f"original, value_bytes FROM {names.DEAD_LETTERS_TABLE} "
            "WHERE dead_letter_id = ANY(%s) AND replayed_at IS NULL AND discarded_at IS NULL "
            "ORDER BY dead_letter_id FOR UPDATE SKIP LOCKED", (chunk,),
        ).fetchall()
    chosen = []
    for row in rows:
        why = unreplayable_reason(row, dlq_topic)
        if why:
            result.unreplayable.append((row["dead_letter_id"], why))
        else:
            chosen.append(row)
    if prod is not None and chosen:
        futures = [
            prod.send(
                r["source_topic"], key=r["record_key"], value=bytes(r["original"]),
                headers=replay_headers(r["first_letter_id"] or r["dead_letter_id"],
                                       r["attempt"] + 1),
            )
            for r in chosen
        ]
        confirm(prod, futures, settings.dlq_ack_timeout_s, "replayed record")
        conn.execute(
            f"UPDATE {names.DEAD_LETTERS_TABLE} SET replayed_at = now() "
            "WHERE dead_letter_id = ANY(%s)", ([r["dead_letter_id"] for r in chosen],),
        )
    conn.commit()
    result.replayed += [r["dead_letter_id"] for r in chosen]


def discard(
    settings: Settings,
    *,
    ids: list[int] | None = None,
    code: str | None = None,
    topic: str | None = None,
    dry_run: bool = False,
) -> list[int]:
    """Give up the selected letters not yet replayed: marked discarded_at, their original
    bytes dropped (they hold PII); the redacted copy and the reason stay. Returns the ids."""
    with connect(settings) as conn:
        _sync_or_warn(conn, settings)
        _check_selection(conn, ids, code)
        verb = "SELECT" if dry_run else "UPDATE"
        sql = (
            f"SELECT dead_letter_id FROM {names.DEAD_LETTERS_TABLE} WHERE {_WHERE} "
            "AND replayed_at IS NULL AND discarded_at IS NULL ORDER BY 1"
            if verb == "SELECT" else
            f"UPDATE {names.DEAD_LETTERS_TABLE} SET discarded_at = now(), original = NULL "
            f"WHERE {_WHERE} AND replayed_at IS NULL AND discarded_at IS NULL "
            "RETURNING dead_letter_id"
        )
        done = sorted(r[0] for r in conn.execute(sql, _params(ids, code, topic)).fetchall())
        conn.commit()
    return done


@dataclass
class Listing:
    total: int
    by_code: list[tuple[str, int]]
    rows: list[dict]  # trends.dead_letters rows, newest first


def listing(
    settings: Settings,
    *,
    code: str | None = None,
    ids: list[int] | None = None,
    limit: int = 20,
) -> Listing:
    """The dead letters from the ledger (what is new on the topic is recorded first; with
    the broker down, Postgres alone answers)."""
    view = f"{names.READ_SCHEMA}.dead_letters"
    with connect(settings) as conn:
        _sync_or_warn(conn, settings)
        _check_selection(conn, ids, code)
        by_code = conn.execute(
            f"SELECT error_code, count(*) FROM {view} GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT * FROM {view} WHERE {_WHERE} "
                "ORDER BY rejected_at DESC, dead_letter_id DESC LIMIT %(limit)s",
                {**_params(ids, code, None), "limit": limit},
            ).fetchall()
    return Listing(sum(n for _, n in by_code), [(c, n) for c, n in by_code], rows)


def show(settings: Settings, ids: list[int]) -> list[dict]:
    """Every fact about these letters (the redacted copy, never the original bytes), whether
    each can be replayed, and the letters of its replays that failed again."""
    dlq_topic = settings.topic(names.DLQ_TOPIC)
    with connect(settings) as conn:
        _sync_or_warn(conn, settings)
        _check_selection(conn, ids, None)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT d.*, (SELECT array_agg(l.dead_letter_id ORDER BY l.attempt) "
                f"FROM {names.DEAD_LETTERS_TABLE} l WHERE l.first_letter_id = d.dead_letter_id"
                f") AS failed_replays FROM {names.DEAD_LETTERS_TABLE} d "
                "WHERE d.dead_letter_id = ANY(%s) ORDER BY d.dead_letter_id", (list(ids),),
            ).fetchall()
    out = []
    for row in rows:
        why = unreplayable_reason(row, dlq_topic)
        row["replayable"] = why is None and not row["replayed_at"] and not row["discarded_at"]
        row["unreplayable_because"] = why
        row["record_key"] = row["record_key"].decode("utf-8", "replace") if row[
            "record_key"] else None
        row["failed_replays"] = row["failed_replays"] or []
        del row["original"]
        out.append(row)
    return out

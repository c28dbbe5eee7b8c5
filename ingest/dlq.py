"""The dead-letter topic: every rejected record, with its reason and the original bytes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer, TopicPartition

from foundation.config import Settings
from ingest.kafka import consumer, producer
from schemas import names

DLQ_REPLAY_GROUP = "trendmine-dlq-replay"


def dlq_headers(
    code: str,
    reason: str,
    *,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    key: bytes | None,
) -> list[tuple[str, bytes]]:
    headers = [
        (names.DLQ_HEADER_ERROR_CODE, code.encode()),
        (names.DLQ_HEADER_REASON, reason.encode()),
        (names.DLQ_HEADER_REJECTED_AT, datetime.now(UTC).isoformat().encode()),
    ]
    if topic is not None:
        headers.append((names.DLQ_HEADER_TOPIC, topic.encode()))
    if partition is not None:
        headers.append((names.DLQ_HEADER_PARTITION, str(partition).encode()))
    if offset is not None:
        headers.append((names.DLQ_HEADER_OFFSET, str(offset).encode()))
    if key is not None:
        headers.append((names.DLQ_HEADER_KEY, key))
    return headers


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
):
    """Publish one rejected record; returns the send future (the caller flushes)."""
    return prod.send(
        settings.topic(names.DLQ_TOPIC),
        key=key,
        value=raw,
        headers=dlq_headers(code, reason, topic=topic, partition=partition, offset=offset, key=key),
    )


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


def replay(
    settings: Settings,
    *,
    code: str | None = None,
    topic: str | None = None,
    idle_seconds: float = 3.0,
) -> tuple[int, int]:
    """Republish dead letters (original bytes) to their origin topic, once each.

    Progress is the consumer group DLQ_REPLAY_GROUP's committed offset, so a second replay
    does not repeat the first. Returns (republished, skipped by the filter).
    """
    dlq = settings.topic(names.DLQ_TOPIC)
    c = consumer(settings, dlq, group_id=settings.topic(DLQ_REPLAY_GROUP))
    prod = producer(settings)
    sent = skipped = 0
    try:
        last = time.monotonic()
        joined = False
        while time.monotonic() - last < idle_seconds or not joined:
            batch = c.poll(timeout_ms=300)
            if c.assignment():
                if not joined:
                    last = time.monotonic()
                joined = True
            for msgs in batch.values():
                last = time.monotonic()
                for m in msgs:
                    d = _decode(m)
                    if (code and d.code != code) or (topic and d.topic != topic) or not d.topic:
                        skipped += 1
                        continue
                    prod.send(d.topic, key=d.key, value=d.raw)
                    sent += 1
            if batch:
                prod.flush()
                c.commit()
            if not joined and time.monotonic() - last > 30:
                break
    finally:
        prod.flush()
        prod.close()
        c.close()
    return sent, skipped

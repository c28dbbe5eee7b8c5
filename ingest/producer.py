"""`trendmine produce`: vendor exports -> canonical events on Kafka, keyed by account.

A vendor record the connector cannot map goes to the dead-letter topic with its reason, so
nothing read from a file is lost.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from foundation.config import Settings
from foundation.db import connect
from foundation.errors import ServiceUnavailable, TrendmineError
from ingest import connectors, dlq
from ingest.kafka import producer
from ingest.validate import PRODUCE, Rejection
from schemas.names import ENTITY_TOPICS, TARGETS, Entity, Source, feedback_topic

log = logging.getLogger(__name__)


def topic_for(target: str) -> str:
    if target in {s.value for s in Source}:
        return feedback_topic(target)
    if target in {e.value for e in Entity}:
        return ENTITY_TOPICS[Entity(target)]
    raise TrendmineError(f"unknown target {target!r}", f"use one of: {', '.join(TARGETS)}")


@dataclass
class PublishStats:
    published: int = 0  # acknowledged by the broker (acks=all)
    rejected: int = 0  # dead-lettered, acknowledged too
    files: int = 0  # files published whole
    too_large: int = 0  # of the rejected, records over TRENDMINE_MAX_RECORD_BYTES

    def summary(self) -> str:
        big = f", {self.too_large} of them too large" if self.too_large else ""
        return (
            f"published {self.published}, rejected to the DLQ {self.rejected}{big} "
            f"({self.files} whole file(s))"
        )


CONFIRM_EVERY = 5000  # sends in flight before waiting for their acks (bounds memory)


@contextmanager
def _open(path: str) -> Iterator[tuple[IO[bytes], bytes, str | None]]:
    """(stream, its first 64 KiB for format detection, file name); files are streamed."""
    if path == "-":
        data = sys.stdin.buffer.read()  # a pipe cannot be rewound after sniffing
        yield io.BytesIO(data), data[:65536], None
        return
    p = Path(path)
    if not p.is_file():
        raise TrendmineError(
            f"no such file: {path}", "give a path to an export file, or - for stdin"
        )
    with p.open("rb") as stream:
        head = stream.read(65536)
        stream.seek(0)
        yield stream, head, p.name


def resolve_format(target: str, fmt: str | None, data: bytes, filename: str | None) -> str:
    if fmt:
        if fmt not in connectors.formats_for(target):
            raise TrendmineError(
                f"format {fmt!r} does not carry {target}",
                f"formats for {target}: {', '.join(connectors.formats_for(target))}",
            )
        return fmt
    try:
        return connectors.detect_format(target, data[:65536], filename)
    except ValueError as exc:
        raise TrendmineError(str(exc), "name the format with --format") from exc


class _Confirmed:
    """Sends in flight, counted only once the broker acknowledged them; acknowledged dead
    letters are also recorded in trendmine.dead_letters when Postgres is reachable (else
    the next `trendmine dlq` records them from the topic)."""

    def __init__(self, prod: KafkaProducer, settings: Settings, stats: PublishStats) -> None:
        self.prod, self.settings, self.stats = prod, settings, stats
        self.records: list = []
        self.letters: list[tuple[object, dlq.Letter]] = []

    def add(self, future, letter: dlq.Letter | None = None) -> None:  # type: ignore[no-untyped-def]
        if letter is None:
            self.records.append(future)
        else:
            self.letters.append((future, letter))
        if len(self.records) + len(self.letters) >= CONFIRM_EVERY:
            self.wait()

    def wait(self) -> None:
        timeout = self.settings.dlq_ack_timeout_s
        dlq.confirm(self.prod, self.records, timeout, "record")
        self.stats.published += len(self.records)
        self.records = []
        metas = dlq.confirm(self.prod, [f for f, _ in self.letters], timeout, "dead letter")
        self.stats.rejected += len(self.letters)
        letters, self.letters = [letter for _, letter in self.letters], []
        if letters:
            self._record(letters, metas)

    def _record(self, letters: list[dlq.Letter], metas: list) -> None:
        try:
            with connect(self.settings) as conn:
                dlq.record(conn, self.settings, letters, metas)
                conn.commit()
        except (ServiceUnavailable, psycopg.Error) as exc:
            log.warning("dead letters not recorded in Postgres yet (%s); `trendmine dlq` "
                        "records them from the topic", exc)


def publish_files(
    settings: Settings,
    target: str,
    paths: Iterable[str],
    fmt: str | None = None,
    on_record: Callable[[int], None] | None = None,
) -> PublishStats:
    """Publish export files; counts only what the broker acknowledged. A failure part-way
    raises a TrendmineError that says exactly what was published before it."""
    topic = settings.topic(topic_for(target))
    stats = PublishStats()
    prod = producer(settings)
    inflight = _Confirmed(prod, settings, stats)
    try:
        for path in paths:
            with _open(path) as (stream, head, name):
                chosen = resolve_format(target, fmt, head, name)
                try:
                    for n, item in enumerate(connectors.parse(target, chosen, stream), 1):
                        future, letter = _send(prod, settings, topic, item, chosen, name, n)
                        if letter is not None and letter.rejection.code == TOO_LARGE:
                            stats.too_large += 1
                        inflight.add(future, letter)
                        if on_record:
                            on_record(1)
                except ValueError as exc:  # the file as a whole is not the format it claims
                    raise TrendmineError(f"{name or 'stdin'}: {exc}", "check --format") from exc
            inflight.wait()
            stats.files += 1
    except TrendmineError as exc:
        with suppress(TrendmineError):
            inflight.wait()  # what was sent before the failure, confirmed and counted
        raise TrendmineError(
            f"{exc.message}; stopped after: {stats.summary()}", exc.hint
        ) from exc
    finally:
        prod.close()
    return stats


def _send(prod, settings: Settings, topic: str, item, fmt: str, name: str | None, n: int):  # type: ignore[no-untyped-def]
    """Send record `n` of a file, or its dead letter: an unparseable record, or one the
    worker would refuse for its size anyway (`record_too_large`) and the broker might too,
    which would stop the whole file. The dead letter keeps the record's start (DLQ limit)."""
    where = name or "stdin"
    if isinstance(item, connectors.Unparseable):
        rejection = Rejection(
            "unparseable_" + fmt.replace("-", "_"), f"{where}: {item.reason}", PRODUCE
        )
        letter = dlq.Letter(item.raw, rejection, topic)
        return letter.send(prod, settings), letter
    key = item.key.encode() if item.key else None
    value = json.dumps(item.value).encode()
    if len(value) > settings.max_record_bytes:
        return _too_large(prod, settings, topic, key, value, f"{where}: record {n}")
    try:
        return prod.send(topic, key=key, value=value), None
    except MessageSizeTooLargeError:  # over the producer's max_request_size
        return _too_large(prod, settings, topic, key, value, f"{where}: record {n}")


TOO_LARGE = "record_too_large"  # the worker's code for the same problem


def _too_large(prod, settings: Settings, topic: str, key: bytes | None, value: bytes,  # type: ignore[no-untyped-def]
               which: str):
    rejection = Rejection(
        TOO_LARGE,
        f"{which} has {len(value)} bytes as JSON, over the limit of "
        f"{settings.max_record_bytes} (TRENDMINE_MAX_RECORD_BYTES); not published",
        PRODUCE,
    )
    log.warning("%s", rejection.reason)
    letter = dlq.Letter(value, rejection, topic, key=key)
    return letter.send(prod, settings), letter


def publish_raw(
    settings: Settings, target: str, items: Iterable[tuple[bytes | None, bytes]]
) -> int:
    """Publish already-serialised (key, value) messages to a target's topic; returns how
    many the broker acknowledged."""
    topic = settings.topic(topic_for(target))
    prod = producer(settings)
    stats = PublishStats()
    inflight = _Confirmed(prod, settings, stats)
    try:
        for key, value in items:
            inflight.add(prod.send(topic, key=key, value=value))
        inflight.wait()
    finally:
        prod.close()
    return stats.published

"""`trendmine produce`: vendor exports -> canonical events on Kafka, keyed by account.

A vendor record the connector cannot map goes to the dead-letter topic with its reason, so
nothing read from a file is lost.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest import connectors, dlq
from ingest.kafka import producer
from schemas.names import ENTITY_TOPICS, Entity, Source, feedback_topic

TARGETS = tuple(s.value for s in Source) + tuple(e.value for e in Entity)


def topic_for(target: str) -> str:
    if target in {s.value for s in Source}:
        return feedback_topic(target)
    if target in {e.value for e in Entity}:
        return ENTITY_TOPICS[Entity(target)]
    raise TrendmineError(f"unknown target {target!r}", f"use one of: {', '.join(TARGETS)}")


@dataclass
class PublishStats:
    published: int = 0
    rejected: int = 0
    files: int = 0


def _read(path: str) -> tuple[bytes, str | None]:
    if path == "-":
        return sys.stdin.buffer.read(), None
    p = Path(path)
    if not p.is_file():
        raise TrendmineError(
            f"no such file: {path}", "give a path to an export file, or - for stdin"
        )
    return p.read_bytes(), p.name


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


def publish_files(
    settings: Settings,
    target: str,
    paths: Iterable[str],
    fmt: str | None = None,
    on_record: Callable[[int], None] | None = None,
) -> PublishStats:
    topic = settings.topic(topic_for(target))
    stats = PublishStats()
    prod = producer(settings)
    try:
        for path in paths:
            data, name = _read(path)
            chosen = resolve_format(target, fmt, data, name)
            try:
                items = list(connectors.parse(target, chosen, data))
            except ValueError as exc:  # the file as a whole is not the format it claims
                raise TrendmineError(f"{name or 'stdin'}: {exc}", "check --format") from exc
            for item in items:
                if isinstance(item, connectors.Unparseable):
                    dlq.send(
                        prod,
                        settings,
                        item.raw,
                        "unparseable_" + chosen.replace("-", "_"),
                        f"{name or 'stdin'}: {item.reason}",
                        topic=topic,
                    )
                    stats.rejected += 1
                else:
                    key = item.key.encode() if item.key else None
                    prod.send(topic, key=key, value=json.dumps(item.value).encode())
                    stats.published += 1
                if on_record:
                    on_record(1)
            stats.files += 1
        prod.flush()
    finally:
        prod.close()
    return stats


def publish_raw(
    settings: Settings, target: str, items: Iterable[tuple[bytes | None, bytes]]
) -> int:
    """Publish already-serialised (key, value) messages to a target's topic."""
    topic = settings.topic(topic_for(target))
    prod = producer(settings)
    n = 0
    try:
        for key, value in items:
            prod.send(topic, key=key, value=value)
            n += 1
        prod.flush()
    finally:
        prod.close()
    return n

"""Confirmed publishing: a record counts as taken only once the broker acknowledged it.

The producer runs with acks=all; every send future is checked (`FutureRecordMetadata`
succeeded, else its exception is raised) before a webhook answers 2xx or a pull moves its
cursor. Records the connector cannot map go to the dead-letter topic through `ingest.dlq`,
exactly as `trendmine produce` sends them, and are confirmed the same way.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from foundation.config import Settings
from ingest import connectors, dlq
from ingest.kafka import producer
from ingest.producer import topic_for


class PublishFailed(Exception):
    """The broker did not acknowledge every record in time: answer 503, move no cursor."""


@dataclass
class Sent:
    """What one request or page put on the broker, with the futures still to confirm."""

    published: int
    dead_lettered: int
    futures: list[FutureRecordMetadata]


def confirmed_producer(settings: Settings) -> KafkaProducer:
    """acks=all, and a short linger: a webhook waits for its batch, so batches stay small."""
    return producer(settings, acks="all", linger_ms=2, client_id="trendmine-intake")


def send_items(
    prod: KafkaProducer,
    settings: Settings,
    target: str,
    items: Iterable[connectors.Parsed | connectors.Unparseable],
    origin: str,
) -> Sent:
    """Send connector items: Parsed to the target's topic, Unparseable to the DLQ."""
    topic = settings.topic(topic_for(target))
    sent = Sent(0, 0, [])
    for item in items:
        if isinstance(item, connectors.Unparseable):
            code = "unparseable_" + origin.replace("-", "_")
            sent.futures.append(dlq.send(prod, settings, item.raw, code, item.reason, topic=topic))
            sent.dead_lettered += 1
        else:
            key = item.key.encode() if item.key else None
            value = json.dumps(item.value, ensure_ascii=False).encode()
            sent.futures.append(prod.send(topic, key=key, value=value))
            sent.published += 1
    return sent


def wait_confirmed(futures: list[FutureRecordMetadata], timeout_s: float) -> None:
    """Block until every future is acknowledged (pulls); PublishFailed otherwise."""
    for future in futures:
        try:
            future.get(timeout=timeout_s)
        except Exception as exc:  # KafkaTimeoutError, NotEnoughReplicas, ... all mean "no"
            raise PublishFailed(f"broker did not acknowledge a record ({exc!r})") from exc


async def confirmed(futures: list[FutureRecordMetadata], timeout_s: float) -> None:
    """Await every future's acknowledgement without holding a thread per request.

    The producer's I/O thread completes the futures; the last one to finish wakes this
    coroutine. Each future's outcome is then checked, as `wait_confirmed` does.
    """
    if not futures:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    lock = threading.Lock()
    remaining = len(futures)

    def settle(_result: object) -> None:  # runs on the producer's I/O thread
        nonlocal remaining
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    for future in futures:
        future.add_callback(settle)
        future.add_errback(settle)
    try:
        await asyncio.wait_for(done, timeout_s)
    except TimeoutError as exc:
        raise PublishFailed(f"no broker acknowledgement within {timeout_s:g} s") from exc
    for future in futures:
        if not future.succeeded():
            raise PublishFailed(f"broker refused a record ({future.exception!r})")

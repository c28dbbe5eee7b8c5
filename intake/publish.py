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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
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
    """acks=all, and a short linger: a webhook waits for its batch, so batches stay small.
    A metadata wait (an unknown topic, a full buffer) gives up after 5 s instead of 60:
    `send` runs on the receiver's event loop."""
    return producer(settings, acks="all", linger_ms=25, max_block_ms=5000,
                    client_id="trendmine-intake")


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


def discard(prod: KafkaProducer, timeout_s: float = 0) -> None:
    """Close a producer, failing whatever it still holds after `timeout_s`. kafka-python
    flushes before it closes and raises when the flush times out (even with timeout 0),
    leaving its I/O thread running: that thread is then stopped the way close() would."""
    try:
        prod.close(timeout_s)
    except KafkaTimeoutError:
        sender = getattr(prod, "_sender", None)
        if sender is not None:
            sender.force_close()
        prod._closed = True  # no second flush from __del__


class GroupPublisher:
    """Confirmed publishing for many concurrent requests, with few thread hand-offs.

    The requests that reach `publish` in one event-loop turn are sent together (one burst
    of `send` calls, so the producer builds one batch instead of one per request), and the
    producer's I/O thread wakes the event loop once per burst, when the burst's last
    future completes. Each request then checks its own futures: it succeeds only if every
    one of its records was acknowledged. Python threads share one interpreter lock, and
    every cross-thread wake-up is a syscall that hands the lock over: per-request wake-ups
    cost more CPU than the request itself (see bench/bench_intake.py).

    A producer that failed once (a refused or unacknowledged record, a send error) is not
    trusted again: `failure` says why, `/healthz` answers 503 with it, and the next
    `ensure` (the next request or health check) closes it and connects a new one. A
    kafka-python producer that lived through a broker restart can keep failing for minutes.
    """

    RETRY_S = 1.0  # between two attempts to connect a new producer

    def __init__(self, settings: Settings, topics: Iterable[str],
                 factory: Callable[[Settings], KafkaProducer] = confirmed_producer) -> None:
        self._settings = settings
        self._topics = tuple(topics)
        self._factory = factory
        self._prod: KafkaProducer | None = None
        self._generation = 0  # which producer a failure is about (an old one's do not count)
        self.failure: str | None = "not connected yet"
        self._tried_at = float("-inf")
        self._connecting: asyncio.Future[None] | None = None
        self._pending: list[tuple[str, list, str, asyncio.Future[Sent]]] = []
        self._scheduled = False

    def _connect(self) -> KafkaProducer:
        """A new producer that knows every topic's partitions (learned before traffic)."""
        prod = self._factory(self._settings)
        try:
            for topic in self._topics:
                if prod.partitions_for(topic) is None:
                    raise PublishFailed(f"topic {topic} does not exist on the broker")
        except Exception:
            discard(prod)
            raise
        return prod

    async def ensure(self, timeout_s: float | None = None) -> None:
        """A producer to publish with: the current one, or a new one after a failure,
        waited for up to `timeout_s` (default: the publish timeout). PublishFailed when
        that cannot be had now; one connection attempt runs at a time, in the background,
        so a broker that accepts TCP but never answers holds no request past its timeout."""
        if self.failure is None:
            return
        if self._connecting is None:
            if time.monotonic() - self._tried_at < self.RETRY_S:
                raise PublishFailed(self.failure)
            self._tried_at = time.monotonic()
            self._connecting = asyncio.ensure_future(self._reconnect())
            self._connecting.add_done_callback(lambda t: t.cancelled() or t.exception())
        wait = self._settings.intake_publish_timeout_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(self._connecting), wait)
        except TimeoutError:
            raise PublishFailed(f"still connecting a new producer after {wait:g} s "
                                f"({self.failure})") from None

    async def _reconnect(self) -> None:
        try:
            old, self._prod = self._prod, None
            if old is not None:  # its unacknowledged records fail; their requests got 503
                await asyncio.to_thread(discard, old)
            try:
                self._prod = await asyncio.to_thread(self._connect)
            except Exception as exc:
                self.failure = f"cannot connect a producer ({exc})"
                raise PublishFailed(self.failure) from exc
            self._generation += 1
            self.failure = None
        finally:
            self._connecting = None

    async def close(self, timeout_s: float = 10) -> None:
        """Wait up to `timeout_s` for the records in flight, then close."""
        if self._prod is not None:
            await asyncio.to_thread(discard, self._prod, timeout_s)

    def _failed(self, reason: str, generation: int) -> None:
        if generation == self._generation:
            self.failure = self.failure or reason

    async def publish(self, target: str, items: list, origin: str) -> Sent:
        """Send one request's items; returns once the broker acknowledged all of them."""
        await self.ensure()
        generation = self._generation
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Sent] = loop.create_future()
        self._pending.append((target, items, origin, done))
        if not self._scheduled:  # after the other requests ready in this turn
            self._scheduled = True
            loop.call_soon(self._send_burst, loop)
        timeout = self._settings.intake_publish_timeout_s
        try:
            return await asyncio.wait_for(done, timeout)
        except TimeoutError as exc:
            self._failed(f"no broker acknowledgement within {timeout:g} s", generation)
            raise PublishFailed(f"no broker acknowledgement within {timeout:g} s") from exc

    def _send_burst(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        burst, self._pending = self._pending, []
        group: list[tuple[asyncio.Future[Sent], Sent]] = []
        generation = self._generation
        for target, items, origin, done in burst:
            try:
                if self._prod is None:
                    raise PublishFailed(self.failure or "no producer")
                sent = send_items(self._prod, self._settings, target, items, origin)
            except MessageSizeTooLargeError as exc:  # this request's record, not the producer
                done.set_exception(PublishFailed(f"cannot send ({exc})"))
                continue
            except Exception as exc:  # a closed producer, no metadata in time
                self._failed(f"cannot send ({exc!r})", generation)
                done.set_exception(PublishFailed(f"cannot send ({exc!r})"))
                continue
            group.append((done, sent))
        futures = [f for _, sent in group for f in sent.futures]
        if not futures:
            self._settle(group, generation)
            return
        lock = threading.Lock()
        remaining = len(futures)

        def one_done(_result: object) -> None:  # on the producer's I/O thread
            nonlocal remaining
            with lock:
                remaining -= 1
                last = remaining == 0
            if last:
                loop.call_soon_threadsafe(self._settle, group, generation)

        for future in futures:
            future.add_callback(one_done)
            future.add_errback(one_done)

    def _settle(self, group: list[tuple[asyncio.Future[Sent], Sent]], generation: int) -> None:
        for done, sent in group:
            if done.done():  # timed out meanwhile
                continue
            failed = next((f for f in sent.futures if not f.succeeded()), None)
            if failed is None:
                done.set_result(sent)
            else:
                reason = f"broker refused a record ({failed.exception!r})"
                self._failed(reason, generation)
                done.set_exception(PublishFailed(reason))

"""Kafka clients (kafka-python) with errors that say what to do, and topic administration."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from foundation.config import Settings
from foundation.errors import ServiceUnavailable
from schemas.names import ALL_TOPICS, COMPACTED_TOPICS

# kafka-python logs every failed connection attempt at ERROR; our own message says it better.
logging.getLogger("kafka").setLevel(logging.CRITICAL)


def _unreachable(settings: Settings, exc: Exception) -> ServiceUnavailable:
    hint = (
        "run `trendmine up` to start the embedded broker"
        if settings.embedded_kafka
        else "check TRENDMINE_KAFKA_BOOTSTRAP and that the brokers are up"
    )
    return ServiceUnavailable(
        f"cannot reach a Kafka broker at {settings.bootstrap()} ({exc or type(exc).__name__})",
        hint,
    )


def check_reachable(settings: Settings, timeout: float = 3.0) -> None:
    """Fail fast (instead of kafka-python's 30 s metadata wait) when no bootstrap host answers."""
    for server in settings.bootstrap().split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout):
                return
        except (OSError, ValueError):
            continue
    raise _unreachable(settings, ConnectionRefusedError("no bootstrap server answered"))


def admin(settings: Settings) -> KafkaAdminClient:
    check_reachable(settings)
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap(),
            request_timeout_ms=10000,
            client_id="trendmine-admin",
            **settings.kafka_client_config(),
        )
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc


def producer(settings: Settings, **overrides) -> KafkaProducer:
    config = {
        "bootstrap_servers": settings.bootstrap(),
        "client_id": "trendmine-producer",
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        "retries": 5,
        **settings.kafka_client_config(),  # TLS / SASL, the same for every client
    }
    config.update(overrides)
    check_reachable(settings)
    try:
        return KafkaProducer(**config)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc


def consumer(settings: Settings, *topics: str, group_id: str | None, **overrides) -> KafkaConsumer:
    """A consumer with manual commits; short session settings make group joins quick."""
    config = {
        "bootstrap_servers": settings.bootstrap(),
        "group_id": group_id,
        "client_id": "trendmine-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 10000,
        "heartbeat_interval_ms": 1000,
        "max_poll_records": settings.batch_size,
        "max_poll_interval_ms": 600000,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        **settings.kafka_client_config(),  # TLS / SASL, the same for every client
    }
    config.update(overrides)
    check_reachable(settings)
    try:
        c = KafkaConsumer(**config)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from exc
    if topics:
        c.subscribe(list(topics))
    return c


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in ALL_TOPICS]


def create_topics(settings: Settings) -> list[str]:
    """Create every trendmine topic that is missing; returns the ones created."""
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        wanted = []
        for base in ALL_TOPICS:
            name = settings.topic(base)
            if name in existing:
                continue
            configs = {"cleanup.policy": "compact"} if base in COMPACTED_TOPICS else {}
            wanted.append(
                NewTopic(
                    name,
                    settings.topic_partitions,
                    settings.topic_replication,
                    topic_configs=configs,
                )
            )
        created = []
        for topic in wanted:  # one at a time: a race with another creator is not an error
            try:
                client.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as exc:
        raise _unreachable(settings, exc) from exc
    finally:
        client.close()


@dataclass(frozen=True)
class TopicOffsets:
    topic: str
    partitions: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(self.end_offset - self.committed, 0)


def topic_offsets(settings: Settings, group_id: str | None = None) -> list[TopicOffsets]:
    """End offsets and the group's committed offsets per topic.

    On the embedded broker end offsets may be approximate (see ARCHITECTURE.md); nothing
    that must be correct depends on them.
    """
    group_id = group_id or settings.consumer_group
    c = consumer(settings, group_id=group_id)
    try:
        existing = c.topics()
        rows = []
        for name in topic_names(settings):
            if name not in existing:
                continue
            tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or [])]
            ends = c.end_offsets(tps) if tps else {}
            committed = [c.committed(tp) for tp in tps]
            known = [x for x in committed if x is not None]
            rows.append(
                TopicOffsets(
                    name,
                    len(tps),
                    sum(ends.values()),
                    sum(known) if known else None,
                )
            )
        return rows
    except KafkaError as exc:
        raise _unreachable(settings, exc) from exc
    finally:
        c.close()

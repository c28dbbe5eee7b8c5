"""`up` / `status` / `down`: prepare whichever stack is configured (embedded or the user's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from foundation.config import Settings
from foundation.db import connection, ensure_database, public_url
from foundation.errors import ServiceUnavailable, TrendmineError
from infra.embedded import EmbeddedStack, ServiceState
from ingest.kafka import TopicOffsets, create_topics, topic_offsets
from schemas import migrate as migrations


def embedded(settings: Settings) -> EmbeddedStack:
    return EmbeddedStack(
        settings.data_dir, settings.pg_port, settings.kafka_port, settings.broker_storage
    )


def migrate_database(settings: Settings) -> list[str]:
    """Apply pending migrations; returns their names."""
    with connection(settings) as conn:
        try:
            done = migrations.migrate(conn)
        except migrations.PgvectorMissing as exc:
            raise ServiceUnavailable(
                f"Postgres at {public_url(settings)} has no pgvector extension",
                "install pgvector on that server (e.g. apt install postgresql-16-pgvector, "
                "or the pgvector/pgvector Docker image), or unset TRENDMINE_DATABASE_URL "
                "to use the embedded Postgres",
            ) from exc
        except migrations.MigrationError as exc:
            raise TrendmineError(str(exc)) from exc
    return [f"V{m.version:03d}__{m.name}" for m in done]


@dataclass
class UpReport:
    started: dict[str, bool] = field(default_factory=dict)
    database_created: bool = False
    migrations: list[str] = field(default_factory=list)
    topics_created: list[str] = field(default_factory=list)


def up(settings: Settings) -> UpReport:
    """Start what is embedded, then create the database, migrate and create topics.

    Idempotent: a second call starts nothing and applies nothing.
    """
    report = UpReport()
    stack = embedded(settings)
    report.started = stack.start(postgres=settings.embedded_db, broker=settings.embedded_kafka)
    if settings.embedded_db:
        report.database_created = ensure_database(settings)
    report.migrations = migrate_database(settings)
    report.topics_created = create_topics(settings)
    return report


def down(settings: Settings) -> dict[str, bool]:
    return embedded(settings).stop()


@dataclass
class StatusReport:
    services: list[ServiceState]
    database: str
    schema_version: int | None
    pending: list[str]
    database_error: str | None
    topics: list[TopicOffsets]
    kafka_error: str | None


def status(settings: Settings) -> StatusReport:
    services = (
        embedded(settings).states() if (settings.embedded_db or settings.embedded_kafka) else []
    )
    services = [
        s
        for s in services
        if (s.name == "postgres" and settings.embedded_db)
        or (s.name == "broker" and settings.embedded_kafka)
    ]
    version, pend, db_err = None, [], None
    try:
        with connection(settings) as conn:
            version = migrations.current_version(conn)
            pend = [f"V{m.version:03d}__{m.name}" for m in migrations.pending(conn)]
    except TrendmineError as exc:
        db_err = str(exc)
    topics, kafka_err = [], None
    try:
        topics = topic_offsets(settings)
    except TrendmineError as exc:
        kafka_err = str(exc)
    return StatusReport(services, public_url(settings), version, pend, db_err, topics, kafka_err)

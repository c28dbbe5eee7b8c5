"""Names an outside program relies on: topics, consumer group, database schemas and tables.

Every other module imports these; none spells them again.
"""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """The four feedback sources of the data contract."""

    CRM_NOTES = "crm_notes"
    SUPPORT_TICKETS = "support_tickets"
    IDEAS = "ideas"
    SALES_CALLS = "sales_calls"


class Entity(StrEnum):
    """CRM entities published beside the feedback."""

    ACCOUNTS = "accounts"
    OPPORTUNITIES = "opportunities"


# Kafka topics (a deployment may prefix them all with TRENDMINE_TOPIC_PREFIX).
FEEDBACK_TOPIC_PREFIX = "feedback."
ACCOUNTS_TOPIC = "crm.accounts"
OPPORTUNITIES_TOPIC = "crm.opportunities"
DLQ_TOPIC = "feedback.dlq"
CONSUMER_GROUP = "trendmine-ingest"


def feedback_topic(source: Source | str) -> str:
    return f"{FEEDBACK_TOPIC_PREFIX}{Source(source).value}"


FEEDBACK_TOPICS: tuple[str, ...] = tuple(feedback_topic(s) for s in Source)
ENTITY_TOPICS: dict[Entity, str] = {
    Entity.ACCOUNTS: ACCOUNTS_TOPIC,
    Entity.OPPORTUNITIES: OPPORTUNITIES_TOPIC,
}
# Topics whose records are snapshots keyed by id: compacted on a real Kafka cluster.
COMPACTED_TOPICS: tuple[str, ...] = (ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC)
INGEST_TOPICS: tuple[str, ...] = (*FEEDBACK_TOPICS, ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC)
ALL_TOPICS: tuple[str, ...] = (*INGEST_TOPICS, DLQ_TOPIC)

# Postgres: raw + derived tables live in DB_SCHEMA, the public read side in READ_SCHEMA.
DB_SCHEMA = "trendmine"
READ_SCHEMA = "trends"
MIGRATIONS_TABLE = f"{DB_SCHEMA}.schema_migrations"

# Headers on a dead-lettered record (the value is the original bytes, untouched).
DLQ_HEADER_REASON = "trendmine.reason"
DLQ_HEADER_ERROR_CODE = "trendmine.error_code"
DLQ_HEADER_TOPIC = "trendmine.topic"
DLQ_HEADER_PARTITION = "trendmine.partition"
DLQ_HEADER_OFFSET = "trendmine.offset"
DLQ_HEADER_KEY = "trendmine.key"
DLQ_HEADER_REJECTED_AT = "trendmine.rejected_at"

# The all-segments row in theme_trends.
ALL_SEGMENTS = "all"
SEGMENTS: tuple[str, ...] = ("enterprise", "mid_market", "smb")

# --- hardening: dead letters
DEAD_LETTERS_TABLE = f"{DB_SCHEMA}.dead_letters"
DLQ_HEADER_STAGE = "trendmine.stage"
DLQ_HEADER_VALUE_TRUNCATED = "trendmine.value_truncated"  # original size, when truncated
# Kafka Connect's error-context headers, so Connect-aware tools read our dead letters too.
CONNECT_HEADER_TOPIC = "__connect.errors.topic"
CONNECT_HEADER_PARTITION = "__connect.errors.partition"
CONNECT_HEADER_OFFSET = "__connect.errors.offset"
CONNECT_HEADER_STAGE = "__connect.errors.stage"
CONNECT_HEADER_EXCEPTION = "__connect.errors.exception.class.name"
CONNECT_HEADER_MESSAGE = "__connect.errors.exception.message"

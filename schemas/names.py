"""Names an outside program relies on: topics, targets, database schemas and tables.

(The consumer group is a setting: foundation.config.Settings.consumer_group.)

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
# (out) one event per requesting account when a theme's status changes: closing the loop
LOOP_TOPIC = "feedback.loop"
# (in) Jira/Linear issue changes the intake receives, applied to linked themes (notify/)
TRACKER_TOPIC = "trackers.issues"


def feedback_topic(source: Source | str) -> str:
    return f"{FEEDBACK_TOPIC_PREFIX}{Source(source).value}"


FEEDBACK_TOPICS: tuple[str, ...] = tuple(feedback_topic(s) for s in Source)
# What one can publish or load: the four feedback sources and the two CRM entities.
TARGETS: tuple[str, ...] = (*(s.value for s in Source), *(e.value for e in Entity))
ENTITY_TOPICS: dict[Entity, str] = {
    Entity.ACCOUNTS: ACCOUNTS_TOPIC,
    Entity.OPPORTUNITIES: OPPORTUNITIES_TOPIC,
}
# Topics whose records are snapshots keyed by id: compacted on a real Kafka cluster.
COMPACTED_TOPICS: tuple[str, ...] = (ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC)
INGEST_TOPICS: tuple[str, ...] = (*FEEDBACK_TOPICS, ACCOUNTS_TOPIC, OPPORTUNITIES_TOPIC)
ALL_TOPICS: tuple[str, ...] = (*INGEST_TOPICS, DLQ_TOPIC, LOOP_TOPIC, TRACKER_TOPIC)

# Postgres: raw + derived tables live in DB_SCHEMA, the public read side in READ_SCHEMA.
DB_SCHEMA = "trendmine"
READ_SCHEMA = "trends"
MIGRATIONS_TABLE = f"{DB_SCHEMA}.schema_migrations"
PHRASE_EMBEDDING_TABLE = f"{DB_SCHEMA}.phrase_embedding"  # label phrase vectors, kept across runs
LAYOUT_TABLE = f"{DB_SCHEMA}.layout"  # the last fitted UMAP layout, reused by full runs

# Headers on a dead-lettered record (the value is the original bytes, untouched).
DLQ_HEADER_REASON = "trendmine.reason"
DLQ_HEADER_ERROR_CODE = "trendmine.error_code"
DLQ_HEADER_TOPIC = "trendmine.topic"
DLQ_HEADER_PARTITION = "trendmine.partition"
DLQ_HEADER_OFFSET = "trendmine.offset"
DLQ_HEADER_KEY = "trendmine.key"
DLQ_HEADER_REJECTED_AT = "trendmine.rejected_at"

# Headers on a feedback.loop event (the value is JSON and carries the event id as well).
LOOP_HEADER_EVENT_ID = "trendmine.event_id"

# The sales loop: decisions a PM records on a theme, and the tables and views behind it.
DECISIONS: tuple[str, ...] = ("shipped", "planned", "declined")
SALES_PARAMS_TABLE = f"{DB_SCHEMA}.sales_params"
THEME_WINLOSS_TABLE = f"{DB_SCHEMA}.theme_winloss"
THEME_DECISIONS_TABLE = f"{DB_SCHEMA}.theme_decisions"  # product decisions (sales loop)
THEME_CURATION_TABLE = f"{DB_SCHEMA}.theme_curation"  # rename/merge/split/hide/move
TAXONOMY_SEEDS_TABLE = f"{DB_SCHEMA}.taxonomy_seeds"  # the PM's seeded themes
TAXONOMY_IMPORTS_TABLE = f"{DB_SCHEMA}.taxonomy_imports"  # who imported a taxonomy, when
LOOP_NOTIFICATIONS_TABLE = f"{DB_SCHEMA}.loop_notifications"
CURRENT_DECISIONS_VIEW = f"{DB_SCHEMA}.current_decisions"
THEME_RECORDS_VIEW = f"{DB_SCHEMA}.theme_records"
SALES_AS_OF_VIEW = f"{DB_SCHEMA}.sales_as_of"
DEAL_RECORDS_VIEW = f"{DB_SCHEMA}.deal_records"
DEAL_THEMES_VIEW = f"{READ_SCHEMA}.deal_themes"
THEME_WINLOSS_VIEW = f"{READ_SCHEMA}.theme_winloss"
THEME_FIT_VIEW = f"{READ_SCHEMA}.theme_fit"
THEME_SOURCES_VIEW = f"{READ_SCHEMA}.theme_sources"
LOOP_REQUESTERS_VIEW = f"{READ_SCHEMA}.loop_requesters"
# alerts, owners told, tracker links (notify/, V021)
ALERT_LEDGER_TABLE = f"{DB_SCHEMA}.alert_ledger"
ALERT_DIGESTS_TABLE = f"{DB_SCHEMA}.alert_digests"
OWNER_NOTIFICATIONS_TABLE = f"{DB_SCHEMA}.owner_notifications"
OWNER_OPTOUTS_TABLE = f"{DB_SCHEMA}.owner_optouts"
THEME_LINKS_TABLE = f"{DB_SCHEMA}.theme_links"
THEME_LINKS_VIEW = f"{READ_SCHEMA}.theme_links"
TRACKERS: tuple[str, ...] = ("jira", "linear")

# The all-segments row in theme_trends.
ALL_SEGMENTS = "all"
SEGMENTS: tuple[str, ...] = ("enterprise", "mid_market", "smb")

# Live intake (intake/): where each scheduled pull resumes.
PULL_CURSORS_TABLE = f"{DB_SCHEMA}.pull_cursors"

# --- hardening: dead letters
DEAD_LETTERS_TABLE = f"{DB_SCHEMA}.dead_letters"
DLQ_HEADER_STAGE = "trendmine.stage"
DLQ_HEADER_VALUE_TRUNCATED = "trendmine.value_truncated"  # original size, when truncated
DEAD_LETTER_CURSOR_TABLE = f"{DB_SCHEMA}.dead_letter_cursor"
DLQ_HEADER_LETTER_KEY = "trendmine.letter_key"  # the ledger key (source, source id, content)
# On a replayed record (and on its letter when it fails again): which letter it replays.
DLQ_HEADER_REPLAY_OF = "trendmine.replay_of"
DLQ_HEADER_ATTEMPT = "trendmine.attempt"
# Kafka Connect's error-context headers, so Connect-aware tools read our dead letters too.
CONNECT_HEADER_TOPIC = "__connect.errors.topic"
CONNECT_HEADER_PARTITION = "__connect.errors.partition"
CONNECT_HEADER_OFFSET = "__connect.errors.offset"
CONNECT_HEADER_STAGE = "__connect.errors.stage"
CONNECT_HEADER_EXCEPTION = "__connect.errors.exception.class.name"
CONNECT_HEADER_MESSAGE = "__connect.errors.exception.message"

"""All configuration in one place: environment variables with the TRENDMINE_ prefix.

``trendmine config`` prints the effective values with secrets masked.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MINE_MODES = ("auto", "full", "incremental")


class Settings(BaseSettings):
    """Every knob trendmine has. Set ``TRENDMINE_<NAME>`` to change one."""

    model_config = SettingsConfigDict(env_prefix="TRENDMINE_", extra="ignore")

    # --- where things run
    data_dir: Path = Field(
        default=Path.home() / ".trendmine",
        description="Embedded stack state (Postgres data, broker, pid files, logs).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="Your own Postgres 14+ with pgvector; unset = the embedded Postgres.",
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Your own Kafka bootstrap servers; unset = the embedded broker."
    )
    pg_port: int = Field(default=54329, description="Loopback port of the embedded Postgres.")
    kafka_port: int = Field(default=59092, description="Loopback port of the embedded broker.")
    database_name: str = Field(
        default="trendmine", description="Database the embedded stack creates."
    )
    topic_prefix: str = Field(
        default="", description="Prefix for every topic name (shared clusters)."
    )
    topic_partitions: int = Field(default=3, ge=1, description="Partitions per topic created.")
    topic_replication: int = Field(
        default=1, ge=1, description="Replication factor of topics created."
    )

    # --- ingest
    consumer_group: str = Field(default="trendmine-ingest", description="Kafka consumer group.")
    batch_size: int = Field(default=5000, ge=1, description="Max records per ingest batch.")
    ingest_processes: int = Field(
        default=1,
        ge=0,
        description="Processes that validate/normalise/redact while the worker fetches and "
        "writes (0: do it in the worker's writer thread).",
    )
    max_text_chars: int = Field(
        default=20000, ge=1, description="Longer feedback texts are rejected to the DLQ."
    )
    redact_pii: bool = Field(
        default=True,
        description="Replace PII (e-mails, phones, cards, IBANs, SSNs, IPs, secrets) in text, "
        "author, url and metadata strings with placeholders.",
    )
    idle_seconds: float = Field(
        default=5.0, gt=0, description="`ingest --once` stops after this long with nothing new."
    )

    # --- mining
    embedding_model: str = Field(
        default=DEFAULT_MODEL, description="sentence-transformers model name or path."
    )
    embed_batch_size: int = Field(default=128, ge=1)
    window_days: int = Field(default=180, ge=1, description="Analysis window for clustering.")
    random_state: int = Field(default=42, description="Seed for reproducible clustering.")
    mine_mode: Literal["auto", "full", "incremental"] = Field(
        default="auto",
        description="`trendmine mine` default: full re-clustering, incremental attach, or auto "
        "(full when needed, see the recluster_* settings).",
    )
    assign_threshold: float = Field(
        default=0.55, ge=-1, le=1,
        description="Incremental mode: cosine to a theme centroid needed to attach a snippet.",
    )
    recluster_pool_share: float = Field(
        default=0.05, gt=0, le=1,
        description="Auto mode re-clusters when the unassigned snippets since the last full "
        "run reach this share of the window.",
    )
    recluster_pool_size: int = Field(
        default=2000, ge=1,
        description="... or this many snippets.",
    )
    recluster_max_age_hours: float = Field(
        default=24.0, ge=0,
        description="... or when the last full run is older than this (0 = never by age).",
    )

    # --- trends
    segment_weights: dict[str, float] = Field(
        default={"enterprise": 3.0, "mid_market": 1.5, "smb": 1.0, "unknown": 0.5},
        description="Multiplier per segment in the weighted score (JSON).",
    )
    source_weights: dict[str, float] = Field(
        default={"crm_notes": 1.0, "support_tickets": 0.8, "ideas": 1.0, "sales_calls": 1.2},
        description="Multiplier per source in the weighted score (JSON).",
    )
    arr_weight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="0 = score counts accounts only, 1 = ARR only; between blends the two.",
    )

    # --- schedules
    ingest_cron: str = Field(default="* * * * *", description="Schedule of the ingest deployment.")
    mine_cron: str = Field(default="0 * * * *", description="Schedule of mine + trends.")
    prefect_port: int = Field(
        default=4200,
        description="Port of the local Prefect server `trendmine serve` starts when "
        "PREFECT_API_URL is unset.",
    )

    # --- hardening
    max_record_bytes: int = Field(
        default=1_000_000, ge=1, description="Larger Kafka records are rejected to the DLQ."
    )
    record_time_budget_s: float = Field(
        default=2.0, gt=0,
        description="A record whose validate + normalise + redact takes longer is rejected "
        "to the DLQ (code over_budget).",
    )
    max_metadata_bytes: int = Field(
        default=16384, ge=2, description="Feedback metadata larger than this (as JSON) is rejected."
    )
    max_metadata_keys: int = Field(
        default=200, ge=1, description="... and metadata with more keys than this (all levels)."
    )
    oldest_timestamp: str = Field(
        default="1990-01-01T00:00:00+00:00",
        description="Timestamps before this are rejected (code timestamp_out_of_range).",
    )
    max_future_seconds: float = Field(
        default=86400.0, ge=0, description="... and timestamps further ahead than this."
    )
    dlq_max_bytes: int = Field(
        default=1_000_000, ge=4096,
        description="Dead letters stay under this (the broker's message.max.bytes): the reason "
        "is truncated, and an oversize value is replaced by a truncated copy, said in a header.",
    )
    dlq_ack_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a dead letter may wait for the broker's ack."
    )
    db_retry_seconds: float = Field(
        default=120.0, ge=0,
        description="The worker retries a batch (reconnecting with backoff) this long when "
        "Postgres is unreachable, then stops.",
    )

    @property
    def embedded_db(self) -> bool:
        return self.database_url is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    def dsn(self) -> str:
        """The Postgres connection string in force."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{self.database_name}"

    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(env var, value, description) rows for `trendmine config`, secrets masked."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = mask_url(value.get_secret_value())
        elif value is None:
            shown = "(embedded)" if name in ("database_url", "kafka_bootstrap") else "-"
        else:
            shown = str(value)
        rows.append((f"TRENDMINE_{name.upper()}", shown, field.description or ""))
    return rows


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(fresh: bool = False) -> Settings:
    """The settings of this process (read once from the environment)."""
    if fresh:
        _cached.cache_clear()
    return _cached()


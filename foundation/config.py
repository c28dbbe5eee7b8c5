"""All configuration in one place: environment variables with the TRENDMINE_ prefix.

``trendmine config`` prints the effective values with secrets masked.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.errors import TrendmineError
from foundation.secrets import MASK, dsn_password, mask_dsn, read_secret_file

# Defaults other modules import (mining.scoring.ScoreWeights, the embedder): spelled only here.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
MINE_MODES = ("auto", "full", "incremental")
DEFAULT_CONSUMER_GROUP = "trendmine-ingest"
DEFAULT_SEGMENT_WEIGHTS: dict[str, float] = {
    "enterprise": 3.0, "mid_market": 1.5, "smb": 1.0, "unknown": 0.5,
}
DEFAULT_SOURCE_WEIGHTS: dict[str, float] = {
    "crm_notes": 1.0, "support_tickets": 0.8, "ideas": 1.0, "sales_calls": 1.2,
}
DEFAULT_ARR_WEIGHT = 0.5
# The embedded Postgres: its superuser, and the file in the data dir holding its generated
# password (scram-sha-256, mode 0600; infra/embedded.py writes it, `dsn()` reads it).
EMBEDDED_PG_USER = "postgres"
EMBEDDED_PG_PASSWORD_FILE = "postgres.password"
# Settings that are secrets: masked everywhere, and readable from TRENDMINE_<NAME>_FILE.
_SECRET_FIELDS = (
    "database_url", "kafka_sasl_password",
    # intake: webhook secrets and vendor API credentials
    "intake_secret", "intake_zendesk_secret", "intake_intercom_secret", "intake_hubspot_secret",
    "intake_salesforce_token", "zendesk_api_token", "intercom_token", "canny_api_key",
    "gong_access_key_secret",
    # alerts and tracker links (notify/, docs/alerts.md)
    "slack_webhook_url", "slack_bot_token", "smtp_url", "smtp_password", "jira_webhook_secret",
    "linear_webhook_secret", "salesforce_access_token", "hubspot_access_token",
)


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
    broker_storage: str = Field(
        default="memory://tansu/",
        description="Storage engine of the embedded broker: memory://tansu/ (lost on restart) "
        "or s3://<bucket>/ with the AWS_* variables (survives restarts).",
    )
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
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How every Kafka client talks to the brokers."
    )
    kafka_sasl_mechanism: Literal[
        "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"
    ] | None = Field(default=None, description="SASL mechanism (with SASL_PLAINTEXT / SASL_SSL).")
    kafka_oauth_token_file: Path | None = Field(
        default=None, description="OAUTHBEARER: a file holding the token, read again at each "
        "login (a sidecar refreshes it).",
    )
    kafka_oauth_token_command: str | None = Field(
        default=None, description="OAUTHBEARER: a command that prints the token (run at each "
        "login), e.g. a cloud CLI's token command.",
    )
    kafka_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for any Kafka connection, metadata or "
        "admin call (status, doctor, topic creation); a broker that does not answer in time "
        "is an error naming the step.",
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (or TRENDMINE_KAFKA_SASL_PASSWORD_FILE)."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle to verify the brokers (SSL / SASL_SSL)."
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate for mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, description="Client private key.")

    # --- ingest
    consumer_group: str = Field(
        default=DEFAULT_CONSUMER_GROUP, description="Kafka consumer group."
    )
    batch_size: int = Field(default=5000, ge=1, description="Max records per ingest batch.")
    ingest_processes: int = Field(
        default=2,
        ge=0,
        description="Processes that validate/normalise/redact while the worker fetches and "
        "writes (0: do it in the worker's writer thread); two let consecutive batches "
        "overlap, more rarely help (at most three batches are in flight).",
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
    embedding_device: str = Field(
        default="cpu",
        description="Device the embedding model runs on (sentence-transformers `device`): "
        "cpu, cuda, cuda:1, mps.",
    )
    embedding_workers: int = Field(
        default=0, ge=0,
        description="Embed on a local Dask cluster of this many worker processes (Prefect's "
        "DaskTaskRunner, one thread each); 0 = in the mining process.",
    )
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
    layout_reuse: bool = Field(
        default=True,
        description="Full runs reuse the last UMAP layout (no UMAP fit) while the snippets "
        "new to it are few and each fits an existing theme; see layout_max_new_*.",
    )
    layout_max_new_share: float = Field(
        default=0.2, ge=0, le=1,
        description="... a new layout is fitted when this share of the window is new to it "
        "(or when enough new snippets fit no theme to make one of their own),",
    )
    layout_max_age_hours: float = Field(
        default=168.0, ge=0,
        description="... or when it is older than this (0 = never by age).",
    )

    # --- trends
    segment_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SEGMENT_WEIGHTS),
        description="Multiplier per segment in the weighted score (JSON).",
    )
    source_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS),
        description="Multiplier per source in the weighted score (JSON).",
    )
    arr_weight: float = Field(
        default=DEFAULT_ARR_WEIGHT,
        ge=0,
        le=1,
        description="0 = score counts accounts only, 1 = ARR only; between blends the two.",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone whose calendar days windows and trend periods use "
        "(--since 90d = the 90 whole days ending today there).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as UTC or "
                             "Europe/Berlin") from None
        return value

    # --- sales loop
    icp_fit_threshold: float = Field(
        default=0.4, ge=0, le=1, description="Accounts with icp_fit below this are a poor fit."
    )
    revenue_debt_share: float = Field(
        default=0.5, ge=0, lt=1,
        description="A theme is revenue debt when the poor-fit share of its requesting accounts "
        "(known fit only) exceeds this.",
    )
    fit_min_accounts: int = Field(
        default=5, ge=1,
        description="Requesting accounts with a known fit needed before revenue debt is flagged.",
    )
    deal_lookback_days: int = Field(
        default=180, ge=0,
        description="Feedback from a deal's account counts for the deal when said this many days "
        "before it closed (open deals: before today).",
    )
    sales_special_max_other_accounts: int = Field(
        default=1, ge=0,
        description="A deal's theme is a sales special when at most this many other accounts "
        "ask for it.",
    )
    market_wide_share: float = Field(
        default=0.35, gt=0, le=1,
        description="A theme is market-wide when this share of the accounts giving feedback ask.",
    )
    winloss_min_deals: int = Field(
        default=8, ge=1,
        description="Closed deals a theme needs before its win/loss is tested (else small_sample).",
    )
    winloss_fdr: float = Field(
        default=0.1, gt=0, lt=1,
        description="False discovery rate (Benjamini-Hochberg) for themes over-represented in "
        "lost deals.",
    )
    winloss_since_days: int = Field(
        default=365, ge=1, description="Closed deals of this many days feed trends.theme_winloss."
    )
    loop_publish_timeout: float = Field(
        default=30.0, gt=0,
        description="Seconds to wait for the brokers to acknowledge the feedback.loop events.",
    )

    # --- schedules
    ingest_cron: str = Field(default="* * * * *", description="Schedule of the ingest deployment.")
    ingest_interval_s: float | None = Field(
        default=None, ge=1,
        description="Run ingest every this many seconds instead of on TRENDMINE_INGEST_CRON "
        "(cron's finest grain is a minute).",
    )
    mine_cron: str = Field(default="0 * * * *", description="Schedule of mine + trends.")
    prefect_port: int = Field(
        default=4200,
        description="Port of the local Prefect server `trendmine serve` starts when "
        "PREFECT_API_URL is unset.",
    )

    # --- intake
    intake_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the canonical endpoint POST /v1/feedback/{source} "
        "(or TRENDMINE_INTAKE_SECRET_FILE).",
    )
    intake_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest request body `intake serve` accepts."
    )
    intake_replay_tolerance_s: int = Field(
        default=300, ge=1, description="Signed timestamps older (or newer) than this are refused."
    )
    intake_publish_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a request waits for the broker's acks."
    )
    intake_max_events: int = Field(
        default=1000, ge=1, description="Most events (records) one request may carry (else 413)."
    )
    intake_read_timeout_s: float = Field(
        default=10.0, gt=0,
        description="A request's headers, and then its body, must arrive within this (else the "
        "connection is closed / 408).",
    )
    intake_max_connections: int = Field(
        default=1000, ge=1, description="Concurrent connections per worker; more are answered 503."
    )
    intake_public_url: str | None = Field(
        default=None,
        description="Base URL vendors call (https://intake.example.com); HubSpot and Gong "
        "sign it. Unset = the URL of the request as received.",
    )
    intake_zendesk_secret: SecretStr | None = Field(
        default=None, description="Zendesk webhook signing secret."
    )
    intake_intercom_secret: SecretStr | None = Field(
        default=None, description="Intercom app client secret (signs X-Hub-Signature)."
    )
    intake_hubspot_secret: SecretStr | None = Field(
        default=None, description="HubSpot app client secret (X-HubSpot-Signature-v3)."
    )
    intake_gong_public_key_path: Path | None = Field(
        default=None, description="PEM file of the public key Gong signs webhook JWTs with."
    )
    intake_salesforce_org_id: str | None = Field(
        default=None, description="Salesforce org id (15 or 18 chars) outbound messages carry."
    )
    intake_salesforce_token: SecretStr | None = Field(
        default=None, description="Token in the outbound message URL (?token=...)."
    )
    zendesk_url: str | None = Field(
        default=None, description="Pull: https://<subdomain>.zendesk.com."
    )
    zendesk_email: str | None = Field(default=None, description="Pull: Zendesk agent e-mail.")
    zendesk_api_token: SecretStr | None = Field(
        default=None, description="Pull: Zendesk API token."
    )
    intercom_url: str = Field(default="https://api.intercom.io", description="Pull: Intercom API.")
    intercom_token: SecretStr | None = Field(
        default=None, description="Pull: Intercom access token (read conversations)."
    )
    canny_url: str = Field(default="https://canny.io", description="Pull: Canny API.")
    canny_api_key: SecretStr | None = Field(
        default=None, description="Canny API key: pulls, and the webhook signature key."
    )
    gong_url: str = Field(default="https://api.gong.io", description="Pull: Gong API.")
    gong_access_key: str | None = Field(default=None, description="Pull: Gong access key.")
    gong_access_key_secret: SecretStr | None = Field(
        default=None, description="Pull: Gong access key secret."
    )
    pull_cron: str = Field(
        default="0 */3 * * *", description="Schedule of each configured source's pull."
    )
    pull_initial_days: int = Field(
        default=30, ge=0, description="A source's first pull starts this many days back."
    )
    pull_page_size: int = Field(default=100, ge=1, le=1000, description="Records per API page.")
    pull_max_retries: int = Field(
        default=6, ge=0, description="Retries of one page on 429/5xx/connection errors."
    )
    pull_backoff_s: float = Field(
        default=1.0, ge=0, description="First backoff (doubles per retry) without Retry-After."
    )
    pull_max_wait_s: float = Field(
        default=120.0, ge=0, description="Longest wait honoured from a Retry-After header."
    )

    # --- read side
    similar_min_similarity: float = Field(
        default=0.63, ge=-1.0, le=1.0,
        description="`similar`: cosine at or above which a stored record counts as an ask "
        "(calibrated for precision: bench/bench_similar_floor.py, bench_similar_dups.py).",
    )

    # --- themes
    reducer: Literal["umap", "pca", "none"] = Field(
        default="umap",
        description="Mining: reduce embeddings before clustering with umap, pca or none.",
    )
    min_cluster_size: int | None = Field(
        default=None, ge=2,
        description="Mining: smallest leaf theme (snippets); unset = half of 0.16 x "
        "sqrt(window). The number of leaves is chosen by silhouette (WardClusterer).",
    )
    outlier_threshold: float = Field(
        default=0.40, ge=-1, le=1,
        description="Mining: cosine to a theme centroid that re-attaches a noise snippet.",
    )
    leaf_merge_similarity: float = Field(
        default=0.8, ge=0, le=2,
        description="Mining: merge leaf themes whose centroid cosine reaches this "
        "(average linkage); 0 = never merge.",
    )
    n_parents: int | None = Field(
        default=None, ge=1,
        description="Mining: parent themes over the leaves; unset = the count in 10-40 "
        "(fewer for few leaves) with the best silhouette.",
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

    # --- alerts, owners told, tracker links (docs/alerts.md)
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming webhook that alerts are posted to.")
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (chat:write): decisions are sent to account "
        "owners with a Slack user id as a direct message.")
    slack_api_url: str = Field(default="https://slack.com/api", description="Slack Web API.")
    smtp_url: SecretStr | None = Field(
        default=None, description="smtp://user@host:587 (STARTTLS) or smtps://host:465 (TLS) "
        "that alerts and owners' mails go through.")
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password, when the URL carries none.")
    smtp_from: str | None = Field(default=None, description="From: address of every mail.")
    alerts_email_to: str | None = Field(
        default=None, description="Comma-separated recipients of alert mails.")
    alerts_deal_min_amount: float = Field(
        default=100_000, ge=0,
        description="Open deals at least this large that cite a theme are alerted.")
    alerts_digest: bool = Field(
        default=False, description="Hold alerts and send one weekly digest per channel.")
    alerts_retries: int = Field(
        default=4, ge=0, description="Retries of one send (backoff doubles from alerts_backoff_s).")
    alerts_backoff_s: float = Field(default=1.0, ge=0, description="First retry backoff.")
    alerts_timeout_s: float = Field(default=10.0, gt=0, description="One send's timeout.")
    alerts_cron: str = Field(
        default="*/15 * * * *", description="Schedule of the alerts deployment.")
    jira_webhook_secret: SecretStr | None = Field(
        default=None, description="Jira webhook secret (X-Hub-Signature HMAC-SHA256).")
    linear_webhook_secret: SecretStr | None = Field(
        default=None, description="Linear webhook signing secret (Linear-Signature).")
    crm_writeback: Literal["off", "salesforce", "hubspot"] = Field(
        default="off", description="Write each decision to the requesting account in the CRM: "
        "a Salesforce Task or a HubSpot note.")
    salesforce_instance_url: str | None = Field(
        default=None, description="Write-back: https://<domain>.my.salesforce.com.")
    salesforce_access_token: SecretStr | None = Field(
        default=None, description="Write-back: Salesforce OAuth access token.")
    hubspot_api_url: str = Field(default="https://api.hubapi.com", description="HubSpot API.")
    hubspot_access_token: SecretStr | None = Field(
        default=None, description="Write-back: HubSpot private app token (notes, companies).")

    # --- logs, metrics, retention (docs/operations.md)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written (to stderr)."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per line for a log shipper."
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="`ingest` and `serve` serve Prometheus "
        "metrics on this port (/metrics); unset = off. `intake serve` has /metrics on its port.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics port binds (0.0.0.0 in a "
        "container, for the scraper).",
    )
    progress_interval_s: float = Field(
        default=30.0, gt=0, description="`ingest` without a terminal logs a progress line this "
        "often.",
    )
    pipeline_runs_keep_days: int = Field(
        default=90, ge=1, description="pipeline_runs rows older than this are deleted by each "
        "trends/pipeline run (a `running` row is never deleted).",
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        """TRENDMINE_<SECRET>_FILE names a file holding the secret (Docker/Kubernetes secrets),
        so a secret never has to sit in the environment or on a command line."""
        if not isinstance(values, dict):
            return values
        for name in _SECRET_FIELDS:
            path = os.environ.get(f"TRENDMINE_{name.upper()}_FILE")
            if path and values.get(name) is None:
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as exc:
                    raise ValueError(
                        f"TRENDMINE_{name.upper()}_FILE: cannot read {path} ({exc.strerror})"
                    ) from exc
        return values

    def kafka_client_config(self) -> dict[str, Any]:
        """Security options for every kafka-python client (producer, consumer, admin)."""
        config: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and self.kafka_sasl_mechanism == "OAUTHBEARER":
            config["sasl_mechanism"] = "OAUTHBEARER"  # its token: ingest.kafka.client_config
        elif sasl:
            if not (self.kafka_sasl_mechanism and self.kafka_sasl_username
                    and self.kafka_sasl_password):
                raise TrendmineError(
                    f"TRENDMINE_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}",
                    "set TRENDMINE_KAFKA_SASL_MECHANISM, TRENDMINE_KAFKA_SASL_USERNAME and "
                    "TRENDMINE_KAFKA_SASL_PASSWORD (or TRENDMINE_KAFKA_SASL_PASSWORD_FILE)",
                )
            config |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        if self.kafka_security_protocol.endswith("SSL"):
            config |= {
                "ssl_cafile": _str_or_none(self.kafka_ssl_cafile),
                "ssl_certfile": _str_or_none(self.kafka_ssl_certfile),
                "ssl_keyfile": _str_or_none(self.kafka_ssl_keyfile),
                "ssl_check_hostname": True,
            }
        return config

    def secret_values(self) -> list[str]:
        """Every secret in force, for scrubbing output (foundation.secrets.scrub)."""
        secrets = (getattr(self, name) for name in _SECRET_FIELDS)
        values = [s.get_secret_value() for s in secrets if isinstance(s, SecretStr)]
        values.append(dsn_password(self.dsn()))  # its password may be quoted on its own
        if self.smtp_url is not None:  # the password inside the SMTP URL
            values.append(urlsplit(self.smtp_url.get_secret_value()).password or "")
        return [v for v in values if v]

    @property
    def embedded_db(self) -> bool:
        return self.database_url is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    def dsn(self) -> str:
        """The Postgres connection string in force: TRENDMINE_DATABASE_URL, or the embedded
        Postgres with the password from its data dir (none before its first `up`)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        password = read_secret_file(embedded_password_file(self.data_dir))
        user = f"{EMBEDDED_PG_USER}:{quote(password, safe='')}" if password else EMBEDDED_PG_USER
        return f"postgresql://{user}@127.0.0.1:{self.pg_port}/{self.database_name}"

    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def embedded_password_file(data_dir: Path) -> Path:
    """Where the embedded Postgres keeps its superuser password."""
    return Path(data_dir).expanduser() / EMBEDDED_PG_PASSWORD_FILE


def mask_url(url: str) -> str:
    """A connection string with every password form hidden (see foundation.secrets)."""
    return mask_dsn(url)


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(env var, value, description) rows for `trendmine config`, secrets masked."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):  # a URL keeps its host visible, other secrets do not
            shown = mask_url(value.get_secret_value()) if name == "database_url" else MASK
        elif value is None:
            shown = "(embedded)" if name in ("database_url", "kafka_bootstrap") else "-"
        else:
            shown = str(value)
        rows.append((f"TRENDMINE_{name.upper()}", shown, field.description or ""))
    return rows


def settings_error(exc: ValidationError) -> str:
    """One readable line naming each TRENDMINE_* variable that did not parse.

    A value is quoted only for a field's own error on a field that is not secret, masked
    (`mask_dsn`) before it is cut short, so a cut never leaves part of a password. A
    model-level error (empty `loc`) carries every setting as its input: never quoted.
    """
    parts = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = f"TRENDMINE_{str(loc[0]).upper()}" if loc else "settings"
        parts.append(f"{name}: {err['msg']}{_quoted_input(loc, err)}")
    hint = "(fix or unset the variable; `trendmine config` lists them)"
    return f"bad setting: {'; '.join(parts)} {hint}"


def _quoted_input(loc: tuple, err: Any) -> str:
    if not loc or str(loc[0]) in _SECRET_FIELDS or "input" not in err:
        return ""
    shown = mask_dsn(str(err["input"]))
    return f" (got {shown[:40]!r})"




def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(fresh: bool = False) -> Settings:
    """The settings of this process (read once from the environment)."""
    if fresh:
        _cached.cache_clear()
    return _cached()



def numba_cache_dir() -> Path:
    """Where numba keeps UMAP's compiled functions: compiled code belongs to the installed
    packages, not to a data set, so it lives in the user's cache (XDG_CACHE_HOME) and a fresh
    data dir (a new demo, a test stack) does not pay the compile again. site-packages is not
    writable in a container; this is."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trendmine" / "numba"

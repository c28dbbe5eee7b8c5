"""`trendmine doctor`: check a configured stack end to end, one line per check with a fix.

Each check is a small function returning a `Check`; none raises, so one broken service does
not hide what else is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from foundation.config import Settings
from foundation.db import connection
from foundation.errors import TrendmineError
from ingest.kafka import KafkaStepFailed, handshake, topic_names, topic_offsets
from schemas import migrate as migrations

MIN_POSTGRES = 14


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_postgres(settings: Settings) -> Check:
    try:
        with connection(settings) as conn:
            version = conn.info.server_version // 10000
            vector = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except TrendmineError as exc:
        return Check("postgres", False, exc.message, exc.hint or "")
    if version < MIN_POSTGRES:
        return Check("postgres", False, f"PostgreSQL {version}", f"use PostgreSQL {MIN_POSTGRES}+")
    if vector is None:
        return Check("postgres", False, f"PostgreSQL {version} without pgvector",
                     f"install pgvector for PostgreSQL {version} on the server")
    return Check("postgres", True, f"PostgreSQL {version}, pgvector {vector[0]}")


def check_migrations(settings: Settings) -> Check:
    try:
        with connection(settings) as conn:
            pending = migrations.pending(conn)
            version = migrations.current_version(conn)
    except TrendmineError as exc:
        return Check("migrations", False, "unknown: Postgres is unreachable", exc.hint or "")
    except migrations.MigrationError as exc:
        return Check("migrations", False, str(exc), "run `trendmine migrate`")
    if pending:
        names = ", ".join(f"V{m.version:03d}" for m in pending)
        return Check("migrations", False, f"at V{version:03d}, pending {names}",
                     "run `trendmine migrate`")
    return Check("migrations", True, f"schema at V{version:03d}, nothing pending")


def check_kafka(settings: Settings) -> Check:
    """An authenticated handshake with the brokers; a failure names its step."""
    try:
        passed = handshake(settings)
    except KafkaStepFailed as exc:
        return Check("kafka", False, exc.message, exc.hint or "")
    except TrendmineError as exc:  # a setting that does not make a client (no SASL password)
        return Check("kafka", False, exc.message, exc.hint or "")
    return Check("kafka", True, ", ".join(passed))


def check_topics(settings: Settings) -> Check:
    try:
        found = {t.topic: t for t in topic_offsets(settings)}
    except TrendmineError as exc:
        return Check("kafka topics", False, exc.message, exc.hint or "")
    missing = [t for t in topic_names(settings) if t not in found]
    if missing:
        return Check("kafka topics", False, f"missing {', '.join(missing)}",
                     "run `trendmine topics create`")
    partitions = sorted({t.partitions for t in found.values()})
    lag = sum(t.lag for t in found.values())
    return Check("kafka topics", True, f"{len(found)} topics, partitions {partitions}, "
                 f"group {settings.consumer_group} lag ~{lag}")


# A source whose records carry clues yet land on no account, above this share, needs a
# mapping or a review (docs/accounts.md); records with no clue at all are not counted.
MAX_UNMATCHED_SHARE = 0.10


def check_accounts(settings: Settings) -> Check:
    try:
        with connection(settings) as conn:
            rows = conn.execute(
                "SELECT source, records, unresolved, unresolved - no_clue AS unmatched "
                "FROM trends.account_resolution ORDER BY source").fetchall()
    except TrendmineError as exc:
        return Check("accounts", False, "unknown: Postgres is unreachable", exc.hint or "")
    except Exception as exc:  # not migrated yet: the migrations check says what to do
        return Check("accounts", False, f"cannot read trends.account_resolution ({exc})",
                     "run `trendmine migrate`")
    if not rows:
        return Check("accounts", True, "no feedback stored yet")
    detail = ", ".join(f"{s} {u / n:.0%} unresolved" for s, n, u, _ in rows)
    bad = [s for s, n, _, m in rows if m / n > MAX_UNMATCHED_SHARE]
    if bad:
        return Check("accounts", False, detail,
                     f"{', '.join(bad)}: records with clues match no CRM account; see "
                     "`trendmine accounts unresolved`, then `accounts resolve` or "
                     "`accounts map import`")
    return Check("accounts", True, detail)


def check_prefect(settings: Settings) -> Check:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return Check("prefect", True, "no PREFECT_API_URL: flows run on a local ephemeral API "
                     "(`trendmine serve` starts a local server)")
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        return Check("prefect", False, f"{url}: {type(exc).__name__}",
                     "start the Prefect server or fix PREFECT_API_URL")
    return Check("prefect", True, f"API at {url} answers")


def check_model(settings: Settings) -> Check:
    from mining.embed import Embedder

    t0 = time.perf_counter()
    try:
        emb = Embedder(settings.embedding_model)
        dim = emb.encode(["doctor check"]).shape[1]
    except Exception as exc:  # any load failure is the answer of this check
        return Check("embedding model", False, f"{settings.embedding_model}: {exc}",
                     "set TRENDMINE_EMBEDDING_MODEL to an installed model name or path")
    return Check("embedding model", True, f"{settings.embedding_model} ({dim} dims) loaded in "
                 f"{time.perf_counter() - t0:.1f}s")


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_postgres, check_migrations, check_kafka, check_topics, check_accounts, check_prefect,
    check_model,
)


def run_checks(settings: Settings) -> list[Check]:
    return [check(settings) for check in CHECKS]

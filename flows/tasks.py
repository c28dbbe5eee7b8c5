"""Small, named Prefect tasks over ingest/, warehouse.mine and warehouse.trends.

Retries: only for transient broker and database errors (a refused connection, a broken
socket, a rebalance, a serialisation failure), with exponential backoff. Every step is safe
to retry: ingest commits Kafka offsets only after the Postgres commit and upserts
idempotently, mining embeds only what is missing and writes themes in one transaction, and
the trends rebuild is one transaction.

Caching: none (`NO_CACHE`). Every task reads state that changes between runs (new messages,
new feedback, new themes), so a cached result would be a wrong result. The one safe
candidate, the loaded embedding model, lives inside `warehouse.mine.mine`, which builds its
own `Embedder` per call.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import flow_run
from prefect.tasks import Task, exponential_backoff

from flows.runtime import report
from flows.stopping import Stopped, stop_on_signal
from foundation.config import Settings
from foundation.db import connection
from foundation.errors import ServiceUnavailable
from warehouse import runs

TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # connection refused or lost, serialisation failure, deadlock
    ServiceUnavailable,  # trendmine's own "cannot reach Postgres/Kafka"
    ConnectionError,
)
# kafka-python marks its retriable errors (timeouts, lost connections, no leader); a commit
# that fails in a rebalance is safe to retry too (offsets follow the database commit)
KAFKA_REBALANCE = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError,
                   UnknownMemberIdError)
ARTIFACT_KEY = "trendmine-emerging"

if TYPE_CHECKING:
    from mining.embed import Embedder
    from warehouse.mine import EmbedTodo


def is_transient(exc: BaseException | None) -> bool:
    """True for an error that a retry can fix (checks the chain of causes too)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, TRANSIENT + KAFKA_REBALANCE):
            return True
        if isinstance(exc, KafkaError) and exc.retriable:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def retry_if_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect's retry_condition_fn: retry broker/database outages, never a bug or bad data."""
    try:
        state.result()
    except BaseException as exc:
        return is_transient(exc)
    return False


# 3 retries after 5, 10, 20 s (plus up to 50% jitter): rides out a broker or database restart
_RETRY: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_transient,
    "cache_policy": NO_CACHE,
}


@task(name="record-run-start", timeout_seconds=60, **_RETRY)
def record_run_start(settings: Settings, flow: str, parent_run_id: int | None = None) -> int:
    """A `running` row in trendmine.pipeline_runs, linked to this Prefect flow run."""
    run_id = runs.start_run(settings, flow, parent_run_id=parent_run_id,
                            prefect_flow_run_id=flow_run.get_id())
    get_run_logger().info("pipeline_runs.run_id=%s (%s)", run_id, flow)
    return run_id


@task(name="record-run-end", timeout_seconds=60, **_RETRY)
def record_run_end(settings: Settings, run_id: int, counts: dict[str, Any],
                   report_path: str | None = None) -> None:
    runs.finish_run(settings, run_id, runs.COMPLETED, counts, report_path=report_path)


@task(name="consume-until-idle", timeout_seconds=3600, **_RETRY)
def consume_until_idle(settings: Settings) -> dict[str, Any]:
    """Drain the feedback and CRM topics into Postgres as one consumer-group member."""
    from ingest.consumer import IngestWorker

    logger = get_run_logger()
    report("ingest", 0, None)  # the group join takes seconds: show the stage from its start
    with stop_on_signal() as stop:  # serve stopping: finish and commit the batch in hand
        stats = IngestWorker(settings).run(
            once=True, stop=stop, on_batch=lambda s: report("ingest", s.consumed, None)
        )
    if stop.is_set():
        raise Stopped(stop.signum, f"consumed {stats.consumed}, stored {stats.stored}, "
                      "offsets committed")
    counts = {"in": stats.consumed, "out": stats.stored, **stats.as_dict()}
    logger.info("consumed %d: stored %d, rejected %d to the DLQ (%s), %.0f records/s",
                stats.consumed, stats.stored, stats.rejected, dict(stats.by_code) or "none",
                stats.rate)
    return counts


@task(name="mine-themes", timeout_seconds=3600, **_RETRY)
def mine_themes(settings: Settings, run_id: int | None) -> dict[str, Any]:
    """Embed what is new, cluster the window, match themes to their stable ids, label them."""
    from warehouse.mine import mine

    counts = mine(settings, run_id=run_id, progress=report)
    counts = {"in": counts.get("snippets", 0), "out": counts.get("themes", 0), **counts}
    get_run_logger().info("mined %s snippets (%s embedded now) into %s themes, noise %s",
                          counts["in"], counts.get("embedded"), counts["out"],
                          counts.get("noise_share"))
    return counts


@task(name="list-unembedded", timeout_seconds=600, **_RETRY)
def list_unembedded(settings: Settings) -> list[EmbedTodo]:
    """Split new feedback into snippets; the snippets still to embed for this model."""
    from warehouse.mine import pending_embeddings

    return pending_embeddings(settings)


@lru_cache(maxsize=2)
def _worker_embedder(model: str, batch_size: int, device: str, workers: int) -> Embedder:
    """One loaded model per worker process (reused by every batch it runs), with the
    machine's cores shared between the workers rather than each taking them all."""
    from mining.embed import Embedder

    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    return Embedder(model=model, batch_size=batch_size, device=device, threads=threads)


@task(name="embed-batch", timeout_seconds=1800, cache_policy=NO_CACHE)
def embed_batch(texts: list[str], model: str, batch_size: int, device: str,
                workers: int) -> np.ndarray:
    """Encode one batch of distinct texts (runs on a Dask worker under the Dask runner)."""
    return _worker_embedder(model, batch_size, device, workers).encode(texts)


@task(name="store-embeddings", timeout_seconds=600, **_RETRY)
def store_embeddings(settings: Settings, todo: list[EmbedTodo], vectors: np.ndarray) -> int:
    """One vector per snippet of `list_unembedded`, in one transaction."""
    from warehouse.mine import store_embeddings as store

    return store(settings, todo, vectors)


@task(name="rebuild-trend-tables", timeout_seconds=1800, **_RETRY)
def rebuild_trend_tables(settings: Settings) -> dict[str, Any]:
    """theme_trends for every grain and segment, then emerging-theme detection."""
    from warehouse.trends import rebuild_trends

    report("trends", 0, 1)
    with connection(settings, autocommit=True) as conn:
        themes = conn.execute(
            "SELECT count(DISTINCT theme_id) FROM trendmine.feedback_theme").fetchone()[0]
        counts = rebuild_trends(conn, settings)
    report("trends", 1, 1)
    counts = {"in": themes, "out": counts.get("trend_rows", 0), **counts}
    get_run_logger().info("%s trend rows for %s themes, %s emerging, in %ss", counts["out"],
                          themes, counts.get("emerging"), counts.get("seconds"))
    return counts


@task(name="rebuild-sales-tables", timeout_seconds=600, **_RETRY)
def rebuild_sales_tables(settings: Settings) -> dict[str, Any]:
    """Sales-loop parameters and the win/loss test per theme (one transaction)."""
    from warehouse.sales import rebuild_sales

    with connection(settings, autocommit=True) as conn:
        counts = rebuild_sales(conn, settings)
    get_run_logger().info("win/loss for %s themes (%s over-represented in lost deals), %s "
                          "revenue-debt themes", counts["winloss_themes"],
                          counts["over_represented"], counts["revenue_debt"])
    return counts


@task(name="notify-loop", timeout_seconds=300, **_RETRY)
def notify_loop(settings: Settings) -> dict[str, Any]:
    """Queue requesters who asked after a decision, publish every pending feedback.loop event."""
    from warehouse.loop import notify_new_requesters, publish_pending

    with connection(settings, autocommit=True) as conn:
        added = notify_new_requesters(conn)
        published = publish_pending(conn, settings)
    get_run_logger().info("loop: %s new requesters, %s events published", added, published)
    return {"new_requesters": added, "published": published}


@task(name="write-html-report", timeout_seconds=600, **_RETRY)
def write_html_report(settings: Settings, path: Path) -> str:
    """The self-contained HTML report (opens offline)."""
    from report.html import write_report

    report("report", 0, 1)
    with connection(settings, autocommit=True) as conn:
        out = write_report(conn, path, settings)
    report("report", 1, 1)
    get_run_logger().info("report written to %s", out.resolve())
    return str(out.resolve())


@task(name="publish-emerging-artifact", timeout_seconds=120, **_RETRY)
def publish_emerging_artifact(settings: Settings, report_path: str | None,
                              counts: dict[str, Any], limit: int = 5) -> str:
    """A markdown artifact on the flow run: top emerging themes, evidence, the report link."""
    from report.summary import to_markdown, top_emerging

    with connection(settings, autocommit=True) as conn:
        rows = top_emerging(conn, limit)
    markdown = to_markdown(rows, Path(report_path) if report_path else None, counts)
    create_markdown_artifact(markdown=markdown, key=ARTIFACT_KEY,
                             description="trendmine: top emerging themes and their evidence")
    get_run_logger().info("artifact %s: %d emerging themes", ARTIFACT_KEY, len(rows))
    return markdown

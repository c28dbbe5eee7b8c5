"""trendmine.pipeline_runs: every flow run records itself (start, end, status, counts).

Plain SQL, no Prefect: the flows call these through tasks, and the failure path calls
`finish_run` directly so a failed run is recorded even while the flow engine unwinds.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from foundation.config import Settings
from foundation.db import connection
from foundation.secrets import scrub
from warehouse.rows import fetch_value

RUNNING, COMPLETED, CANCELLED, FAILED = "running", "completed", "cancelled", "failed"
MAX_ERROR_CHARS = 2000
# Longer than any run can last (stage timeouts, retries included): a `running` row this old
# belongs to a process that was killed before it could record its end.
STALE_RUN_HOURS = 12


def run_params(settings: Settings) -> dict[str, Any]:
    """The parameters that decide what a run produces (never a secret or a URL)."""
    return {
        "topic_prefix": settings.topic_prefix,
        "consumer_group": settings.consumer_group,
        "batch_size": settings.batch_size,
        "redact_pii": settings.redact_pii,
        "max_text_chars": settings.max_text_chars,
        "embedding_model": settings.embedding_model,
        "window_days": settings.window_days,
        "random_state": settings.random_state,
        "segment_weights": settings.segment_weights,
        "source_weights": settings.source_weights,
        "arr_weight": settings.arr_weight,
        "embedded_db": settings.embedded_db,
        "embedded_kafka": settings.embedded_kafka,
    }


def start_run(settings: Settings, flow: str, *, parent_run_id: int | None = None,
              prefect_flow_run_id: str | None = None) -> int:
    """Insert a `running` row; returns its run_id. Rows left `running` by a killed process
    are closed as `failed` first, so `running` always means running."""
    with connection(settings, autocommit=True) as conn:
        conn.execute(
            "UPDATE trendmine.pipeline_runs SET status = %s, ended_at = now(), error = "
            "'abandoned: no end recorded within ' || %s || ' h (was the process killed?)' "
            "WHERE status = %s AND started_at < now() - make_interval(hours => %s)",
            (FAILED, str(STALE_RUN_HOURS), RUNNING, STALE_RUN_HOURS),
        )
        return fetch_value(
            conn,
            "INSERT INTO trendmine.pipeline_runs (flow, status, params, model, parent_run_id, "
            "prefect_flow_run_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING run_id",
            (flow, RUNNING, Jsonb(run_params(settings)), settings.embedding_model,
             parent_run_id, prefect_flow_run_id),
        )


def finish_run(settings: Settings, run_id: int, status: str, counts: dict[str, Any], *,
               error: str | None = None, report_path: str | None = None,
               if_running: bool = False) -> None:
    """Close the row: end time, final status, counts, the error of a failed run (secrets
    scrubbed: the BI role can read this table's view). `if_running`: leave a row that is
    already closed as it is (a stop landing after the run recorded its end)."""
    error = scrub(error, settings.secret_values()) if error else None
    with connection(settings, autocommit=True) as conn:
        conn.execute(
            "UPDATE trendmine.pipeline_runs SET ended_at = now(), status = %s, counts = %s, "
            "error = %s, report_path = coalesce(%s, report_path) WHERE run_id = %s"
            + (" AND status = 'running'" if if_running else ""),
            (status, Jsonb(counts), error[:MAX_ERROR_CHARS] if error else None, report_path,
             run_id),
        )


def fail_orphaned(settings: Settings, prefect_flow_run_ids: list[str], reason: str) -> int:
    """Close as `failed` the `running` rows of these Prefect flow runs (found orphaned by a
    dead runner) and their stage rows; returns how many rows it closed."""
    return close_running(settings, {run_id: (FAILED, reason) for run_id in prefect_flow_run_ids})


def running_flow_run_ids(settings: Settings) -> list[str]:
    """The Prefect flow run ids of the rows still `running`."""
    with connection(settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT prefect_flow_run_id FROM trendmine.pipeline_runs "
            "WHERE status = %s AND prefect_flow_run_id IS NOT NULL", (RUNNING,)).fetchall()
    return [r[0] for r in rows]


def close_running(settings: Settings, ends: dict[str, tuple[str, str]]) -> int:
    """Close the `running` rows of these Prefect flow runs, each with its (status, reason),
    and the `running` stage rows under them with the same; returns how many rows it closed."""
    closed = 0
    with connection(settings, autocommit=True) as conn:
        for flow_run_id, (status, reason) in ends.items():
            cur = conn.execute(
                "WITH RECURSIVE dead AS ("
                " SELECT run_id FROM trendmine.pipeline_runs"
                " WHERE status = %s AND prefect_flow_run_id = %s"
                " UNION SELECT r.run_id FROM trendmine.pipeline_runs r"
                " JOIN dead d ON r.parent_run_id = d.run_id WHERE r.status = %s) "
                "UPDATE trendmine.pipeline_runs SET status = %s, ended_at = now(), error = %s "
                "WHERE run_id IN (SELECT run_id FROM dead)",
                (RUNNING, flow_run_id, RUNNING, status,
                 scrub(reason, settings.secret_values())[:MAX_ERROR_CHARS]),
            )
            closed += cur.rowcount
    return closed


def prune(settings: Settings) -> int:
    """Delete the rows older than TRENDMINE_PIPELINE_RUNS_KEEP_DAYS (never a `running` row,
    nor a parent whose children stay); returns how many went. Each trends run applies it."""
    with connection(settings, autocommit=True) as conn:
        # a parent goes only with its children (parent_run_id has no ON DELETE)
        cur = conn.execute(
            "DELETE FROM trendmine.pipeline_runs r WHERE r.status <> %(running)s "
            "AND r.started_at < now() - make_interval(days => %(days)s) "
            "AND NOT EXISTS (SELECT 1 FROM trendmine.pipeline_runs c "
            "WHERE c.parent_run_id = r.run_id AND (c.status = %(running)s "
            "OR c.started_at >= now() - make_interval(days => %(days)s)))",
            {"running": RUNNING, "days": settings.pipeline_runs_keep_days},
        )
        return cur.rowcount

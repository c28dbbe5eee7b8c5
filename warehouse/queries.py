"""Read-side queries behind the CLI and the report. Parameterised SQL only.

`top_trends` ranks a time window straight from the base tables, so a --source filter and a
window longer than one period both count each account (and each deal) once; it uses each
account's CURRENT segment and ARR. trends.theme_trends keeps the as-of-period figures.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from foundation.errors import TrendmineError
from mining.scoring import ScoreWeights
from schemas.names import ALL_SEGMENTS
from warehouse.rows import fetch, fetch_dicts, fetch_value
from warehouse.score import reference_arr_sql, score_params, voices_cte
from warehouse.trends import GRAINS, GROWTH_PERIODS, period_starts

RANK_BY = ("score", "arr", "accounts", "mentions")
SPARK_PERIODS = 16
_SINCE_RE = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'90d', '12w', '6m', '1y' (ago) or an ISO date -> an aware datetime."""
    now = now or datetime.now(UTC)
    m = _SINCE_RE.match(text or "")
    if m:
        return now - timedelta(days=int(m.group(1)) * _UNIT_DAYS[m.group(2).lower()])
    try:
        d = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise TrendmineError(
            f"--since {text!r} is not a duration or a date",
            "use e.g. 90d, 12w, 6m, 1y or 2024-01-31") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@dataclass
class TrendRow:
    theme_id: int
    label: str
    mentions: int
    accounts: int
    arr: float
    pipeline: float
    score: float
    growth: float | None = None  # filled from the series
    periods: list[str] = field(default_factory=list)
    series: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Records in the window, then each voice's (account's) contribution (warehouse.score).
_WINDOW = """
WITH rec AS (
    SELECT DISTINCT lvl.theme_id, f.feedback_id, f.account_id, f.source, f.opportunity_id,
           date_trunc(%(grain)s, f.created_at AT TIME ZONE 'UTC')::date AS period_start,
           coalesce(a.segment, 'unknown') AS segment, coalesce(a.arr, 0) AS arr
    FROM trendmine.feedback_theme ft
    JOIN trendmine.feedback f USING (feedback_id)
    JOIN trendmine.themes t ON t.theme_id = ft.theme_id AND t.status <> 'merged'
    -- level 'parent' counts each record once under its leaf's parent
    CROSS JOIN LATERAL (SELECT CASE WHEN %(level)s::text = 'parent'
                        THEN coalesce(t.parent_theme_id, t.theme_id) ELSE t.theme_id END
                        AS theme_id) lvl
    LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
    WHERE f.created_at >= %(since)s
      AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
      AND (%(segment)s::text IS NULL OR coalesce(a.segment, 'unknown') = %(segment)s::text)
      AND (%(themes)s::bigint[] IS NULL OR lvl.theme_id = ANY(%(themes)s::bigint[]))
      -- hidden and chatter themes stay out of the lists (still shown when asked for by id)
      AND (t.visibility = 'shown' OR %(themes)s::bigint[] IS NOT NULL)
), {voices}
"""

_TOTALS = """
, pipe AS (
    SELECT theme_id, sum(amount) AS pipeline FROM (
        SELECT DISTINCT rec.theme_id, o.opportunity_id, o.amount FROM rec
        JOIN trendmine.opportunities o ON o.opportunity_id = rec.opportunity_id
                                      AND o.stage = 'open') d
    GROUP BY 1
), totals AS (
    SELECT s.theme_id, t.label, sum(records)::integer AS mentions,
           count(account_id)::integer AS accounts, sum(arr)::float8 AS arr,
           coalesce(max(p.pipeline), 0)::float8 AS pipeline, sum(contrib)::float8 AS score
    FROM scored s JOIN trendmine.themes t USING (theme_id) LEFT JOIN pipe p USING (theme_id)
    GROUP BY 1, 2
)
SELECT * FROM totals ORDER BY {rank} DESC, theme_id LIMIT %(limit)s
"""

_SERIES = ("SELECT theme_id, period_start, sum(contrib)::float8 AS score FROM scored "
           "GROUP BY 1, 2")


def top_trends(conn: psycopg.Connection, since: datetime, grain: str = "week",
               segment: str | None = None, source: str | None = None,
               rank_by: str = "score", limit: int = 20, weights: ScoreWeights | None = None,
               now: datetime | None = None, level: str = "leaf") -> list[TrendRow]:
    """The top themes of the window since `since`, with a weighted-score series per period;
    `level="parent"` ranks the parent themes (each record counted once per parent)."""
    if level not in ("leaf", "parent"):
        raise TrendmineError(f"unknown --level {level!r}", "use leaf or parent")
    if grain not in GRAINS:
        raise TrendmineError(f"unknown period {grain!r}", f"use one of {', '.join(GRAINS)}")
    if rank_by not in RANK_BY:
        raise TrendmineError(f"unknown --rank-by {rank_by!r}", f"use one of {', '.join(RANK_BY)}")
    if segment == ALL_SEGMENTS:
        segment = None
    weights = weights or ScoreWeights()
    params = {**score_params(weights, reference_arr_sql(conn)), "grain": grain, "since": since,
              "source": source, "segment": segment, "themes": None, "limit": limit,
              "level": level}
    query = sql.SQL(_WINDOW + _TOTALS).format(voices=voices_cte(("theme_id",)),
                                             rank=sql.Identifier(rank_by))
    rows = fetch(conn, TrendRow, query, params)
    if not rows:
        return []
    params["themes"] = [r.theme_id for r in rows]
    series_q = sql.SQL(_WINDOW + _SERIES).format(voices=voices_cte(("theme_id", "period_start")))
    points: dict[int, dict[date, float]] = {}
    for pt in fetch_dicts(conn, series_q, params):
        points.setdefault(pt["theme_id"], {})[pt["period_start"]] = pt["score"]
    # series and growth stop at the last complete period (one in progress looks like a drop)
    current = period_starts(grain, (now or datetime.now(UTC)).astimezone(UTC).date(), 1)[0]
    end = current - timedelta(days=1)
    first = period_starts(grain, since.astimezone(UTC).date(), 1)[0]
    # the tail of the window: the sparkline plus the periods growth compares against
    starts = [p for p in period_starts(grain, end, SPARK_PERIODS + GROWTH_PERIODS)
              if p >= first]
    for row in rows:
        full = [points.get(row.theme_id, {}).get(p, 0.0) for p in starts]
        row.growth = _growth(full)
        row.periods = [p.isoformat() for p in starts[-SPARK_PERIODS:]]
        row.series = [round(v, 4) for v in full[-SPARK_PERIODS:]]
    return rows


def _growth(series: list[float]) -> float | None:
    """Last period against the mean of the previous GROWTH_PERIODS (as in theme_trends)."""
    if len(series) < 2:
        return None
    prev = series[-GROWTH_PERIODS - 1:-1]
    mean = sum(prev) / len(prev)
    return series[-1] / mean - 1 if mean > 0 else None


def emerging(conn: psycopg.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """trends.emerging_themes, ranked: one dict per theme (evidence as stored, a dict)."""
    return fetch_dicts(
        conn,
        "SELECT e.rank, e.theme_id, e.label, e.is_new, e.grain, e.period_start, e.mentions, "
        "e.accounts, e.arr::float8 AS arr, e.pipeline::float8 AS pipeline, e.observed, "
        "e.expected, e.statistic, e.p_value, e.threshold, e.evidence, t.parent_label "
        "FROM trends.emerging_themes e LEFT JOIN trends.themes t USING (theme_id) "
        "ORDER BY e.rank LIMIT %s",
        (limit,))


def theme_detail(conn: psycopg.Connection, theme_id: int, weeks: int = SPARK_PERIODS
                 ) -> dict[str, Any]:
    """Everything about one theme: label, quotes, trend per segment, accounts, sources, lineage."""
    found = fetch_dicts(
        conn,
        "SELECT theme_id, label, keywords, quotes, size, n_feedback, n_accounts, first_seen, "
        "last_seen, status, merged_into FROM trendmine.themes WHERE theme_id = %s", (theme_id,))
    if not found:
        raise TrendmineError(f"no theme {theme_id}", "list themes with `trendmine trends`")
    detail = found[0]
    detail["quotes"] = [q.get("text", str(q)) if isinstance(q, dict) else str(q)
                        for q in (detail["quotes"] or [])]
    latest = fetch_value(
        conn, "SELECT max(period_start) FROM trendmine.theme_trends WHERE grain = 'week'")
    weeks_list = period_starts("week", latest, weeks) if latest else []
    seg_rows = fetch_dicts(
        conn,
        "SELECT segment, period_start, mentions, accounts, arr::float8 AS arr, "
        "pipeline::float8 AS pipeline, weighted_score, growth FROM trendmine.theme_trends "
        "WHERE theme_id = %s AND grain = 'week' AND period_start >= %s "
        "ORDER BY segment, period_start",
        (theme_id, weeks_list[0] if weeks_list else date.min))
    segments: dict[str, dict[str, Any]] = {}
    for r in seg_rows:
        s = segments.setdefault(r["segment"], {"segment": r["segment"], "mentions": 0,
                                               "series": dict.fromkeys(weeks_list, 0.0)})
        s["mentions"] += r["mentions"]
        s["series"][r["period_start"]] = r["weighted_score"]
        s["growth"] = r["growth"] if r["period_start"] == latest else s.get("growth")
    for s in segments.values():
        s["series"] = list(s["series"].values())
        s.setdefault("growth", None)
    detail["weeks"] = [p.isoformat() for p in weeks_list]
    detail["segments"] = sorted(segments.values(),
                                key=lambda s: (s["segment"] != ALL_SEGMENTS, s["segment"]))
    detail["accounts"] = fetch_dicts(
        conn,
        "SELECT f.account_id, a.name, coalesce(a.segment, 'unknown') AS segment, "
        "coalesce(a.arr, 0)::float8 AS arr, count(DISTINCT f.feedback_id)::integer AS mentions, "
        "coalesce(max(ta.open_deals), 0) AS open_deals, "
        "coalesce(max(ta.open_pipeline), 0)::float8 AS open_pipeline "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id "
        "LEFT JOIN trends.accounts ta ON ta.account_id = f.account_id "
        "WHERE ft.theme_id = %s AND f.account_id IS NOT NULL "
        "GROUP BY 1, 2, 3, 4 ORDER BY arr DESC, mentions DESC, 1 LIMIT 10", (theme_id,))
    detail["sources"] = fetch_dicts(
        conn,
        "SELECT f.source, count(DISTINCT f.feedback_id)::integer AS mentions "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "WHERE ft.theme_id = %s GROUP BY 1 ORDER BY 2 DESC, 1", (theme_id,))
    detail["lineage"] = fetch_dicts(
        conn,
        "SELECT event, theme_id, related_theme_ids, similarity, overlap, run_id, at, detail "
        "FROM trendmine.theme_lineage WHERE theme_id = %s OR %s = ANY(related_theme_ids) "
        "ORDER BY at, lineage_id", (theme_id, theme_id))
    return detail


def similar(conn: psycopg.Connection, query_embedding: np.ndarray, model_id: str,
            limit: int = 10) -> list[dict[str, Any]]:
    """The stored feedback closest to the query (cosine distance), one row per record."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    vec = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    has = fetch_value(conn, "SELECT true FROM trendmine.feedback_embedding WHERE model = %s "
                            "LIMIT 1", (model_id,))
    if not has:
        raise TrendmineError(f"no embeddings stored for model {model_id!r}",
                             "run the mining flow first (or set TRENDMINE_EMBEDDING_MODEL)")
    return fetch_dicts(
        conn,
        """
        WITH near AS (
            SELECT feedback_id, ord, embedding <=> %(q)s AS distance
            FROM trendmine.feedback_embedding WHERE model = %(model)s
            ORDER BY distance LIMIT %(k)s
        ), best AS (
            SELECT DISTINCT ON (feedback_id) * FROM near ORDER BY feedback_id, distance
        )
        SELECT b.feedback_id, (1 - b.distance)::float8 AS similarity, f.source, f.text,
               f.created_at, f.account_id, a.name AS account_name,
               coalesce(a.segment, 'unknown') AS segment, coalesce(a.arr, 0)::float8 AS arr,
               ft.theme_id, t.label AS theme_label,
               coalesce(ta.open_deals, 0) AS open_deals,
               coalesce(ta.open_pipeline, 0)::float8 AS open_pipeline
        FROM best b JOIN trendmine.feedback f USING (feedback_id)
        LEFT JOIN trendmine.feedback_theme ft ON ft.feedback_id = b.feedback_id
                                             AND ft.ord = b.ord
        LEFT JOIN trendmine.themes t ON t.theme_id = ft.theme_id
        LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
        LEFT JOIN trends.accounts ta ON ta.account_id = f.account_id
        ORDER BY b.distance LIMIT %(limit)s
        """, {"q": vec, "model": model_id, "k": limit * 5, "limit": limit})


def freshness(conn: psycopg.Connection) -> dict[str, Any]:
    """Newest feedback, newest trends rebuild, counts: the report header."""
    return fetch_dicts(
        conn,
        "SELECT (SELECT max(created_at) FROM trendmine.feedback) AS newest_feedback, "
        "(SELECT max(last_ingested_at) FROM trendmine.feedback) AS last_ingested, "
        "(SELECT max(computed_at) FROM trendmine.theme_trends) AS trends_computed, "
        "(SELECT count(*) FROM trendmine.feedback) AS feedback, "
        "(SELECT count(*) FROM trendmine.themes WHERE status = 'active') AS themes")[0]

"""Rebuild trendmine.theme_trends and trendmine.theme_emerging from the mined assignments.

Set-based: a few INSERT ... SELECT statements over temp tables, in one transaction (delete +
insert), so readers see the old trends or the new ones, never a half-built mix.

Definitions (also in the COMMENTs of trends.theme_trends):
- a *mention* is a feedback RECORD with at least one snippet in the theme;
- periods are calendar days, ISO weeks (starting Monday) and calendar months in
  TRENDMINE_TIMEZONE (default UTC), the zone the read side's windows use too;
- an account's segment and ARR are taken AS OF the period: its newest account_history
  snapshot taken before the period ends, else its earliest snapshot, else the current
  trendmine.accounts row; feedback without a known account is segment ``unknown``, ARR 0;
- *pipeline* is the amount of the distinct opportunities linked from the feedback itself
  (feedback.opportunity_id) whose current stage is ``open``. The account's other open deals
  are deliberately not added: they would credit every theme an account mentions with the
  account's whole pipeline;
- parent themes get rows too: a record counts once for each parent of its leaf themes
  (emerging detection runs on the leaves only);
- weighted_score: see warehouse.score and mining.scoring (each account once per period);
- growth: weighted_score / mean(weighted_score of the previous 4 periods, missing periods
  count as 0, only periods since the theme first appeared in that segment) - 1; null when
  there is no earlier period or that mean is 0. mentions_prev: mentions of the previous
  period (0 when the theme was quiet then, null before its first period).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from foundation.config import Settings
from mining.emerging import EmergingTheme, ThemeSeries, detect_emerging, group_related
from mining.scoring import ScoreWeights
from schemas.names import ALL_SEGMENTS
from warehouse.rows import fetch, fetch_map, fetch_value
from warehouse.score import reference_arr_sql, score_params, voices_cte

GRAINS = ("day", "week", "month")
GROWTH_PERIODS = 4
EMERGING_GRAIN = "week"
EMERGING_BASELINE_PERIODS = 12
EMERGING_RECENT_PERIODS = 2
# flagged sub-themes of one request surge together: one entry (mining.emerging.group_related);
# 0.7 is above 99% of the centroid pairs of distinct themes in the demo world (p99 0.51-0.74)
EMERGING_RELATED_SIMILARITY = 0.7

# Per (grain, theme, record): the rows every later step aggregates.
_RECORDS = """
CREATE TEMP TABLE tm_rec ON COMMIT DROP AS
SELECT g.grain, m.theme_id, f.feedback_id, f.account_id, f.source, f.opportunity_id,
       date_trunc(g.grain, f.created_at AT TIME ZONE %(tz)s)::date AS period_start,
       (date_trunc(g.grain, f.created_at AT TIME ZONE %(tz)s) + ('1 ' || g.grain)::interval)
           AT TIME ZONE %(tz)s AS period_end
FROM (  -- a record counts for its leaf themes and, once, for each of their parents
    SELECT DISTINCT feedback_id, theme_id FROM trendmine.feedback_theme
    UNION
    SELECT DISTINCT ft.feedback_id, t.parent_theme_id FROM trendmine.feedback_theme ft
    JOIN trendmine.themes t ON t.theme_id = ft.theme_id AND t.parent_theme_id IS NOT NULL
) m
JOIN trendmine.feedback f USING (feedback_id)
CROSS JOIN unnest(%(grains)s::text[]) AS g(grain)
"""

# Segment and ARR of each (grain, period, account) as of the period end.
_ACCOUNT_STATE = """
CREATE TEMP TABLE tm_acct ON COMMIT DROP AS
WITH p AS (
    SELECT DISTINCT grain, period_start, period_end, account_id
    FROM tm_rec WHERE account_id IS NOT NULL
), h AS (
    SELECT account_id, segment, arr, valid_from,
           lead(valid_from) OVER w AS valid_to, row_number() OVER w AS rn
    FROM trendmine.account_history
    WINDOW w AS (PARTITION BY account_id ORDER BY valid_from)
)
SELECT p.grain, p.period_start, p.account_id,
       coalesce(h.segment, a.segment, 'unknown') AS segment,
       coalesce(h.arr, a.arr, 0) AS arr
FROM p
LEFT JOIN h ON h.account_id = p.account_id
           -- the snapshot in force at period end; the earliest one also covers earlier periods
           AND (h.valid_from < p.period_end OR h.rn = 1)
           AND (h.valid_to IS NULL OR h.valid_to >= p.period_end)
LEFT JOIN trendmine.accounts a ON a.account_id = p.account_id
"""

# One row per voice (an account, or an anonymous record) per theme x period, with its
# contribution to the weighted score (warehouse.score: the formula's one home).
_VOICES = """
CREATE TEMP TABLE tm_voice ON COMMIT DROP AS
WITH rec AS (
    SELECT r.grain, r.theme_id, r.period_start, r.feedback_id, r.account_id, r.source,
           coalesce(ac.segment, 'unknown') AS segment, coalesce(ac.arr, 0) AS arr
    FROM tm_rec r
    LEFT JOIN tm_acct ac ON ac.grain = r.grain AND ac.period_start = r.period_start
                        AND ac.account_id = r.account_id
), {voices}
SELECT * FROM scored
"""

_INSERT_TRENDS = """
INSERT INTO trendmine.theme_trends (theme_id, grain, period_start, segment, mentions, accounts,
    arr, pipeline, weighted_score, mentions_prev, growth, computed_at)
WITH agg AS (
    SELECT theme_id, grain, period_start,
           CASE WHEN grouping(segment) = 1 THEN %(all)s ELSE segment END AS segment,
           sum(records)::integer AS mentions, count(account_id)::integer AS accounts,
           sum(arr) AS arr, sum(contrib) AS score
    FROM tm_voice
    GROUP BY GROUPING SETS ((theme_id, grain, period_start, segment),
                            (theme_id, grain, period_start))
), opp AS (  -- distinct open opportunities per theme x period x segment
    SELECT DISTINCT r.theme_id, r.grain, r.period_start,
           coalesce(ac.segment, 'unknown') AS segment, o.opportunity_id, o.amount
    FROM tm_rec r
    JOIN trendmine.opportunities o ON o.opportunity_id = r.opportunity_id AND o.stage = 'open'
    LEFT JOIN tm_acct ac ON ac.grain = r.grain AND ac.period_start = r.period_start
                        AND ac.account_id = r.account_id
), pipe AS (
    SELECT theme_id, grain, period_start, segment, sum(amount) AS pipeline
    FROM opp GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT theme_id, grain, period_start, %(all)s, sum(amount)
    FROM (SELECT DISTINCT theme_id, grain, period_start, opportunity_id, amount FROM opp) d
    GROUP BY 1, 2, 3
), j AS (
    SELECT agg.*, coalesce(pipe.pipeline, 0) AS pipeline,
           -- a running period number, so window frames can count periods, gaps included
           CASE agg.grain
               WHEN 'day' THEN agg.period_start - date '2000-01-03'
               WHEN 'week' THEN (agg.period_start - date '2000-01-03') / 7
               ELSE extract(year FROM agg.period_start)::int * 12
                    + extract(month FROM agg.period_start)::int
           END AS pidx
    FROM agg LEFT JOIN pipe USING (theme_id, grain, period_start, segment)
), w AS (
    SELECT j.*,
           sum(score) OVER (PARTITION BY theme_id, grain, segment ORDER BY pidx
                            RANGE BETWEEN {n_prev} PRECEDING AND 1 PRECEDING) AS prev_sum,
           sum(mentions) OVER (PARTITION BY theme_id, grain, segment ORDER BY pidx
                               RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING) AS prev_mentions,
           pidx - min(pidx) OVER (PARTITION BY theme_id, grain, segment) AS since_first
    FROM j
)
SELECT theme_id, grain, period_start, segment, mentions, accounts, arr, pipeline, score,
       CASE WHEN since_first > 0 THEN coalesce(prev_mentions, 0)::integer END,
       CASE WHEN since_first > 0 AND prev_sum > 0
            THEN score / (prev_sum / least(since_first, {n_prev})) - 1 END,
       %(now)s
FROM w
""".replace("{n_prev}", str(int(GROWTH_PERIODS)))  # a frame offset must be a literal


def rebuild_trends(conn: psycopg.Connection, settings: Settings,
                   grains: tuple[str, ...] = GRAINS, now: datetime | None = None,
                   weights: ScoreWeights | None = None) -> dict[str, int | float]:
    """Recompute theme_trends (all grains) and theme_emerging; returns counts and timings.

    ``now`` places the emerging-detection window: it ends with the period containing
    ``now``, weighted by the share of it elapsed; by default ``now`` is the newest feedback
    time, so a paused ingest does not make every theme look like it is fading.
    """
    bad = [g for g in grains if g not in GRAINS]
    if bad or not grains:
        raise ValueError(f"grains: expected some of {GRAINS}, got {grains!r}")
    weights = weights or ScoreWeights.from_settings(settings)
    t0 = time.perf_counter()
    computed_at = datetime.now(UTC)
    with conn.transaction():
        # the sorts and hashes of one rebuild fit in memory instead of spilling to disk
        conn.execute("SET LOCAL work_mem = '256MB'")
        ref_arr = reference_arr_sql(conn)
        params = {"grains": list(grains), "all": ALL_SEGMENTS, "now": computed_at,
                  "tz": settings.timezone,
                  **score_params(weights, ref_arr)}
        conn.execute(_RECORDS, params)
        conn.execute("ANALYZE tm_rec")
        conn.execute(_ACCOUNT_STATE, params)
        conn.execute(sql.SQL(_VOICES).format(
            voices=voices_cte(("grain", "theme_id", "period_start"))), params)
        conn.execute("ANALYZE tm_voice")
        conn.execute("DELETE FROM trendmine.theme_trends WHERE grain = ANY(%s)", (list(grains),))
        cur = conn.execute(_INSERT_TRENDS, params)
        n_trends = cur.rowcount
        t_trends = time.perf_counter() - t0
        grain = EMERGING_GRAIN if EMERGING_GRAIN in grains else grains[0]
        found = _emerging(conn, grain, now, computed_at, settings.timezone)
    return {"trend_rows": n_trends, "emerging": len(found), "reference_arr": ref_arr,
            "trends_seconds": round(t_trends, 3),
            "seconds": round(time.perf_counter() - t0, 3)}


def period_starts(grain: str, end: date, n: int) -> list[date]:
    """The n period starts ending with the period containing `end`, oldest first."""
    if grain == "day":
        return [end - timedelta(days=i) for i in range(n - 1, -1, -1)]
    if grain == "week":
        monday = end - timedelta(days=end.weekday())
        return [monday - timedelta(weeks=i) for i in range(n - 1, -1, -1)]
    months = end.year * 12 + end.month - 1
    return [date((m := months - i) // 12, m % 12 + 1, 1) for i in range(n - 1, -1, -1)]


def _next_period_start(grain: str, start: date) -> date:
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(weeks=1)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


@dataclass(frozen=True)
class _Window:
    """The periods emerging detection reads: a baseline, then the recent window; the last
    period counted for the share of it elapsed."""

    grain: str
    periods: list[date]
    exposure: list[float]
    recent_n: int

    @property
    def recent_start(self) -> date:
        return self.periods[-self.recent_n]

    @property
    def index(self) -> dict[date, int]:
        return {p: i for i, p in enumerate(self.periods)}


@dataclass
class _TrendPoint:  # one theme_trends row of the window
    theme_id: int
    label: str
    period_start: date
    weighted_score: float
    mentions: int
    accounts: int


@dataclass
class _RecentVoices:  # one theme's distinct voices in the recent window
    theme_id: int
    weights: list[float]
    arr: Decimal | None  # ARR of the accounts among them


def _emerging(conn: psycopg.Connection, grain: str, now: datetime | None,
              computed_at: datetime, tz: str = "UTC") -> list[EmergingTheme]:
    """Run mining.emerging on the fresh trends and replace theme_emerging with its ranking."""
    conn.execute("DELETE FROM trendmine.theme_emerging")
    now = now or fetch_value(conn, "SELECT max(created_at) FROM trendmine.feedback")
    if now is None:
        return []
    window = _emerging_window(grain, now, tz)
    series, data_start = _theme_series(conn, window)
    found = detect_emerging(series, recent_periods=window.recent_n,
                            exposure=window.exposure, data_start=data_start)
    centroids = fetch_map(
        conn, "SELECT theme_id, centroid::float4[] AS centroid FROM trendmine.themes "
        "WHERE theme_id = ANY(%s) AND centroid IS NOT NULL", ([e.theme_id for e in found],))
    found = group_related(found, centroids, EMERGING_RELATED_SIMILARITY)
    _write_emerging(conn, window, found, computed_at)
    return found


def _emerging_window(grain: str, now: datetime, tz: str = "UTC") -> _Window:
    # The window ends with the period containing `now`, counted for the share of it that
    # has elapsed (its exposure): dropping it would hide the newest week whenever `now`
    # sits at its very end, and counting it as a full period would read a Tuesday as a
    # collapse in demand.
    zone = ZoneInfo(tz)
    now = now.astimezone(zone)
    current = period_starts(grain, now.date(), 1)[0]
    start_dt = datetime.combine(current, datetime.min.time(), zone)
    length = (datetime.combine(_next_period_start(grain, current), datetime.min.time(), zone)
              - start_dt)
    elapsed = min(max((now - start_dt) / length, 1e-3), 1.0)
    # Early in a period (a Monday for weeks) the recent window also takes the period before,
    # so it always holds at least EMERGING_RECENT_PERIODS full periods of exposure: a surge
    # should not need to be re-found in a few hours of data.
    recent_n = EMERGING_RECENT_PERIODS + (elapsed < 1.0)
    periods = period_starts(grain, current, EMERGING_BASELINE_PERIODS + recent_n)
    return _Window(grain, periods, [1.0] * (len(periods) - 1) + [elapsed], recent_n)


def _theme_series(conn: psycopg.Connection, w: _Window) -> tuple[list[ThemeSeries], int]:
    """Each theme's series over the window (from theme_trends and this rebuild's voices),
    and the index of the first period with any data."""
    first_period, last_period = w.periods[0], w.periods[-1]
    points = fetch(
        conn, _TrendPoint,
        "SELECT tt.theme_id, t.label, tt.period_start, tt.weighted_score, tt.mentions, "
        "tt.accounts FROM trendmine.theme_trends tt JOIN trendmine.themes t USING (theme_id) "
        "WHERE tt.grain = %s AND tt.segment = %s AND tt.period_start BETWEEN %s AND %s "
        # emerging runs on leaves; hidden and chatter themes never emerge
        "AND t.status <> 'merged' AND t.visibility = 'shown' AND t.level = 'leaf'",
        (w.grain, ALL_SEGMENTS, first_period, last_period))
    first = fetch_map(
        conn, "SELECT theme_id, min(period_start) AS first FROM tm_voice WHERE grain = %s "
        "GROUP BY 1", (w.grain,))
    recent = {r.theme_id: r for r in fetch(
        conn, _RecentVoices,
        "SELECT theme_id, array_agg(w) AS weights, sum(arr) FILTER (WHERE is_account) AS arr "
        "FROM (SELECT theme_id, voice, sum(contrib) AS w, max(arr) AS arr,"
        "             bool_or(account_id IS NOT NULL) AS is_account"
        "      FROM tm_voice WHERE grain = %s AND period_start >= %s AND period_start <= %s"
        "      GROUP BY 1, 2) v GROUP BY 1", (w.grain, w.recent_start, last_period))}
    pipeline = fetch_map(
        conn, "SELECT theme_id, sum(amount) AS pipeline FROM (SELECT DISTINCT r.theme_id, "
        "o.opportunity_id, o.amount FROM tm_rec r JOIN trendmine.opportunities o "
        "ON o.opportunity_id = r.opportunity_id AND o.stage = 'open' "
        "WHERE r.grain = %s AND r.period_start >= %s AND r.period_start <= %s) d GROUP BY 1",
        (w.grain, w.recent_start, last_period))

    n, index = len(w.periods), w.index
    labels: dict[int, str] = {}
    cols: dict[int, dict[str, list]] = defaultdict(
        lambda: {"w": [0.0] * n, "m": [0] * n, "a": [0] * n})
    for pt in points:
        labels[pt.theme_id] = pt.label
        i = index[pt.period_start]
        cols[pt.theme_id]["w"][i] = float(pt.weighted_score)
        cols[pt.theme_id]["m"][i] = pt.mentions
        cols[pt.theme_id]["a"][i] = pt.accounts
    series = []
    for theme_id, c in cols.items():
        f = first.get(theme_id)
        voices = recent.get(theme_id)
        series.append(ThemeSeries(
            theme_id=theme_id, label=labels[theme_id], weighted=c["w"], mentions=c["m"],
            accounts=c["a"],
            recent_account_weights=[float(x) for x in voices.weights] if voices else [],
            first_index=index.get(f) if f is not None and f >= first_period else None,
            recent_arr=float(voices.arr or 0) if voices else 0.0,
            recent_pipeline=float(pipeline.get(theme_id) or 0)))
    # the history starts where the data does (any theme), not at each theme's first mention
    data_first = min(first.values(), default=None)
    data_start = 0 if data_first is None or data_first <= first_period else sum(
        p < data_first for p in w.periods)
    return series, data_start


def _write_emerging(conn: psycopg.Connection, w: _Window, found: list[EmergingTheme],
                    computed_at: datetime) -> None:
    periods = [p.isoformat() for p in w.periods]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.theme_emerging (theme_id, grain, period_start, rank, is_new, "
            "mentions, accounts, arr, pipeline, observed, expected, statistic, p_value, "
            "threshold, evidence, computed_at) VALUES (%(theme_id)s, %(grain)s, "
            "%(period_start)s, %(rank)s, %(is_new)s, %(mentions)s, %(accounts)s, %(arr)s, "
            "%(pipeline)s, %(observed)s, %(expected)s, %(statistic)s, %(p_value)s, "
            "%(threshold)s, %(evidence)s, %(computed_at)s)",
            [{**asdict(e), "grain": w.grain, "period_start": w.recent_start,
              "evidence": Jsonb({**e.evidence.as_dict(), "periods": periods}),
              "computed_at": computed_at} for e in found])

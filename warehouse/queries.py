"""Read-side queries behind the CLI and the report. Parameterised SQL only.

One window, one definition (what `trends`, `theme` and `emerging` print, see `Window`):
- the window is whole calendar days in TRENDMINE_TIMEZONE (`day_window`: --since 90d is the
  90 days ending today there, today included), so its bounds do not move during a day and
  match the dates of its caption; periods are that zone's days, weeks and months;
- mentions are feedback RECORDS in it, accounts are
  distinct accounts, ARR is the CURRENT ARR of those accounts (each once), pipeline the
  distinct open deals linked from that feedback, score the weighted score with each account
  once over the whole window (warehouse.score);
- value (the default ranking) is mining.scoring.value_score over the window's weighted score,
  open pipeline and the weighted score of its last days against the days before;
- `top_trends` computes these straight from the base tables, so a --source filter and a window
  longer than one period both count each account (and each deal) once; --segment is the
  account's CURRENT segment;
- growth is never recomputed here: it is trends.theme_trends.growth (warehouse.trends) of the
  last COMPLETE period of the grain (a period in progress would read as a drop), for the
  segment asked (as of that period) or 'all'; -100% when the theme was quiet in that period
  after mentions in the GROWTH_PERIODS before it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from foundation.errors import TrendmineError
from mining.scoring import ScoreWeights, recent_days, value_score
from mining.sentiment import LexiconToneScorer
from schemas.names import ALL_SEGMENTS
from warehouse.rows import fetch, fetch_dicts, fetch_value
from warehouse.score import reference_arr_sql, score_params, voices_cte
from warehouse.trends import (
    EMERGING_RELATED_SIMILARITY,
    GRAINS,
    GROWTH_PERIODS,
    period_starts,
)

RANK_BY = ("value", "score", "mentions", "accounts", "arr", "pipeline", "growth")
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


def local_midnight(day: date, tz: str) -> datetime:
    """The start of `day` in the zone `tz`, as an aware datetime."""
    return datetime.combine(day, time.min, ZoneInfo(tz))


@dataclass(frozen=True)
class Window:
    """The time window and grain every read-side number states (see the module docstring):
    from `since` (included) to `until` (excluded), periods in the zone `tz`."""

    since: datetime
    until: datetime
    grain: str
    tz: str = "UTC"

    @property
    def last_day(self) -> date:
        """The window's last calendar day (in `tz`)."""
        return (self.until - timedelta(microseconds=1)).astimezone(ZoneInfo(self.tz)).date()

    @property
    def days(self) -> int:
        """Calendar days in the window, its first and last included."""
        first = self.since.astimezone(ZoneInfo(self.tz)).date()
        return max((self.last_day - first).days + 1, 1)

    @property
    def recent_since(self) -> datetime:
        """Start of the window's recent days (mining.scoring.recent_days): value's momentum."""
        return local_midnight(self.last_day - timedelta(days=recent_days(self.days) - 1),
                              self.tz)

    @property
    def growth_period(self) -> date:
        """Start of the last complete period: the one growth is read for."""
        current = period_starts(self.grain, self.last_day, 1)[0]
        return period_starts(self.grain, current - timedelta(days=1), 1)[0]

    @property
    def baseline_start(self) -> date:
        """Start of the first of the GROWTH_PERIODS periods growth compares against."""
        return period_starts(self.grain, self.growth_period, GROWTH_PERIODS + 1)[0]

    def caption(self, source: str | None = None) -> str:
        """One line that says which window and grain the numbers use."""
        first = self.since.astimezone(ZoneInfo(self.tz)).date()
        growth = ("growth: n/a with --source (trends are not split by source)" if source else
                  f"growth: weighted score of the {self.grain} of {self.growth_period:%Y-%m-%d}"
                  f" vs the mean of the {GROWTH_PERIODS} {self.grain}s before")
        return (f"window {first:%Y-%m-%d} to {self.last_day:%Y-%m-%d} ({self.days} whole days, "
                f"{self.tz}), series per {self.grain}; mentions = records, accounts distinct, "
                f"ARR current (each account once), pipeline = open deals linked; "
                f"value = score x pipeline factor x momentum of the last "
                f"{recent_days(self.days)} days (--explain); {growth}")


def make_window(since: datetime, grain: str = "week", now: datetime | None = None,
                tz: str = "UTC") -> Window:
    """The window from `since` to `now` (default: the wall clock) at `grain`."""
    if grain not in GRAINS:
        raise TrendmineError(f"unknown period {grain!r}", f"use one of {', '.join(GRAINS)}")
    return Window(since, now or datetime.now(UTC), grain, tz)


def day_window(text: str, grain: str = "week", tz: str = "UTC", now: datetime | None = None
               ) -> Window:
    """Whole calendar days in `tz`: '90d' (also 12w, 6m = 180d, 1y = 365d) is that many days
    ending today, today included; a date runs from that day through today."""
    zone = ZoneInfo(tz)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    m = _SINCE_RE.match(text or "")
    if m:
        n = int(m.group(1)) * _UNIT_DAYS[m.group(2).lower()]
        if n < 1:
            raise TrendmineError(f"--since {text!r} is an empty window", "use e.g. 90d")
        first = today - timedelta(days=n - 1)
    else:
        try:
            first = date.fromisoformat(text.strip()[:10])
        except (ValueError, AttributeError):
            raise TrendmineError(
                f"--since {text!r} is not a duration or a date",
                "use e.g. 90d, 12w, 6m, 1y or 2024-01-31") from None
    return make_window(local_midnight(min(first, today), tz), grain,
                       local_midnight(today + timedelta(days=1), tz), tz)


def known_segments(conn: psycopg.Connection, weights: ScoreWeights | None = None) -> list[str]:
    """Segments a --segment may name: the CRM's, the weighted ones, 'unknown' and 'all'."""
    found = fetch_dicts(conn, "SELECT DISTINCT lower(segment) AS s FROM trendmine.accounts "
                              "WHERE segment IS NOT NULL")
    names = {r["s"] for r in found} | set((weights or ScoreWeights()).segment_weights)
    return [*sorted(names | {"unknown"}), ALL_SEGMENTS]


def resolve_segment(conn: psycopg.Connection, text: str | None,
                    weights: ScoreWeights | None = None) -> str | None:
    """--segment matched case-insensitively ('SMB' -> 'smb'); None for no filter or 'all'."""
    if text is None:
        return None
    wanted = text.strip().lower().replace("-", "_").replace(" ", "_")
    valid = known_segments(conn, weights)
    if wanted not in valid:
        raise TrendmineError(f"unknown --segment {text!r}", f"use one of {', '.join(valid)}")
    return None if wanted == ALL_SEGMENTS else wanted


@dataclass
class TrendRow:
    theme_id: int
    label: str
    mentions: int
    accounts: int
    arr: float
    pipeline: float
    score: float
    growth: float | None  # trends.theme_trends.growth of the window's growth period
    value: float = 0.0  # mining.scoring.value_score: the default ranking
    # value's components (mining.scoring.ValueParts) and the recent/earlier scores behind them
    explain: dict[str, float] = field(default_factory=dict)
    periods: list[str] = field(default_factory=list)
    series: list[float] = field(default_factory=list)
    urgent_share: float | None = None  # records with an urgency cue (mining.sentiment)
    sentiment: float | None = None  # mean record sentiment, -1 to 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Records in the window, then each voice's (account's) contribution (warehouse.score).
_WINDOW = """
WITH rec AS (
    SELECT DISTINCT lvl.theme_id, f.feedback_id, f.account_id, f.source, f.opportunity_id,
           date_trunc(%(grain)s, f.created_at AT TIME ZONE %(tz)s)::date AS period_start,
           f.created_at >= %(recent_since)s AS recent,
           (f.created_at AT TIME ZONE %(tz)s)::date AS day,
           coalesce(a.segment, 'unknown') AS segment, coalesce(a.arr, 0) AS arr
    FROM trendmine.feedback_theme ft
    JOIN trendmine.feedback f USING (feedback_id)
    JOIN trendmine.themes t ON t.theme_id = ft.theme_id AND t.status <> 'merged'
    -- level 'parent' counts each record once under its leaf's parent
    CROSS JOIN LATERAL (SELECT CASE WHEN %(level)s::text = 'parent'
                        THEN coalesce(t.parent_theme_id, t.theme_id) ELSE t.theme_id END
                        AS theme_id) lvl
    JOIN trendmine.themes lt ON lt.theme_id = lvl.theme_id
    LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
    WHERE f.created_at >= %(since)s AND f.created_at < %(until)s
      AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
      AND (%(segment)s::text IS NULL
           OR lower(coalesce(a.segment, 'unknown')) = %(segment)s::text)
      AND (%(themes)s::bigint[] IS NULL OR lvl.theme_id = ANY(%(themes)s::bigint[]))
      -- hidden and chatter themes stay out of the lists (still shown when asked for by id)
      -- (at level 'parent': the parent too, and a retired, emptied parent has no leaves)
      AND ((t.visibility = 'shown' AND lt.visibility = 'shown')
           OR %(themes)s::bigint[] IS NOT NULL)
), {voices}
"""

_TOTALS = """
, pipe AS (
    SELECT theme_id, sum(amount) AS pipeline FROM (
        SELECT DISTINCT rec.theme_id, o.opportunity_id, o.amount FROM rec
        JOIN trendmine.opportunities o ON o.opportunity_id = rec.opportunity_id
                                      AND o.stage = 'open') d
    GROUP BY 1
), grow AS (  -- growth has one home: trendmine.theme_trends (warehouse.trends)
    SELECT theme_id,
           coalesce(max(growth) FILTER (WHERE period_start = %(growth_period)s),
                    -- quiet in the growth period after mentions just before it: -100%%
                    CASE WHEN bool_and(period_start < %(growth_period)s) THEN -1 END
           )::float8 AS growth
    FROM trendmine.theme_trends
    WHERE %(source)s::text IS NULL AND grain = %(grain)s AND segment = %(growth_segment)s
      AND period_start BETWEEN %(baseline_start)s AND %(growth_period)s
    GROUP BY theme_id
), totals AS (
    SELECT s.theme_id, t.label, sum(records)::integer AS mentions,
           count(account_id)::integer AS accounts, sum(arr)::float8 AS arr,
           coalesce(max(p.pipeline), 0)::float8 AS pipeline, sum(contrib)::float8 AS score,
           max(g.growth) AS growth
    FROM scored s JOIN trendmine.themes t USING (theme_id) LEFT JOIN pipe p USING (theme_id)
    LEFT JOIN grow g USING (theme_id)
    GROUP BY 1, 2
)
SELECT * FROM totals
"""

# each theme's weighted score per day (an account once a day: additive over time, so a steady
# theme scores as much per day in the recent days as before), summed over the window's recent
# days and over the days before them (value's momentum)
_RECENT = "SELECT theme_id, recent, sum(contrib)::float8 AS score FROM scored GROUP BY 1, 2"

_SERIES = ("SELECT theme_id, period_start, sum(contrib)::float8 AS score FROM scored "
           "GROUP BY 1, 2")

_TEXTS = ("SELECT DISTINCT rec.theme_id, rec.feedback_id, f.text FROM rec "
          "JOIN trendmine.feedback f USING (feedback_id)")


class TrendList(list):
    """The rows shown, and `total`: how many themes there are before the limit."""

    total: int = 0


def top_trends(conn: psycopg.Connection, since: datetime, grain: str = "week",
               segment: str | None = None, source: str | None = None,
               rank_by: str = "value", limit: int = 20, weights: ScoreWeights | None = None,
               now: datetime | None = None, themes: list[int] | None = None,
               level: str = "leaf", tz: str = "UTC") -> TrendList:
    """The top themes of the window from `since` to `now` (or just `themes`), with a
    weighted-score series per period, growth from theme_trends and the value score (module
    docstring: the definitions); `level="parent"` ranks the parent themes (each record
    counted once per parent). The list's `total` counts every theme of the window."""
    if level not in ("leaf", "parent"):
        raise TrendmineError(f"unknown --level {level!r}", "use leaf or parent")
    win = make_window(since, grain, now, tz)
    if rank_by not in RANK_BY:
        raise TrendmineError(f"unknown --rank-by {rank_by!r}", f"use one of {', '.join(RANK_BY)}")
    weights = weights or ScoreWeights()
    segment = resolve_segment(conn, segment, weights)
    ref_arr = reference_arr_sql(conn)
    params = {**score_params(weights, ref_arr), "grain": grain, "since": since,
              "until": win.until, "tz": tz, "recent_since": win.recent_since,
              "source": source, "segment": segment, "themes": themes,
              "growth_period": win.growth_period, "baseline_start": win.baseline_start,
              "growth_segment": segment or ALL_SEGMENTS, "level": level}
    query = sql.SQL(_WINDOW + _TOTALS).format(voices=voices_cte(("theme_id",)))
    every = fetch(conn, TrendRow, query, params)
    out = TrendList()
    out.total = len(every)
    if not every:
        return out
    _add_value(conn, every, params, win.days, ref_arr)
    every.sort(key=lambda r: r.theme_id)
    # descending, missing values last, ties by theme id (the sort is stable)
    every.sort(key=lambda r: (getattr(r, rank_by) is not None, getattr(r, rank_by) or 0),
               reverse=True)
    rows = every[:limit]
    out.extend(rows)
    params["themes"] = [r.theme_id for r in rows]
    series_q = sql.SQL(_WINDOW + _SERIES).format(voices=voices_cte(("theme_id", "period_start")))
    points: dict[int, dict[date, float]] = {}
    for pt in fetch_dicts(conn, series_q, params):
        points.setdefault(pt["theme_id"], {})[pt["period_start"]] = pt["score"]
    # the series stops at the last complete period, like growth (one in progress looks
    # like a drop)
    first = period_starts(grain, since.astimezone(ZoneInfo(tz)).date(), 1)[0]
    starts = [p for p in period_starts(grain, win.growth_period, SPARK_PERIODS) if p >= first]
    for row in rows:
        row.periods = [p.isoformat() for p in starts]
        row.series = [round(points.get(row.theme_id, {}).get(p, 0.0), 4) for p in starts]
    texts_q = sql.SQL(_WINDOW + _TEXTS).format(voices=voices_cte(("theme_id",)))
    tones = theme_tone(fetch_dicts(conn, texts_q, params))
    for row in rows:
        row.urgent_share, row.sentiment = tones.get(row.theme_id, (None, None))
    return out


def _add_value(conn: psycopg.Connection, rows: list[TrendRow], params: dict[str, Any],
               days: int, ref_arr: float) -> None:
    """Each row's value score (mining.scoring.value_score) and its components."""
    parts_q = sql.SQL(_WINDOW + _RECENT).format(
        voices=voices_cte(("theme_id", "recent", "day")))
    split: dict[int, dict[bool, float]] = {}
    for r in fetch_dicts(conn, parts_q, params):
        split.setdefault(r["theme_id"], {})[r["recent"]] = r["score"]
    for row in rows:
        recent = split.get(row.theme_id, {}).get(True, 0.0)
        earlier = split.get(row.theme_id, {}).get(False, 0.0)
        v = value_score(row.score, row.pipeline, recent, earlier, days, ref_arr)
        row.value = round(v.value, 4)
        row.explain = {"demand": round(v.demand, 4), "pipeline_factor": round(v.pipeline_factor, 4),
                       "recent_score": round(recent, 4), "earlier_score": round(earlier, 4),
                       "lift": round(v.lift, 4), "momentum": round(v.momentum, 4),
                       "recent_days": recent_days(days), "reference_arr": round(ref_arr, 2)}


def theme_tone(records: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """{theme_id: (share of records with an urgency cue, mean sentiment)} from records with
    theme_id and text (mining.sentiment's lexicon scorer)."""
    if not records:
        return {}
    scores = LexiconToneScorer().transform([r["text"] for r in records])
    sums: dict[int, list[float]] = {}
    for r, (urgent, sentiment) in zip(records, scores, strict=True):
        acc = sums.setdefault(r["theme_id"], [0.0, 0.0, 0.0])
        acc[0] += urgent
        acc[1] += sentiment
        acc[2] += 1
    return {t: (round(u / n, 4), round(s / n, 4)) for t, (u, s, n) in sums.items()}


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


@dataclass
class RelatedTheme:
    """A theme close to a flagged one, with its own recent figures."""

    theme_id: int
    label: str
    mentions: int
    accounts: int
    growth: float | None
    folded: bool  # flagged too, and folded into the entry (mining.emerging.group_related)


@dataclass
class EmergingRow:
    """One emerging theme as a PM reads it: figures, segment mix, evidence in words."""

    rank: int
    theme_id: int
    label: str
    is_new: bool
    since: date
    mentions: int
    accounts: int
    arr: float
    pipeline: float
    segment_accounts: dict[str, int]
    evidence: str
    related: list[RelatedTheme]
    statistic: float
    threshold: float
    parent_label: str | None = None  # the parent theme, where themes have parents
    quotes: list[str] = field(default_factory=list)  # representative records, shortened
    lift: float | None = None  # recent mentions / expected from the baseline

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_evidence(e: dict[str, Any]) -> str:
    """The stored evidence in words: "53 mentions from 33 accounts in the last 2.4 weeks;
    about 5 mentions and 4 accounts expected from the 12 weeks before"."""
    ev = e["evidence"] or {}
    recent = int(ev.get("recent_periods") or 0)
    exposure = ev.get("exposure_per_period") or []
    weeks = sum(exposure[-recent:]) if recent and exposure else float(recent)
    base_n = int(ev.get("baseline_periods") or 0)
    text = (f"{e['mentions']:,} mentions from {e['accounts']:,} accounts in the last "
            f"{weeks:.1f} {e['grain']}s")
    if e["is_new"] or not base_n:
        text += "; new: no mentions before"
    else:
        expected = ev.get("baseline_mentions", 0) / base_n * weeks
        text += (f"; about {expected:.0f} mentions and {ev.get('accounts_expected', 0):.0f} "
                 f"accounts expected from the {base_n} {e['grain']}s before")
    share = ev.get("top_account_share") or 0
    if share >= 0.25:
        text += f"; the most active account gave {share:.0%} of it"
    return text


QUOTE_CHARS = 160


def shorten(text: str, width: int = QUOTE_CHARS) -> str:
    """Whole words up to `width` characters, then an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[:width].rsplit(" ", 1)[0] + "…"


def theme_quotes(conn: psycopg.Connection, theme_ids: list[int], n: int = 2
                 ) -> dict[int, list[str]]:
    """Up to `n` representative quotes per theme (themes.quotes, chosen by mining), short."""
    stored = fetch_dicts(conn, "SELECT theme_id, quotes FROM trendmine.themes "
                               "WHERE theme_id = ANY(%s)", (theme_ids,))
    return {r["theme_id"]: [shorten(q.get("text", "") if isinstance(q, dict) else str(q))
                            for q in (r["quotes"] or [])[:n]] for r in stored}


def _short_money(v: float) -> str:
    """5300 -> '5.3k', 3200000 -> '3.2M': an amount a sentence can carry."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:,.0f}"


def emerging_headline(rows: list[EmergingRow], segment: str | None = None,
                      total: int | None = None) -> str:
    """The conclusion first, in one sentence a PM can repeat (`total`: every flagged theme,
    when `rows` is cut to a limit)."""
    who = f" among {segment} accounts" if segment else ""
    if not rows:
        return (f"No theme is rising faster than its own history explains{who} "
                "(each theme's recent weeks tested against its baseline weeks).")
    top = rows[0]
    growth = (f"{top.lift:.1f}x its expected mentions" if top.lift and not top.is_new
              else "new: no mentions before")
    money = f", open pipeline {_short_money(top.pipeline)}" if top.pipeline else ""
    n = max(total or 0, len(rows))
    many = n > 1
    return (f"{n} theme{'s are' if many else ' is'} rising faster than "
            f"{'their' if many else 'its'} own history explains{who}; the strongest is "
            f"{top.label} ({top.accounts} accounts, {growth}{money}).")


def _segment_mix(conn: psycopg.Connection, theme_ids: list[int], start: date
                 ) -> dict[int, dict[str, int]]:
    rows = fetch_dicts(
        conn,
        "SELECT ft.theme_id, lower(coalesce(a.segment, 'unknown')) AS segment, "
        "count(DISTINCT f.account_id)::integer AS accounts "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id "
        "WHERE ft.theme_id = ANY(%s) AND f.created_at >= %s AND f.account_id IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2", (theme_ids, start))
    mix: dict[int, dict[str, int]] = {}
    for r in rows:
        mix.setdefault(r["theme_id"], {})[r["segment"]] = r["accounts"]
    return mix


def _siblings(conn: psycopg.Connection, theme_id: int) -> list[int]:
    """Themes related to `theme_id`: the same parent where themes have parents, else a
    centroid as close as the one emerging detection folds at (EMERGING_RELATED_SIMILARITY)."""
    has_parent = fetch_value(
        conn, "SELECT true FROM information_schema.columns WHERE table_schema = 'trendmine' "
        "AND table_name = 'themes' AND column_name = 'parent_theme_id'")
    # where themes have parents (V006) they also have a visibility: hidden/chatter stay out
    same_parent = sql.SQL(
        " OR (t.parent_theme_id IS NOT NULL AND t.parent_theme_id = f.parent_theme_id)"
        if has_parent else "")
    shown = sql.SQL(" AND t.visibility = 'shown'" if has_parent else "")
    rows = fetch_dicts(
        conn,
        sql.SQL(
            "SELECT t.theme_id FROM trendmine.themes t, trendmine.themes f "
            "WHERE f.theme_id = %s AND t.theme_id <> f.theme_id AND t.status = 'active'{shown} "
            "AND ((t.centroid IS NOT NULL AND f.centroid IS NOT NULL "
            "      AND 1 - (t.centroid <=> f.centroid) >= %s){same_parent})"
        ).format(shown=shown, same_parent=same_parent),
        (theme_id, EMERGING_RELATED_SIMILARITY))
    return [r["theme_id"] for r in rows]


def emerging_report(conn: psycopg.Connection, limit: int = 20, segment: str | None = None,
                    weights: ScoreWeights | None = None, now: datetime | None = None,
                    tz: str = "UTC") -> TrendList:
    """trends.emerging_themes for a PM: segment mix (accounts per current segment in the
    recent window), the evidence in words and related themes that grow too. With `segment`,
    only the flagged themes that segment's accounts ask for in the recent window. The list's
    `total` counts every flagged theme (of the segment), the limit aside."""
    segment = resolve_segment(conn, segment, weights)
    found = emerging(conn, 500)
    out = TrendList()
    if not found:
        return out
    start = min(e["period_start"] for e in found)
    mix = _segment_mix(conn, [e["theme_id"] for e in found], start)
    if segment:
        found = [e for e in found if mix.get(e["theme_id"], {}).get(segment)]
    out.total = len(found)
    found = found[:limit]
    quotes = theme_quotes(conn, [e["theme_id"] for e in found])
    for e in found:
        folded = {r["theme_id"] for r in (e["evidence"] or {}).get("related_themes") or []}
        ids = sorted(folded | set(_siblings(conn, e["theme_id"])))
        since = local_midnight(e["period_start"], tz)
        near = top_trends(conn, since, e["grain"], limit=len(ids) or 1, themes=ids or [-1],
                          weights=weights, now=now, tz=tz)
        related = [RelatedTheme(r.theme_id, r.label, r.mentions, r.accounts, r.growth,
                                r.theme_id in folded)
                   for r in near if r.theme_id in folded or (r.growth or 0) > 0]
        out.append(EmergingRow(
            e["rank"], e["theme_id"], e["label"], e["is_new"], e["period_start"], e["mentions"],
            e["accounts"], e["arr"], e["pipeline"], mix.get(e["theme_id"], {}),
            describe_evidence(e), related, e["statistic"], e["threshold"],
            e.get("parent_label"), quotes.get(e["theme_id"], []),
            (e["evidence"] or {}).get("lift")))
    return out


@dataclass
class ThemeAccount:
    """One account asking for a theme in the window."""

    account_id: str
    name: str | None
    segment: str
    arr: float
    mentions: int
    first_mention: datetime
    last_mention: datetime
    open_deals: int
    open_pipeline: float


# A theme's records: its own, or its leaves' for a parent theme (one positional parameter).
_MEMBER_OF = ("ft.theme_id IN (SELECT m.theme_id FROM trendmine.themes m "
              "WHERE %s IN (m.theme_id, m.parent_theme_id))")

_THEME_ACCOUNTS = """
SELECT f.account_id, a.name, lower(coalesce(a.segment, 'unknown')) AS segment,
       coalesce(a.arr, 0)::float8 AS arr, count(DISTINCT f.feedback_id)::integer AS mentions,
       min(f.created_at) AS first_mention, max(f.created_at) AS last_mention,
       coalesce(max(ta.open_deals), 0)::integer AS open_deals,
       coalesce(max(ta.open_pipeline), 0)::float8 AS open_pipeline
FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id)
LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
LEFT JOIN trends.accounts ta ON ta.account_id = f.account_id
WHERE ft.theme_id IN (SELECT m.theme_id FROM trendmine.themes m
                     WHERE %(theme)s IN (m.theme_id, m.parent_theme_id))
  AND f.account_id IS NOT NULL AND f.created_at >= %(since)s
  AND (%(until)s::timestamptz IS NULL OR f.created_at < %(until)s::timestamptz)
  AND (%(segment)s::text IS NULL OR lower(coalesce(a.segment, 'unknown')) = %(segment)s)
GROUP BY 1, 2, 3, 4 ORDER BY arr DESC, mentions DESC, 1
LIMIT %(limit)s OFFSET %(offset)s
"""


def theme_accounts(conn: psycopg.Connection, theme_id: int, since: datetime,
                   segment: str | None = None, offset: int = 0, limit: int | None = None,
                   until: datetime | None = None) -> list[ThemeAccount]:
    """Every account asking for the theme from `since` to `until` (default: no end; largest
    ARR first), paged."""
    return fetch(conn, ThemeAccount, _THEME_ACCOUNTS,
                 {"theme": theme_id, "since": since, "until": until, "segment": segment,
                  "offset": offset, "limit": limit})


def theme_detail(conn: psycopg.Connection, theme_id: int, since: datetime, grain: str = "week",
                 segment: str | None = None, weights: ScoreWeights | None = None,
                 now: datetime | None = None, tz: str = "UTC") -> dict[str, Any]:
    """One theme over the window: the same totals as `top_trends` (one query, one definition),
    one row per segment, sources and lineage. Accounts: `theme_accounts`."""
    found = fetch_dicts(
        conn,
        "SELECT t.theme_id, t.label, t.keywords, t.quotes, t.size, t.n_feedback, "
        "t.n_accounts, t.first_seen, t.last_seen, t.status, t.merged_into, t.level, "
        "t.visibility, t.parent_theme_id, p.label AS parent_label, t.phrases "
        "FROM trendmine.themes t "
        "LEFT JOIN trendmine.themes p ON p.theme_id = t.parent_theme_id "
        "WHERE t.theme_id = %s", (theme_id,))
    if not found:
        raise TrendmineError(f"no theme {theme_id}", "list themes with `trendmine trends`")
    detail = found[0]
    detail["quotes"] = [q.get("text", str(q)) if isinstance(q, dict) else str(q)
                        for q in (detail["quotes"] or [])]
    segment = resolve_segment(conn, segment, weights)
    win = make_window(since, grain, now, tz)
    detail["window"] = win
    detail["segment"] = segment

    def totals(seg: str | None) -> TrendRow | None:
        rows = top_trends(conn, since, grain, seg, weights=weights, now=win.until,
                          themes=[theme_id], limit=1, level=detail["level"], tz=tz)
        return rows[0] if rows else None

    detail["totals"] = totals(segment)
    in_window = fetch_dicts(
        conn,
        "SELECT DISTINCT lower(coalesce(a.segment, 'unknown')) AS segment "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id "
        f"WHERE {_MEMBER_OF} AND f.created_at >= %s AND f.created_at < %s ORDER BY 1",
        (theme_id, since, win.until))
    detail["segments"] = [
        (r["segment"], t) for r in in_window
        if segment in (None, r["segment"]) and (t := totals(r["segment"])) is not None]
    detail["sources"] = fetch_dicts(
        conn,
        "SELECT f.source, count(DISTINCT f.feedback_id)::integer AS mentions "
        "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
        "LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id "
        f"WHERE {_MEMBER_OF} AND f.created_at >= %s AND f.created_at < %s "
        "AND (%s::text IS NULL OR lower(coalesce(a.segment, 'unknown')) = %s) "
        "GROUP BY 1 ORDER BY 2 DESC, 1", (theme_id, since, win.until, segment, segment))
    # a parent's sub-themes, hidden and chatter ones too (marked), largest first
    detail["children"] = fetch_dicts(
        conn,
        "SELECT theme_id, label, n_feedback, visibility FROM trendmine.themes "
        "WHERE parent_theme_id = %s AND status = 'active' ORDER BY n_feedback DESC, theme_id",
        (theme_id,)) if detail["level"] == "parent" else []
    detail["lineage"] = fetch_dicts(
        conn,
        "SELECT event, theme_id, related_theme_ids, similarity, overlap, run_id, at, detail "
        "FROM trendmine.theme_lineage WHERE theme_id = %s OR %s = ANY(related_theme_ids) "
        "ORDER BY at, lineage_id", (theme_id, theme_id))
    return detail


def freshness(conn: psycopg.Connection) -> dict[str, Any]:
    """Newest feedback, newest trends rebuild, counts: the report header."""
    return fetch_dicts(
        conn,
        "SELECT (SELECT max(created_at) FROM trendmine.feedback) AS newest_feedback, "
        "(SELECT max(last_ingested_at) FROM trendmine.feedback) AS last_ingested, "
        "(SELECT max(computed_at) FROM trendmine.theme_trends) AS trends_computed, "
        "(SELECT count(*) FROM trendmine.feedback) AS feedback, "
        "(SELECT count(*) FROM trendmine.themes WHERE status = 'active') AS themes")[0]

"""The HTML report's reads: one window, typed rows, the same figures as `trendmine trends`.

The report reads as of its newest feedback (like emerging detection and the sales loop), over
whole ISO weeks in TRENDMINE_TIMEZONE: the window starts on a Monday and ends with the day of
the newest feedback, so a
theme's weekly figures here are the `trends.theme_trends` rows of those weeks (grain 'week',
segment 'all'). Window totals (distinct accounts, ARR, open pipeline, score, growth) come from
warehouse.queries.top_trends, the function behind the `trends` command, so the report and the
CLI cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from mining.scoring import ScoreWeights
from schemas.names import CURRENT_DECISIONS_VIEW, THEME_LINKS_VIEW
from warehouse import queries
from warehouse.rows import fetch, fetch_value
from warehouse.trends import period_starts

LEVELS = ("leaf", "parent")
# Records of the window per theme at a level: a leaf's record counts once under its parent.
_LEVEL_REC = """
SELECT DISTINCT CASE WHEN %(level)s::text = 'parent'
                     THEN coalesce(t.parent_theme_id, t.theme_id) ELSE t.theme_id END AS theme_id,
       f.feedback_id, f.account_id, f.created_at, ft.similarity, ft.ord
FROM trendmine.feedback_theme ft
JOIN trendmine.feedback f USING (feedback_id)
JOIN trendmine.themes t ON t.theme_id = ft.theme_id AND t.status <> 'merged'
WHERE f.created_at >= %(since)s AND t.visibility = 'shown'
"""


@dataclass(frozen=True)
class ReportWindow:
    """Whole weeks (Monday, in `tz`) from `start` through the day of the newest feedback
    (`as_of`)."""

    start: date
    as_of: datetime
    weeks: list[date]
    tz: str = "UTC"

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, ZoneInfo(self.tz))

    @property
    def until(self) -> datetime:
        """The end of the newest feedback's day (excluded): whole days, like `trends`."""
        day = self.as_of.astimezone(ZoneInfo(self.tz)).date()
        return datetime.combine(day + timedelta(days=1), time.min, ZoneInfo(self.tz))

    @property
    def last_partial(self) -> bool:
        """True when the newest week is still in progress at `as_of`."""
        return self.as_of < datetime.combine(self.weeks[-1] + timedelta(days=7), time.min,
                                             ZoneInfo(self.tz))

    def describe(self) -> str:
        local = self.as_of.astimezone(ZoneInfo(self.tz))
        return (f"{len(self.weeks)} weeks from Monday {self.start} to {local:%Y-%m-%d} "
                f"({self.tz}; newest feedback {local:%Y-%m-%d %H:%M})")


def report_window(conn: psycopg.Connection, since_days: int, tz: str = "UTC") -> ReportWindow:
    """The window: the weeks covering `since_days` up to the newest feedback (now without any)."""
    newest = fetch_value(conn, "SELECT max(created_at) FROM trendmine.feedback")
    as_of = (newest or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    n_weeks = max(1, -(-since_days // 7))
    weeks = period_starts("week", as_of.date(), n_weeks)
    return ReportWindow(weeks[0], as_of, weeks, tz)


@dataclass
class ThemeInfo:
    theme_id: int
    label: str
    keywords: list[str]
    quotes: list[Any]
    level: str
    parent_theme_id: int | None
    parent_label: str | None
    visibility: str
    status: str


def themes(conn: psycopg.Connection) -> dict[int, ThemeInfo]:
    """Every theme not merged away, keyed by id (trends.themes)."""
    rows = fetch(conn, ThemeInfo,
                 "SELECT theme_id, label, coalesce(keywords, '{}') AS keywords, "
                 "coalesce(quotes, '[]'::jsonb) AS quotes, level, parent_theme_id, "
                 "parent_label, visibility, status FROM trends.themes "
                 "WHERE status <> 'merged'")
    return {r.theme_id: r for r in rows}


def figures(conn: psycopg.Connection, w: ReportWindow, weights: ScoreWeights,
            level: str = "leaf", segment: str | None = None, limit: int = 1000,
            rank_by: str = "value") -> list[queries.TrendRow]:
    """The window's totals per theme, ranked (the `trends` command's rows)."""
    return queries.top_trends(conn, w.since, "week", segment=segment, limit=limit,
                              weights=weights, now=w.until, level=level, rank_by=rank_by,
                              tz=w.tz)


def weekly_mentions(conn: psycopg.Connection, w: ReportWindow, level: str = "leaf"
                    ) -> dict[int, list[int]]:
    """Records per theme per week of the window (a leaf's equal trends.theme_trends.mentions)."""
    rows = conn.execute(
        "SELECT theme_id, date_trunc('week', created_at AT TIME ZONE %(tz)s)::date AS week, "
        f"count(DISTINCT feedback_id)::integer FROM ({_LEVEL_REC}) r GROUP BY 1, 2",
        {"level": level, "since": w.since, "tz": w.tz}).fetchall()
    index = {p: i for i, p in enumerate(w.weeks)}
    out: dict[int, list[int]] = {}
    for theme_id, week, n in rows:
        if week in index:
            out.setdefault(theme_id, [0] * len(w.weeks))[index[week]] = n
    return out


@dataclass
class Requester:
    theme_id: int
    account_id: str
    name: str | None
    segment: str
    arr: float
    mentions: int
    last_mention: datetime
    open_deals: int
    open_pipeline: float


def requesters(conn: psycopg.Connection, w: ReportWindow, theme_ids: list[int],
               level: str = "leaf") -> dict[int, list[Requester]]:
    """The accounts asking in the window, per theme, by ARR (current CRM figures)."""
    rows = fetch(
        conn, Requester,
        "SELECT r.theme_id, r.account_id, a.name, coalesce(a.segment, 'unknown') AS segment, "
        "coalesce(a.arr, 0)::float8 AS arr, count(DISTINCT r.feedback_id)::integer AS mentions, "
        "max(r.created_at) AS last_mention, coalesce(max(ta.open_deals), 0)::integer "
        "AS open_deals, coalesce(max(ta.open_pipeline), 0)::float8 AS open_pipeline "
        f"FROM ({_LEVEL_REC}) r LEFT JOIN trendmine.accounts a USING (account_id) "
        "LEFT JOIN trends.accounts ta USING (account_id) "
        "WHERE r.account_id IS NOT NULL AND r.theme_id = ANY(%(ids)s) "
        "GROUP BY 1, 2, 3, 4, 5 ORDER BY r.theme_id, arr DESC, mentions DESC, r.account_id",
        {"level": level, "since": w.since, "ids": theme_ids})
    out: dict[int, list[Requester]] = {}
    for r in rows:
        out.setdefault(r.theme_id, []).append(r)
    return out


@dataclass
class Quote:
    theme_id: int
    account_id: str | None
    account_name: str | None
    segment: str
    created_at: datetime
    text: str
    url: str | None = None


def quotes(conn: psycopg.Connection, w: ReportWindow, theme_ids: list[int], per_theme: int = 3,
           level: str = "leaf") -> dict[int, list[Quote]]:
    """Up to `per_theme` quotes per theme, each from a DIFFERENT account (an anonymous record
    counts as its own voice): the snippet closest to the theme from each voice, best first;
    from the window when it has any, else from the theme's whole history."""
    rows = fetch(
        conn, Quote,
        "WITH rec AS (" + _LEVEL_REC.replace("f.created_at >= %(since)s", "true") + "), "
        "best AS (SELECT DISTINCT ON (theme_id, coalesce(account_id, 'f' || feedback_id)) "
        "  theme_id, account_id, feedback_id, ord, created_at, similarity, "
        "  created_at >= %(since)s AS recent FROM rec WHERE theme_id = ANY(%(ids)s) "
        "  ORDER BY theme_id, coalesce(account_id, 'f' || feedback_id), "
        "           created_at >= %(since)s DESC, similarity DESC NULLS LAST, feedback_id), "
        "ranked AS (SELECT *, row_number() OVER (PARTITION BY theme_id ORDER BY recent DESC, "
        "  similarity DESC NULLS LAST, feedback_id) AS n FROM best) "
        "SELECT b.theme_id, b.account_id, a.name AS account_name, "
        "coalesce(a.segment, 'unknown') AS segment, b.created_at, "
        "coalesce(s.text, f.text) AS text, f.url FROM ranked b "
        "JOIN trendmine.feedback f USING (feedback_id) "
        "LEFT JOIN trendmine.feedback_snippet s ON s.feedback_id = b.feedback_id "
        "AND s.ord = b.ord LEFT JOIN trendmine.accounts a ON a.account_id = b.account_id "
        "WHERE b.n <= %(k)s ORDER BY b.theme_id, b.n",
        {"level": level, "since": w.since, "ids": theme_ids, "k": per_theme})
    out: dict[int, list[Quote]] = {}
    for q in rows:
        out.setdefault(q.theme_id, []).append(q)
    return out


@dataclass
class LineageEvent:
    theme_id: int
    event: str
    related_theme_ids: list[int]
    at: datetime
    detail: dict[str, Any] | None = field(default=None)


def lineage(conn: psycopg.Connection, theme_ids: list[int], per_theme: int = 6
            ) -> dict[int, list[LineageEvent]]:
    """The newest lineage events per theme (trends.theme_lineage), oldest first; 'continue'
    events (a run matched the theme again) are folded into a count by the caller."""
    rows = fetch(
        conn, LineageEvent,
        "SELECT theme_id, event, coalesce(related_theme_ids, '{}') AS related_theme_ids, at, "
        "detail FROM (SELECT l.*, row_number() OVER (PARTITION BY theme_id ORDER BY "
        "(event = 'continue'), at DESC, lineage_id DESC) AS n FROM trends.theme_lineage l "
        "WHERE theme_id = ANY(%s)) x WHERE n <= %s ORDER BY theme_id, at, event",
        (theme_ids, per_theme))
    out: dict[int, list[LineageEvent]] = {}
    for r in rows:
        out.setdefault(r.theme_id, []).append(r)
    return out


@dataclass
class IssueLink:
    theme_id: int
    tracker: str
    issue_key: str
    url: str | None
    issue_state: str | None


def decisions_and_links(conn: psycopg.Connection, theme_ids: list[int]
                        ) -> tuple[dict[int, str], dict[int, list[IssueLink]]]:
    """The decision in force per theme (shipped / planned / declined) and its Jira/Linear
    issues (trends.theme_links): the status a theme's card shows."""
    decided = dict(conn.execute(
        f"SELECT theme_id, decision FROM {CURRENT_DECISIONS_VIEW} WHERE theme_id = ANY(%s)",
        (theme_ids,)).fetchall())
    links: dict[int, list[IssueLink]] = {}
    for r in fetch(conn, IssueLink,
                   "SELECT theme_id, tracker, issue_key, url, issue_state "
                   f"FROM {THEME_LINKS_VIEW} WHERE theme_id = ANY(%s) "
                   "ORDER BY theme_id, tracker, issue_key",
                   (theme_ids,)):
        links.setdefault(r.theme_id, []).append(r)
    return decided, links


def continue_counts(conn: psycopg.Connection, theme_ids: list[int]) -> dict[int, int]:
    """How many mining runs matched each theme again ('continue' lineage events)."""
    return dict(conn.execute(
        "SELECT theme_id, count(*)::integer FROM trends.theme_lineage WHERE event = 'continue' "
        "AND theme_id = ANY(%s) GROUP BY 1", (theme_ids,)).fetchall())


def segments(conn: psycopg.Connection, w: ReportWindow) -> list[str]:
    """The segments with feedback in the window, largest first."""
    return [r[0] for r in conn.execute(
        "SELECT coalesce(a.segment, 'unknown') FROM trendmine.feedback f "
        "LEFT JOIN trendmine.accounts a USING (account_id) WHERE f.created_at >= %s "
        "GROUP BY 1 ORDER BY count(*) DESC, 1", (w.since,)).fetchall()]


@dataclass
class HiddenCount:
    visibility: str
    themes: int
    mentions: int


def hidden_counts(conn: psycopg.Connection, w: ReportWindow) -> list[HiddenCount]:
    """Hidden and chatter themes (left out of every list) and their records in the window."""
    return fetch(
        conn, HiddenCount,
        "SELECT t.visibility, count(DISTINCT t.theme_id)::integer AS themes, "
        "count(DISTINCT f.feedback_id) FILTER (WHERE f.created_at >= %s)::integer AS mentions "
        "FROM trendmine.themes t LEFT JOIN trendmine.feedback_theme ft USING (theme_id) "
        "LEFT JOIN trendmine.feedback f USING (feedback_id) "
        "WHERE t.visibility <> 'shown' AND t.status <> 'merged' GROUP BY 1 ORDER BY 1",
        (w.since,))


def unlisted_theme_ids(conn: psycopg.Connection) -> set[int]:
    """Themes a report never lists: hidden, chatter, or under a hidden/chatter parent."""
    return {r[0] for r in conn.execute(
        "SELECT t.theme_id FROM trendmine.themes t LEFT JOIN trendmine.themes p "
        "ON p.theme_id = t.parent_theme_id WHERE t.visibility <> 'shown' "
        "OR coalesce(p.visibility, 'shown') <> 'shown'").fetchall()}


def segment_mix(conn: psycopg.Connection, theme_ids: list[int], since: date
                ) -> dict[int, dict[str, int]]:
    """Distinct accounts per current segment asking for each theme since `since` (largest
    segment first): who is behind an emerging theme."""
    out: dict[int, dict[str, int]] = {}
    for theme_id, segment, n in conn.execute(
            "SELECT ft.theme_id, coalesce(a.segment, 'unknown'), "
            "count(DISTINCT f.account_id)::integer FROM trendmine.feedback_theme ft "
            "JOIN trendmine.feedback f USING (feedback_id) "
            "LEFT JOIN trendmine.accounts a USING (account_id) "
            "WHERE ft.theme_id = ANY(%s) AND f.created_at >= %s AND f.account_id IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
            (theme_ids, datetime.combine(since, time.min, UTC))).fetchall():
        out.setdefault(theme_id, {})[segment] = n
    return out

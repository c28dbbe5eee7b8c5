"""The sales side of a theme: the deals behind it, win/loss, revenue debt and source mix.

The formulas live once, in the views of schemas/migrations/V005 (trends.deal_themes,
trends.theme_fit, trends.theme_sources) over trendmine.sales_params. `rebuild_sales` writes the
settings into sales_params and the win/loss test into trendmine.theme_winloss; the queries
below read the views with THIS process's settings (`with_settings`: the parameters are
written inside a transaction that is rolled back, so other readers never see them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foundation.config import Settings
from foundation.errors import TrendmineError
from mining.winloss import LossOverRepresentation
from schemas.events import Stage
from schemas.names import (
    DEAL_RECORDS_VIEW,
    DEAL_THEMES_VIEW,
    SALES_AS_OF_VIEW,
    SALES_PARAMS_TABLE,
    THEME_FIT_VIEW,
    THEME_SOURCES_VIEW,
    THEME_WINLOSS_TABLE,
)
from warehouse.queries import parse_since
from warehouse.report_data import unlisted_theme_ids

STAGES = tuple(s.value for s in Stage)
# settings copied into trendmine.sales_params (same names on both sides)
PARAM_FIELDS = (
    "icp_fit_threshold", "revenue_debt_share", "fit_min_accounts", "deal_lookback_days",
    "sales_special_max_other_accounts", "market_wide_share", "winloss_min_deals", "winloss_fdr",
    "winloss_since_days",
)
_SHOWN_IDS = 5


class _Row:
    def as_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, Decimal):
                return float(v)
            if isinstance(v, date | datetime):
                return v.isoformat()
            return v
        return {k: plain(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]


@dataclass
class DealTheme(_Row):
    """One deal x theme (trends.deal_themes)."""

    opportunity_id: str
    account_id: str | None
    stage: str
    amount: Decimal
    close_date: date | None
    theme_id: int
    label: str
    mentions: int
    other_accounts: int
    other_accounts_arr: Decimal
    sales_special: bool
    market_wide: bool
    other_segments: list[str]
    emerging: bool
    linked: bool
    opportunity_name: str | None
    account_name: str | None
    loss_reason: str | None


@dataclass
class Deal(_Row):
    """One deal and the shown themes it raises (most mentioned first)."""

    opportunity_id: str
    opportunity_name: str | None
    account_id: str | None
    account_name: str | None
    stage: str
    amount: Decimal
    close_date: date | None
    loss_reason: str | None
    themes: list[DealTheme]

    @property
    def sales_special(self) -> bool:
        return any(t.sales_special for t in self.themes)

    @property
    def market_wide(self) -> bool:
        return any(t.market_wide for t in self.themes)

    @property
    def emerging(self) -> bool:
        return any(t.emerging for t in self.themes)

    def as_dict(self) -> dict[str, Any]:
        d = super().as_dict()
        d["themes"] = [{k: v for k, v in t.as_dict().items() if k in _DEAL_THEME_FIELDS}
                       for t in self.themes]
        d.update(sales_special=self.sales_special, market_wide=self.market_wide,
                 emerging=self.emerging)
        return d

    def as_flat_dict(self) -> dict[str, Any]:
        """One CSV line: the themes as '|'-joined ids and labels."""
        d = {k: v for k, v in self.as_dict().items() if k != "themes"}
        d.update(themes=len(self.themes),
                 theme_ids="|".join(str(t.theme_id) for t in self.themes),
                 theme_labels="|".join(t.label for t in self.themes),
                 sales_special_themes="|".join(str(t.theme_id) for t in self.themes
                                               if t.sales_special),
                 market_wide_themes="|".join(str(t.theme_id) for t in self.themes
                                             if t.market_wide))
        return d


# a deal's theme, as JSON shows it under its deal (the deal's own fields are not repeated)
_DEAL_THEME_FIELDS = ("theme_id", "label", "mentions", "other_accounts", "other_accounts_arr",
                      "sales_special", "market_wide", "emerging", "other_segments", "linked")


@dataclass
class WinLoss(_Row):
    """Win/loss of one theme over a window of closed deals."""

    theme_id: int
    label: str
    deals_won: int
    deals_lost: int
    amount_won: Decimal
    amount_lost: Decimal
    loss_reasons: dict[str, int] = field(default_factory=dict)
    loss_rate: float | None = None
    expected_loss_rate: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    over_represented: bool = False
    small_sample: bool = True


@dataclass
class ThemeFit(_Row):
    """Revenue debt of one theme (trends.theme_fit)."""

    theme_id: int
    label: str
    accounts: int
    poor_fit_accounts: int
    unknown_fit_accounts: int
    poor_fit_share: float | None
    poor_fit_arr_share: float | None
    revenue_debt: bool
    poor_fit_arr: Decimal
    icp_fit_threshold: float


@dataclass
class ThemeSource(_Row):
    """One theme x source (trends.theme_sources)."""

    theme_id: int
    label: str
    source: str
    mentions: int
    share: float
    channel: str


# ---------------------------------------------------------------------------- parameters


def write_params(conn: psycopg.Connection, settings: Settings) -> None:
    sets = ", ".join(f"{f} = %({f})s" for f in PARAM_FIELDS)
    conn.execute(f"UPDATE {SALES_PARAMS_TABLE} SET {sets}, updated_at = now()",
                 {f: getattr(settings, f) for f in PARAM_FIELDS})


@contextmanager
def with_settings(conn: psycopg.Connection, settings: Settings) -> Iterator[psycopg.Connection]:
    """Read the views with these settings: written in a transaction that is then rolled back."""
    with conn.transaction(force_rollback=True):
        write_params(conn, settings)
        yield conn


def as_of(conn: psycopg.Connection) -> date:
    """The sales loop's "today": the UTC day of the newest feedback (today without feedback),
    as the emerging detection does, so a world loaded from the past reads as of its own end."""
    return conn.execute(f"SELECT as_of FROM {SALES_AS_OF_VIEW}").fetchone()[0]


# ---------------------------------------------------------------------------- deals


def closing_until(text: str, today: date) -> date:
    """'60d', '8w', '2m', '1y' from `today`, or an ISO date -> the last close date to include."""
    now = datetime.now(UTC)
    try:
        until = date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        until = None
    if until is not None:
        if until < today:
            raise TrendmineError(f"--closing-within {text!r} is in the past",
                                 "give a duration such as 60d or a future date")
        return until
    try:
        return today + (now - parse_since(text, now))
    except TrendmineError:
        raise TrendmineError(f"--closing-within {text!r} is not a duration or a date",
                             "use e.g. 30d, 8w, 2m or 2027-03-31") from None


def deal_themes(conn: psycopg.Connection, settings: Settings, *, stage: str | None = None,
                closing_until: date | None = None, opportunity_id: str | None = None,
                theme_id: int | None = None, today: date | None = None) -> list[DealTheme]:
    """Deals and the themes they raise, soonest close first. closing_until keeps deals closing
    from `today` (default: as_of) up to that day; a deal without close date never matches it
    (see check_deals). theme_id keeps the deals raising that theme (with all their themes)."""
    if stage is not None and stage not in STAGES:
        raise TrendmineError(f"unknown --stage {stage!r}", f"use one of {', '.join(STAGES)}")
    today = today or as_of(conn)
    where, params = ["true"], {"stage": stage, "until": closing_until, "today": today,
                               "opp": opportunity_id}
    if stage is not None:
        where.append("stage = %(stage)s")
    if closing_until is not None:
        where.append("(close_date IS NULL OR close_date BETWEEN %(today)s AND %(until)s)")
    if opportunity_id is not None:
        where.append("opportunity_id = %(opp)s")
    if theme_id is not None:
        params["theme"] = theme_id
        where.append(f"opportunity_id IN (SELECT opportunity_id FROM {DEAL_THEMES_VIEW} "
                     "WHERE theme_id = %(theme)s)")
    query = (f"SELECT * FROM {DEAL_THEMES_VIEW} WHERE {' AND '.join(where)} "
             "ORDER BY close_date NULLS FIRST, amount DESC, opportunity_id, mentions DESC, "
             "theme_id")
    with with_settings(conn, settings), conn.cursor(row_factory=class_row(DealTheme)) as cur:
        return cur.execute(query, params).fetchall()


def group_deals(rows: list[DealTheme], hidden: set[int] | frozenset[int] = frozenset()
                ) -> list[Deal]:
    """One Deal per opportunity, in the rows' order, with its themes not in `hidden` (most
    mentioned first); a deal left without a theme is left out."""
    by_opp: dict[str, list[DealTheme]] = {}
    for r in rows:
        if r.theme_id not in hidden:
            by_opp.setdefault(r.opportunity_id, []).append(r)
    out = []
    for themes in by_opp.values():
        r = themes[0]
        out.append(Deal(r.opportunity_id, r.opportunity_name, r.account_id, r.account_name,
                        r.stage, r.amount, r.close_date, r.loss_reason,
                        sorted(themes, key=lambda t: (-t.mentions, t.theme_id))))
    return out


def theme_label(conn: psycopg.Connection, theme_id: int) -> str:
    """The label of a theme, or a readable error naming where to find the ids."""
    row = conn.execute("SELECT label FROM trendmine.themes WHERE theme_id = %s",
                       (theme_id,)).fetchone()
    if row is None:
        raise TrendmineError(f"no theme {theme_id}", "see `trendmine trends` for theme ids")
    return row[0]


def invalid_deals(rows: list[DealTheme], *, need_close_date: bool) -> dict[str, list[str]]:
    """Deals we cannot place: {'unknown account': [...], 'no close date': [...]}."""
    unknown = sorted({r.opportunity_id for r in rows if r.account_name is None})
    undated = sorted({r.opportunity_id for r in rows if r.close_date is None}) \
        if need_close_date else []
    return {k: v for k, v in (("unknown account", unknown), ("no close date", undated)) if v}


def check_deals(rows: list[DealTheme], *, need_close_date: bool) -> None:
    """Raise one readable error for deals with an unknown account or a missing close date."""
    bad = invalid_deals(rows, need_close_date=need_close_date)
    if not bad:
        return
    parts = []
    for what, ids in bad.items():
        shown = ", ".join(ids[:_SHOWN_IDS]) + (f" and {len(ids) - _SHOWN_IDS} more"
                                               if len(ids) > _SHOWN_IDS else "")
        parts.append(f"{len(ids)} deal(s) with {what} ({shown})")
    raise TrendmineError(
        "; ".join(parts),
        "fix them in the CRM (an opportunity's account must be ingested too; a deal needs a "
        "close date to be placed in a window) or pass --skip-invalid to leave them out")


# ---------------------------------------------------------------------------- win/loss

_OUTCOMES = f"""
WITH closed AS (
    SELECT opportunity_id, stage, amount, loss_reason FROM trendmine.opportunities
    WHERE stage IN ('won', 'lost') AND close_date >= %(since)s
      AND NOT (opportunity_id = ANY(%(skip)s))
), dt AS (
    SELECT DISTINCT r.opportunity_id, r.theme_id FROM {DEAL_RECORDS_VIEW} r
    JOIN closed USING (opportunity_id)
), reasons AS (
    SELECT theme_id, jsonb_object_agg(reason, n) AS loss_reasons FROM (
        SELECT dt.theme_id, coalesce(c.loss_reason, '(none)') AS reason, count(*) AS n
        FROM dt JOIN closed c USING (opportunity_id) WHERE c.stage = 'lost' GROUP BY 1, 2) x
    GROUP BY theme_id
)
SELECT dt.theme_id, t.label,
       count(*) FILTER (WHERE c.stage = 'won')::integer AS deals_won,
       count(*) FILTER (WHERE c.stage = 'lost')::integer AS deals_lost,
       coalesce(sum(c.amount) FILTER (WHERE c.stage = 'won'), 0) AS amount_won,
       coalesce(sum(c.amount) FILTER (WHERE c.stage = 'lost'), 0) AS amount_lost,
       coalesce(max(r.loss_reasons::text), '{{}}')::jsonb AS loss_reasons
FROM dt JOIN closed c USING (opportunity_id)
JOIN trendmine.themes t ON t.theme_id = dt.theme_id
LEFT JOIN reasons r ON r.theme_id = dt.theme_id
GROUP BY dt.theme_id, t.label
"""
_TOTALS = """
SELECT count(*) FILTER (WHERE stage = 'won')::integer,
       count(*) FILTER (WHERE stage = 'lost')::integer
FROM trendmine.opportunities
WHERE stage IN ('won', 'lost') AND close_date >= %(since)s AND NOT (opportunity_id = ANY(%(skip)s))
"""


def undated_closed_deals(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Closed deals raising a theme but without a close date: no window can hold them."""
    query = (f"SELECT DISTINCT o.opportunity_id FROM trendmine.opportunities o "
             f"WHERE o.stage IN ('won', 'lost') AND o.close_date IS NULL AND EXISTS "
             f"(SELECT 1 FROM {DEAL_RECORDS_VIEW} r WHERE r.opportunity_id = o.opportunity_id) "
             "ORDER BY 1")
    with with_settings(conn, settings):
        return [r[0] for r in conn.execute(query).fetchall()]


_LOSS_REASONS = """
SELECT coalesce(loss_reason, '(none)') AS reason, count(*)::integer AS n
FROM trendmine.opportunities
WHERE stage = 'lost' AND close_date >= %(since)s AND NOT (opportunity_id = ANY(%(skip)s))
GROUP BY 1 ORDER BY 2 DESC, 1
"""


def winloss(conn: psycopg.Connection, settings: Settings, since: date,
            skip: list[str] | tuple[str, ...] = ()) -> list[WinLoss]:
    """Per shown theme (hidden and chatter themes are neither listed nor tested), the closed
    deals (close date >= since) it appears in and the Fisher test; tested themes first, most
    significant first, then the small samples by deals."""
    return winloss_answer(conn, settings, since, skip).rows


@dataclass
class WinLossAnswer:
    """Win/loss over a window: the rows, the window's closed deals and its loss reasons."""

    since: date
    rows: list[WinLoss]
    deals_won: int
    deals_lost: int
    loss_reasons: dict[str, int]  # every lost deal of the window, by the CRM's loss reason
    min_deals: int
    fdr: float

    @property
    def tested(self) -> list[WinLoss]:
        return [r for r in self.rows if not r.small_sample]

    @property
    def flagged(self) -> list[WinLoss]:
        return [r for r in self.rows if r.over_represented]

    def mention_ratio(self, r: WinLoss) -> float | None:
        """How many times as often lost deals mention the theme as won deals (None: no won
        deal mentions it)."""
        if not (r.deals_won and self.deals_won and self.deals_lost):
            return None
        return (r.deals_lost / self.deals_lost) / (r.deals_won / self.deals_won)

    def finding(self, r: WinLoss) -> str:
        """One flagged theme in a sentence."""
        q = f"q = {r.q_value:.2g}"
        ratio = self.mention_ratio(r)
        if ratio is None:
            return (f"{r.label!r} (#{r.theme_id}) comes up in {r.deals_lost} of "
                    f"{self.deals_lost} lost deals and in no won deal, {q}.")
        return (f"Lost deals mention {r.label!r} (#{r.theme_id}) {ratio:.1f}x as often as won "
                f"deals ({r.deals_lost} of {self.deals_lost} lost, {r.deals_won} of "
                f"{self.deals_won} won), {q}.")

    @property
    def headline(self) -> list[str]:
        """The conclusion first: one sentence, or one per flagged theme."""
        closed = self.deals_won + self.deals_lost
        if not self.rows:
            return [f"No closed deal since {self.since} raises a shown theme ({closed} closed "
                    f"deals: {self.deals_won} won, {self.deals_lost} lost)."]
        if not self.flagged:
            qs = [r.q_value for r in self.tested if r.q_value is not None]
            lowest = f", lowest q = {min(qs):.2f}" if qs else ""
            return [f"No theme is over-represented in lost deals ({len(self.rows)} themes, "
                    f"{closed} closed deals; {len(self.tested)} themes with at least "
                    f"{self.min_deals} deals were tested{lowest})."]
        n = len(self.flagged)
        return [f"{n} theme{'s are' if n > 1 else ' is'} over-represented in lost deals "
                f"({len(self.rows)} themes, {closed} closed deals):",
                *(self.finding(r) for r in self.flagged)]

    @property
    def reasons_line(self) -> str:
        if not self.loss_reasons:
            return "No lost deal in the window."
        total = sum(self.loss_reasons.values())
        return (f"Loss reasons in the CRM, all {total} lost deals: " + ", ".join(
            f"{k} {v} ({v / total:.0%})" for k, v in self.loss_reasons.items()) + ".")


def explain_p_q(min_deals: int, fdr: float) -> str:
    """What p and q mean, in words (the CLI's footer and the report's note)."""
    return (f"p: the chance that a theme's deals would be lost at least this often if the theme "
            f"made no difference (one-sided Fisher's exact test against the other closed "
            f"deals); with many themes some small p-values come by chance. q: p adjusted for "
            f"testing every theme at once (Benjamini-Hochberg); a theme is flagged LOST MORE "
            f"when q <= {fdr:g}, so about {fdr:.0%} of flags may be chance. Themes with fewer "
            f"than {min_deals} closed deals are listed, never tested.")


def winloss_answer(conn: psycopg.Connection, settings: Settings, since: date,
                   skip: list[str] | tuple[str, ...] = ()) -> WinLossAnswer:
    """winloss() with the window's totals and the CRM's loss reasons over all its lost deals."""
    params = {"since": since, "skip": list(skip)}
    hidden = unlisted_theme_ids(conn)
    with with_settings(conn, settings), conn.cursor(row_factory=class_row(WinLoss)) as cur:
        rows = [r for r in cur.execute(_OUTCOMES, params).fetchall() if r.theme_id not in hidden]
        total_won, total_lost = conn.execute(_TOTALS, params).fetchone()
        reasons = dict(conn.execute(_LOSS_REASONS, params).fetchall())
    answer = WinLossAnswer(since, [], total_won, total_lost, reasons,
                           settings.winloss_min_deals, settings.winloss_fdr)
    if rows:
        answer.rows = _tested(rows, total_won, total_lost, settings)
    return answer


def _tested(rows: list[WinLoss], total_won: int, total_lost: int, settings: Settings
            ) -> list[WinLoss]:
    """The rows with the Fisher test and BH filled in, in the ranking's order."""
    test = LossOverRepresentation(min_deals=settings.winloss_min_deals,
                                  fdr=settings.winloss_fdr).fit(
        np.array([r.deals_won for r in rows]), np.array([r.deals_lost for r in rows]),
        total_won, total_lost)

    def num(a: np.ndarray, i: int) -> float | None:
        return None if np.isnan(a[i]) else float(a[i])

    for i, r in enumerate(rows):
        r.loss_rate, r.expected_loss_rate = num(test.loss_rate_, i), \
            num(test.expected_loss_rate_, i)
        r.p_value, r.q_value = num(test.p_values_, i), num(test.q_values_, i)
        r.small_sample = bool(test.small_sample_[i])
        r.over_represented = bool(test.over_represented_[i])
    order = {int(i): k for k, i in enumerate(test.ranking_)}
    rows_idx = sorted(range(len(rows)), key=lambda i: (
        order.get(i, len(order)), -(rows[i].deals_won + rows[i].deals_lost), rows[i].theme_id))
    return [rows[i] for i in rows_idx]


# ---------------------------------------------------------------------------- fit, sources


def theme_fit(conn: psycopg.Connection, settings: Settings, *, only_debt: bool = False
              ) -> list[ThemeFit]:
    """Revenue debt per shown theme (not hidden or chatter), the most poor-fit-driven first."""
    query = (f"SELECT * FROM {THEME_FIT_VIEW} WHERE (NOT %(only)s OR revenue_debt) "
             "ORDER BY revenue_debt DESC, poor_fit_share DESC NULLS LAST, accounts DESC, theme_id")
    hidden = unlisted_theme_ids(conn)
    with with_settings(conn, settings), conn.cursor(row_factory=class_row(ThemeFit)) as cur:
        return [r for r in cur.execute(query, {"only": only_debt}).fetchall()
                if r.theme_id not in hidden]


def fit_headline(rows: list[ThemeFit], settings: Settings) -> str:
    """The conclusion over every shown theme's fit, in one sentence."""
    debt = [r for r in rows if r.revenue_debt]
    judged = [r for r in rows
              if r.accounts - r.unknown_fit_accounts >= settings.fit_min_accounts]
    rule = (f"more than {settings.revenue_debt_share:.0%} of the accounts asking (of those "
            f"with a known ICP fit) have icp_fit < {settings.icp_fit_threshold:g}")
    if not debt:
        return (f"No theme is revenue debt: in none of the {len(judged)} themes with at least "
                f"{settings.fit_min_accounts} accounts of known fit do {rule}.")
    n = len(debt)
    return (f"{n} theme{'s are' if n > 1 else ' is'} revenue debt ({rule}): "
            + ", ".join(f"{r.label!r} (#{r.theme_id})" for r in debt[:5])
            + (f" and {n - 5} more" if n > 5 else "") + f"; {len(judged)} themes judged.")


def theme_sources(conn: psycopg.Connection, theme_ids: list[int] | None = None
                  ) -> list[ThemeSource]:
    query = (f"SELECT * FROM {THEME_SOURCES_VIEW} "
             "WHERE (%(ids)s::bigint[] IS NULL OR theme_id = ANY(%(ids)s::bigint[])) "
             "ORDER BY theme_id, mentions DESC, source")
    with conn.cursor(row_factory=class_row(ThemeSource)) as cur:
        return cur.execute(query, {"ids": theme_ids}).fetchall()


def channel_mix(rows: list[ThemeSource]) -> dict[int, dict[str, float]]:
    """theme_id -> {channel: share}: customers / sales / portal."""
    mix: dict[int, dict[str, float]] = {}
    for r in rows:
        shares = mix.setdefault(r.theme_id, {})
        shares[r.channel] = shares.get(r.channel, 0.0) + r.share
    return mix


CHANNELS = ("customers", "sales", "portal")
FIT_COLUMNS = ["theme_id", "label", "accounts", "poor_fit_accounts", "unknown_fit_accounts",
               "poor_fit_share", "poor_fit_arr_share", "revenue_debt",
               *(f"{ch}_share" for ch in CHANNELS), "only_source"]


def fit_rows(conn: psycopg.Connection, settings: Settings, debt_only: bool, limit: int
             ) -> tuple[list[dict[str, Any]], list[ThemeFit]]:
    """What `fit` shows (CLI and web app alike): up to `limit` shown themes (revenue debt
    only with `debt_only`) as FIT_COLUMNS dicts with their channel shares and the one source
    a theme is heard in, and every theme's ThemeFit (for the headline and totals)."""
    every = theme_fit(conn, settings)
    rows = [r for r in every if r.revenue_debt or not debt_only][:limit]
    sources = theme_sources(conn, [r.theme_id for r in rows])
    mix = channel_mix(sources)
    only = {s.theme_id: s.source for s in sources if s.share >= 0.9999}
    out = [{**r.as_dict(), **{f"{ch}_share": round(mix.get(r.theme_id, {}).get(ch, 0.0), 4)
                               for ch in CHANNELS}, "only_source": only.get(r.theme_id)}
           for r in rows]
    return out, every


# ---------------------------------------------------------------------------- rebuild


def rebuild_sales(conn: psycopg.Connection, settings: Settings,
                  today: date | None = None) -> dict[str, Any]:
    """Write the settings into sales_params and recompute trendmine.theme_winloss (deals closed
    in the winloss_since_days before `today`, default as_of), in one transaction. Closed deals
    without a close date are left out (and counted)."""
    t0 = time.perf_counter()
    today = today or as_of(conn)
    since = today - timedelta(days=settings.winloss_since_days)
    with conn.transaction():
        write_params(conn, settings)
        undated = undated_closed_deals(conn, settings)
        rows = winloss(conn, settings, since)
        conn.execute(f"DELETE FROM {THEME_WINLOSS_TABLE}")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {THEME_WINLOSS_TABLE} (theme_id, deals_won, deals_lost, "
                "amount_won, amount_lost, loss_rate, expected_loss_rate, p_value, q_value, "
                "over_represented, small_sample, loss_reasons, window_start) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(r.theme_id, r.deals_won, r.deals_lost, r.amount_won, r.amount_lost,
                  r.loss_rate, r.expected_loss_rate, r.p_value, r.q_value, r.over_represented,
                  r.small_sample, Jsonb(r.loss_reasons), since) for r in rows])
        debt = conn.execute(f"SELECT count(*) FROM {THEME_FIT_VIEW} WHERE revenue_debt"
                            ).fetchone()[0]
    return {"winloss_themes": len(rows),
            "over_represented": sum(r.over_represented for r in rows),
            "revenue_debt": debt, "undated_closed_deals": len(undated),
            "seconds": round(time.perf_counter() - t0, 3)}

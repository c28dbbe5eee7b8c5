"""The "Deals and revenue" section of the HTML report: win/loss per theme, revenue debt, source
mix and the open deals closing soon with the themes they raise."""

from __future__ import annotations

from datetime import date, timedelta

import plotly.graph_objects as go
import psycopg

from foundation.config import Settings
from warehouse import sales

TOP = 15
CLOSING_DAYS = 90
_CHANNELS = (("customers", "#2e86c1"), ("sales", "#e67e22"), ("portal", "#27ae60"))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _label(theme_id: int, label: str) -> str:
    return f"#{theme_id} {label}"[:40]


def _winloss(rows: list[sales.WinLoss]) -> go.Figure:
    rows = rows[:TOP]
    labels = [_label(r.theme_id, r.label) + (" *" if r.over_represented else "") for r in rows]
    fig = go.Figure([
        go.Bar(y=labels, x=[r.deals_won for r in rows], name="won", orientation="h",
               marker_color="#27ae60"),
        go.Bar(y=labels, x=[r.deals_lost for r in rows], name="lost", orientation="h",
               marker_color="#c0392b"),
    ])
    fig.update_layout(barmode="stack", height=max(300, 28 * len(rows) + 140),
                      title="Closed deals per theme (* = over-represented in lost deals)",
                      xaxis_title="closed deals", yaxis={"autorange": "reversed"})
    return fig


def _debt(rows: list[sales.ThemeFit]) -> go.Figure:
    rows = [r for r in rows if r.poor_fit_share is not None][:TOP]
    fig = go.Figure(go.Bar(
        y=[_label(r.theme_id, r.label) for r in rows],
        x=[r.poor_fit_share for r in rows], orientation="h",
        marker_color=["#c0392b" if r.revenue_debt else "#95a5a6" for r in rows],
        customdata=[[r.accounts, r.poor_fit_accounts, r.poor_fit_arr_share or 0] for r in rows],
        hovertemplate="%{customdata[1]} of %{customdata[0]} accounts poor fit<br>"
                      "ARR share %{customdata[2]:.0%}<extra></extra>"))
    fig.update_layout(title="Revenue debt: share of requesting accounts with a poor ICP fit "
                            "(red = flagged)", xaxis={"tickformat": ".0%", "range": [0, 1]},
                      height=max(300, 28 * len(rows) + 140), yaxis={"autorange": "reversed"})
    return fig


def _mix(fit_rows: list[sales.ThemeFit], mix: dict[int, dict[str, float]]) -> go.Figure:
    top = sorted(fit_rows, key=lambda r: -r.accounts)[:TOP]
    labels = [_label(r.theme_id, r.label) for r in top]
    fig = go.Figure([go.Bar(y=labels, x=[mix.get(r.theme_id, {}).get(ch, 0.0) for r in top],
                            name=ch, orientation="h", marker_color=color)
                     for ch, color in _CHANNELS])
    fig.update_layout(barmode="stack", title="Who hears each theme (share of its records)",
                      xaxis={"tickformat": ".0%"}, height=max(300, 28 * len(top) + 140),
                      yaxis={"autorange": "reversed"})
    return fig


def sales_section(conn: psycopg.Connection, settings: Settings, include_plotlyjs: bool,
                  today: date | None = None) -> str:
    """The HTML fragment (h2 and what follows); plotly.js inlined when include_plotlyjs.
    `today` defaults to the sales loop's as-of day (the day of the newest feedback)."""
    from report.html import _fig_html, _table

    today = today or sales.as_of(conn)
    since = today - timedelta(days=settings.winloss_since_days)
    wl = sales.winloss(conn, settings, since)
    fit = sales.theme_fit(conn, settings)
    mix = sales.channel_mix(sales.theme_sources(conn, [r.theme_id for r in fit]))
    deals = [d for d in sales.deal_themes(
        conn, settings, stage="open", closing_until=today + timedelta(days=CLOSING_DAYS),
        today=today)
        if d.close_date is not None]
    parts = ["<h2>Deals and revenue</h2>"]
    first = include_plotlyjs
    if not (wl or fit or deals):
        return parts[0] + "<p>No deal or account raises a mined theme yet.</p>"

    parts.append(f"<h3>Win/loss per theme (deals closed since {since})</h3>")
    if wl:
        parts.append(_fig_html(_winloss(wl), first))
        first = False
    tested = [r for r in wl if not r.small_sample]
    parts.append(f"<p>One-sided Fisher's exact test of each theme's closed deals against the "
                 f"others, Benjamini-Hochberg FDR {settings.winloss_fdr:g}; themes with fewer "
                 f"than {settings.winloss_min_deals} closed deals are small samples, not "
                 f"tested ({len(wl) - len(tested)} here).</p>")
    parts.append(_table(
        ["theme", "label", "won", "lost", "amount lost", "loss rate", "others", "q", "flag"],
        [[r.theme_id, r.label, r.deals_won, r.deals_lost, float(r.amount_lost),
          _pct(r.loss_rate), _pct(r.expected_loss_rate), f"{r.q_value:.3g}",
          "LOST MORE" if r.over_represented else ""] for r in tested[:TOP]]))

    parts.append(f"<h3>Revenue debt (icp_fit below {settings.icp_fit_threshold:g})</h3>")
    if fit:
        parts.append(_fig_html(_debt(fit), first))
        parts.append(_fig_html(_mix(fit, mix), False))
        first = False

    parts.append(f"<h3>Open deals closing in the {CLOSING_DAYS} days from {today}</h3>")
    parts.append(_table(
        ["deal", "account", "amount", "close", "theme", "other accounts", "their ARR", "flag"],
        [[d.opportunity_name or d.opportunity_id, d.account_name or d.account_id or "-",
          float(d.amount), str(d.close_date), _label(d.theme_id, d.label), d.other_accounts,
          float(d.other_accounts_arr),
          "sales special" if d.sales_special else "market-wide" if d.market_wide else ""]
         for d in deals[:50]]) if deals else "<p>None.</p>")
    return "".join(parts)

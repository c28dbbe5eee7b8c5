"""The "Deals and revenue" section of the HTML report: win/loss per theme, revenue debt, source
mix and the open deals closing soon with the themes they raise."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg

from foundation.config import Settings
from report import charts
from report.markup import esc, table
from warehouse import report_data, sales

TOP = 15
CLOSING_DAYS = 90
_CHANNELS = (("customers", "#2e86c1"), ("sales", "#e67e22"), ("portal", "#27ae60"))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _label(theme_id: int, label: str) -> str:
    return f"#{theme_id} {label}"


def _winloss(rows: list[sales.WinLoss]) -> str:
    rows = rows[:TOP]
    return charts.legend([("won", "#27ae60"), ("lost", "#c0392b")]) + charts.bars([
        (esc(_label(r.theme_id, r.label)) + (" *" if r.over_represented else ""),
         [(r.deals_won, "#27ae60", f"{r.deals_won} won"),
          (r.deals_lost, "#c0392b", f"{r.deals_lost} lost")],
         f"{r.deals_won} won, {r.deals_lost} lost") for r in rows])


def _debt(rows: list[sales.ThemeFit]) -> str:
    rows = [r for r in rows if r.poor_fit_share is not None][:TOP]
    return charts.bars([
        (esc(_label(r.theme_id, r.label)),
         [(r.poor_fit_share or 0, "#c0392b" if r.revenue_debt else "#95a5a6",
           f"{r.poor_fit_accounts} of {r.accounts} accounts poor fit")],
         f"{_pct(r.poor_fit_share)} ({r.poor_fit_accounts}/{r.accounts})") for r in rows],
        scale=1.0)


def _mix(fit_rows: list[sales.ThemeFit], mix: dict[int, dict[str, float]]) -> str:
    top = sorted(fit_rows, key=lambda r: -r.accounts)[:TOP]
    return charts.legend(list(_CHANNELS)) + charts.bars([
        (esc(_label(r.theme_id, r.label)),
         [(mix.get(r.theme_id, {}).get(ch, 0.0), color,
           f"{ch} {mix.get(r.theme_id, {}).get(ch, 0.0):.0%}") for ch, color in _CHANNELS],
         " / ".join(f"{mix.get(r.theme_id, {}).get(ch, 0.0):.0%}" for ch, _ in _CHANNELS))
        for r in top], scale=1.0)


def sales_section(conn: psycopg.Connection, settings: Settings, today: date | None = None
                  ) -> str:
    """The HTML fragment (h2 and what follows), charts as CSS bars.
    `today` defaults to the sales loop's as-of day (the day of the newest feedback)."""
    today = today or sales.as_of(conn)
    since = today - timedelta(days=settings.winloss_since_days)
    unlisted = report_data.unlisted_theme_ids(conn)  # hidden and chatter: never listed
    wl = [r for r in sales.winloss(conn, settings, since) if r.theme_id not in unlisted]
    fit = [r for r in sales.theme_fit(conn, settings) if r.theme_id not in unlisted]
    mix = sales.channel_mix(sales.theme_sources(conn, [r.theme_id for r in fit]))
    deals = [d for d in sales.deal_themes(
        conn, settings, stage="open", closing_until=today + timedelta(days=CLOSING_DAYS),
        today=today)
        if d.close_date is not None and d.theme_id not in unlisted]
    parts = ["<h2>Deals and revenue</h2>"]
    if not (wl or fit or deals):
        return parts[0] + "<p>No deal or account raises a mined theme yet.</p>"

    parts.append(f"<h3>Win/loss per theme (deals closed since {since})</h3>")
    if wl:
        parts.append(_winloss(wl))
    tested = [r for r in wl if not r.small_sample]
    parts.append(f"<p>One-sided Fisher's exact test of each theme's closed deals against the "
                 f"others, Benjamini-Hochberg FDR {settings.winloss_fdr:g}; themes with fewer "
                 f"than {settings.winloss_min_deals} closed deals are small samples, not "
                 f"tested ({len(wl) - len(tested)} here).</p>")
    parts.append(table(
        ["theme", "label", "won", "lost", "amount lost", "loss rate", "others", "q", "flag"],
        [[r.theme_id, r.label, r.deals_won, r.deals_lost, float(r.amount_lost),
          _pct(r.loss_rate), _pct(r.expected_loss_rate), f"{r.q_value:.3g}",
          "LOST MORE" if r.over_represented else ""] for r in tested[:TOP]]))

    parts.append(f"<h3>Revenue debt (icp_fit below {settings.icp_fit_threshold:g})</h3>")
    if fit:
        parts.append(_debt(fit))
        parts.append("<h3>Who hears each theme (share of its records)</h3>")
        parts.append(_mix(fit, mix))

    parts.append(f"<h3>Open deals closing in the {CLOSING_DAYS} days from {today}</h3>")
    parts.append(table(
        ["deal", "account", "amount", "close", "theme", "other accounts", "their ARR", "flag"],
        [[d.opportunity_name or d.opportunity_id, d.account_name or d.account_id or "-",
          float(d.amount), str(d.close_date), _label(d.theme_id, d.label), d.other_accounts,
          float(d.other_accounts_arr),
          "sales special" if d.sales_special else "market-wide" if d.market_wide else ""]
         for d in deals[:50]]) if deals else "<p>None.</p>")
    return "".join(parts)

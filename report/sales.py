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
DEALS_SHOWN = 50
DEAL_THEMES = 3  # a deal's themes named in its row, the most mentioned first
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
    answer = sales.winloss_answer(conn, settings, since)  # shown themes only
    wl = answer.rows
    fit = sales.theme_fit(conn, settings)  # shown themes only
    mix = sales.channel_mix(sales.theme_sources(conn, [r.theme_id for r in fit]))
    deals = [d for d in sales.group_deals(sales.deal_themes(
        conn, settings, stage="open", closing_until=today + timedelta(days=CLOSING_DAYS),
        today=today), unlisted) if d.close_date is not None]
    parts = ["<h2>Deals and revenue</h2>"]
    if not (wl or fit or deals):
        return parts[0] + "<p>No deal or account raises a mined theme yet.</p>"

    parts.append(f"<h3>Win/loss per theme (deals closed since {since})</h3>")
    parts.append("".join(f"<p><strong>{esc(line)}</strong></p>" for line in answer.headline))
    parts.append(f"<p>{esc(answer.reasons_line)}</p>")
    if wl:
        parts.append(_winloss(wl))
    tested = answer.tested
    parts.append(f"<p>{esc(sales.explain_p_q(answer.min_deals, answer.fdr))} "
                 f"({len(wl) - len(tested)} themes here are too small to test.)</p>")
    parts.append(table(
        ["theme", "label", "won", "lost", "amount lost", "loss rate", "others", "q", "verdict"],
        [[r.theme_id, r.label, r.deals_won, r.deals_lost, float(r.amount_lost),
          _pct(r.loss_rate), _pct(r.expected_loss_rate), f"{r.q_value:.2g}",
          "LOST MORE" if r.over_represented else "not significant"] for r in tested[:TOP]]))
    if len(tested) > TOP:
        parts.append(f"<p>Showing {TOP} of {len(tested)} tested themes, the most significant "
                     "first (`trendmine winloss --format csv` for all).</p>")

    parts.append(f"<h3>Revenue debt (icp_fit below {settings.icp_fit_threshold:g})</h3>")
    parts.append(f"<p>{esc(sales.fit_headline(fit, settings))}</p>")
    if fit:
        parts.append(_debt(fit))
        parts.append("<h3>Who hears each theme (share of its records)</h3>")
        parts.append(_mix(fit, mix))

    parts.append(f"<h3>Open deals closing in the {CLOSING_DAYS} days from {today}</h3>")
    parts.append(table(
        ["deal", "account", "amount", "close", "themes", "other accounts (top theme)",
         "their ARR", "flag"],
        [[d.opportunity_name or d.opportunity_id, d.account_name or d.account_id or "-",
          float(d.amount), str(d.close_date),
          "; ".join(_label(t.theme_id, t.label) for t in d.themes[:DEAL_THEMES])
          + (f"; +{len(d.themes) - DEAL_THEMES} more" if len(d.themes) > DEAL_THEMES else ""),
          d.themes[0].other_accounts, float(d.themes[0].other_accounts_arr),
          "sales special" if d.sales_special else "market-wide" if d.market_wide else ""]
         for d in deals[:DEALS_SHOWN]]) if deals else "<p>None.</p>")
    if len(deals) > DEALS_SHOWN:
        parts.append(f"<p>Showing {DEALS_SHOWN} of {len(deals)} deals, soonest close first "
                     "(`trendmine deals --stage open --format csv` for all).</p>")
    return "".join(parts)

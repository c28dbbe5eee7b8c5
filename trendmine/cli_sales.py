"""CLI: the sales <-> product loop. deals, winloss, fit, `theme status`, loop-publish."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings
from schemas.events import Stage
from trendmine.cli_read import Format, _money

console = Console()
err_console = Console(stderr=True)


def _emit(rows: list[Any], fmt: Format, columns: list[str]) -> bool:
    """csv/json output of typed rows (or dicts); False when the caller should draw a table."""
    dicts = [r if isinstance(r, dict) else r.as_dict() for r in rows]
    if fmt is Format.json:
        typer.echo(json.dumps(dicts, indent=2))
        return True
    if fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for d in dicts:
            w.writerow(["|".join(map(str, v)) if isinstance(v, list) else
                        json.dumps(v) if isinstance(v, dict) else "" if v is None else v
                        for v in (d[c] for c in columns)])
        typer.echo(buf.getvalue(), nl=False)
        return True
    return False


def _share(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _warn_skipped(bad: dict[str, list[str]]) -> None:
    for what, ids in bad.items():
        err_console.print(f"[yellow]left out {len(ids)} deal(s) with {what}:[/yellow] "
                          + ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""),
                          highlight=False)


def _page(rows: list[Any], page: int, size: int) -> tuple[list[Any], str | None]:
    """One page of rows and the "showing N of M" line (None when everything fits)."""
    total = len(rows)
    pages = max(1, -(-total // size))
    if page > pages:
        from foundation.errors import TrendmineError

        raise TrendmineError(f"--page {page} is past the last page ({pages})",
                             f"use --page 1 to {pages}, or a larger --page-size")
    start = (page - 1) * size
    shown = rows[start:start + size]
    if total <= size:
        return shown, None
    more = f"; --page {page + 1} for more" if page < pages else ""
    return shown, (f"showing {start + 1}-{start + len(shown)} of {total:,} "
                   f"(page {page} of {pages}{more}; --format csv or json for all)")


_DEAL_THEMES_SHOWN = 3


def _deal_themes_cell(d: Any) -> str:
    """A deal's themes in a few words: the most mentioned first, the rest counted."""
    parts = []
    for t in d.themes[:_DEAL_THEMES_SHOWN]:
        flag = (" [bold red]SPECIAL[/bold red]" if t.sales_special else
                " [green]MARKET[/green]" if t.market_wide else
                " [magenta]EMERGING[/magenta]" if t.emerging else "")
        parts.append(f"#{t.theme_id} {escape(t.label)} ({t.mentions}, "
                     f"+{t.other_accounts} acc){flag}")
    rest = len(d.themes) - _DEAL_THEMES_SHOWN
    return "; ".join(parts) + (f"; +{rest} more" if rest > 0 else "")


def deals(
    closing_within: Annotated[str | None, typer.Option(
        help="Only deals closing from today to then: 60d, 8w, 2m or a date.")] = None,
    stage: Annotated[Stage | None, typer.Option(help="Only deals in this stage.")] = None,
    opportunity: Annotated[str | None, typer.Option(help="Only this deal.")] = None,
    theme: Annotated[int | None, typer.Option(
        help="Only deals raising this theme (see `trendmine trends`).")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        help="Leave out deals with an unknown account or no close date instead of failing.")
    ] = False,
    page: Annotated[int, typer.Option(min=1, help="Which page of deals to show.")] = 1,
    page_size: Annotated[int | None, typer.Option(
        min=1, help="Deals per page (table default 50; csv/json: every deal unless given).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Deals whose notes and calls ask for something, one row per deal with the shown themes it
    raises (most mentioned first) and the evidence from everyone else: other accounts asking,
    their ARR and segments, sales specials, market-wide asks. csv: one line per deal, themes
    '|'-joined; json: each deal with its themes."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from warehouse import sales
    from warehouse.report_data import unlisted_theme_ids

    settings = get_settings()
    with connection(settings) as conn:
        label = sales.theme_label(conn, theme) if theme is not None else None
        today = sales.as_of(conn)
        until = sales.closing_until(closing_within, today) if closing_within else None
        rows = sales.deal_themes(conn, settings, stage=stage.value if stage else None,
                                 closing_until=until, opportunity_id=opportunity,
                                 theme_id=theme, today=today)
        hidden = unlisted_theme_ids(conn) - {theme}
    if opportunity and not rows:
        raise TrendmineError(f"no deal {opportunity!r} raising a theme",
                             "check the opportunity id; only deals with mined feedback show")
    bad = sales.invalid_deals(rows, need_close_date=until is not None)
    if bad and not skip_invalid:
        sales.check_deals(rows, need_close_date=until is not None)
    if bad:
        _warn_skipped(bad)
        skip = {o for ids in bad.values() for o in ids}
        rows = [r for r in rows if r.opportunity_id not in skip]
    found = sales.group_deals(rows, hidden)
    size = page_size or (50 if fmt is Format.table else max(1, len(found)))
    shown, paging = _page(found, page, size)
    if fmt is Format.json:
        typer.echo(json.dumps([d.as_dict() for d in shown], indent=2))
        return
    columns = ["opportunity_id", "opportunity_name", "account_id", "account_name", "stage",
               "amount", "close_date", "loss_reason", "themes", "theme_ids", "theme_labels",
               "sales_special_themes", "market_wide_themes", "sales_special", "market_wide",
               "emerging"]
    if _emit([d.as_flat_dict() for d in shown], fmt, columns):
        return
    what = (f"deals raising #{theme} {label}" if theme is not None
            else "deals and the themes they raise")
    title = what + (f", closing {today} to {until}" if until else "")
    table = Table("deal", "account", "stage", "amount", "close",
                  "themes (mentions, other accounts asking)", title=escape(title))
    for d in shown:
        table.add_row(escape(d.opportunity_name or d.opportunity_id),
                      escape(d.account_name or d.account_id or "-"), d.stage,
                      _money(float(d.amount)), str(d.close_date or "-"), _deal_themes_cell(d))
    if not found:
        console.print("No deal raises " + (f"theme #{theme} {escape(repr(label))}" if label
                                           else "a shown theme") + " with these filters.")
        return
    n = len(found)
    console.print(f"{n} deal{'s raise' if n != 1 else ' raises'} "
                  + (f"#{theme} {escape(label or '')}" if theme is not None else
                     f"{len({t.theme_id for d in found for t in d.themes})} shown themes")
                  + f"; {sum(d.sales_special for d in found)} with a sales special "
                  "(a theme almost no other account asks for).", highlight=False)
    console.print(table)
    if paging:
        console.print(f"[dim]{paging}[/dim]")


def winloss(
    since: Annotated[str, typer.Option(help="Closed deals since: 12m, 26w, 1y or a date.")
                     ] = "12m",
    skip_invalid: Annotated[bool, typer.Option(
        help="Leave out closed deals without a close date instead of failing.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Which themes come up more in lost deals than in won ones? The answer first in a
    sentence, then per shown theme: closed deals won vs lost, amounts, the CRM's loss reasons,
    and a one-sided Fisher's exact test of the theme's deals against the other closed deals
    with Benjamini-Hochberg false-discovery control across themes (themes with too few deals
    are listed, never tested).

    p: the chance of a theme's deals being lost at least this often if the theme made no
    difference. q: p adjusted for testing every theme at once; a theme is flagged LOST MORE
    when q <= TRENDMINE_WINLOSS_FDR (0.1 by default), so about 1 in 10 flags may be chance.
    """
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from warehouse import sales
    from warehouse.queries import parse_since

    settings = get_settings()
    with connection(settings) as conn:
        today = sales.as_of(conn)
        start = parse_since(since, datetime.combine(today, time.min, UTC)).date()
        undated = sales.undated_closed_deals(conn, settings)
        if undated and not skip_invalid:
            shown = ", ".join(undated[:5]) + (" ..." if len(undated) > 5 else "")
            raise TrendmineError(
                f"{len(undated)} closed deal(s) raising a theme have no close date ({shown})",
                "set their close date in the CRM, or pass --skip-invalid to leave them out")
        if undated:
            _warn_skipped({"no close date": undated})
        answer = sales.winloss_answer(conn, settings, start)
    rows = answer.rows
    columns = ["theme_id", "label", "deals_won", "deals_lost", "amount_won", "amount_lost",
               "loss_rate", "expected_loss_rate", "p_value", "q_value", "over_represented",
               "small_sample", "loss_reasons"]
    if fmt is Format.json:
        typer.echo(json.dumps({
            "since": str(start), "until": str(today), "headline": " ".join(answer.headline),
            "deals_won": answer.deals_won, "deals_lost": answer.deals_lost,
            "loss_reasons": answer.loss_reasons, "themes": [r.as_dict() for r in rows]},
            indent=2))
        return
    if _emit(rows, fmt, columns):
        return
    for line in answer.headline:
        console.print(escape(line), highlight=False)
    console.print(escape(answer.reasons_line), highlight=False)
    if not rows:
        return
    table = Table(title=f"win/loss per theme, deals closed {start} to {today}")
    table.add_column("theme", min_width=20)
    for name in ("won / lost", "loss rate (others)", "amount lost", "q (p)", "verdict"):
        table.add_column(name)
    table.add_column("loss reasons")
    for r in rows:
        verdict = ("[dim]too few deals[/dim]" if r.small_sample else
                   "[bold red]LOST MORE[/bold red]" if r.over_represented else
                   "[dim]not significant[/dim]")
        reasons = sorted(r.loss_reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        table.add_row(escape(f"#{r.theme_id} {r.label}"), f"{r.deals_won} / {r.deals_lost}",
                      f"{_share(r.loss_rate)} ({_share(r.expected_loss_rate)})",
                      _money(float(r.amount_lost)),
                      "-" if r.p_value is None else f"{r.q_value:.2g} ({r.p_value:.2g})",
                      verdict, escape(", ".join(f"{k} {v}" for k, v in reasons)))
    console.print(table)
    console.print(f"[dim]{escape(sales.explain_p_q(answer.min_deals, answer.fdr))}[/dim]")


def fit(
    debt_only: Annotated[bool, typer.Option(help="Only themes flagged as revenue debt.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 30,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Revenue debt and source mix per shown theme: the share of requesting accounts (and ARR)
    with a poor ICP fit, and who hears the theme (customers, sales calls, the idea portal).
    A theme is revenue debt when enough of its accounts have a known fit and most of them fit
    poorly (TRENDMINE_ICP_FIT_THRESHOLD, _REVENUE_DEBT_SHARE, _FIT_MIN_ACCOUNTS)."""
    from foundation.db import connection
    from warehouse import sales

    settings = get_settings()
    with connection(settings) as conn:
        out, every = sales.fit_rows(conn, settings, debt_only, limit)
    columns = sales.FIT_COLUMNS
    if _emit(out, fmt, columns):
        return
    console.print(escape(sales.fit_headline(every, settings)), highlight=False)
    if not out:
        return
    table = Table(title=f"revenue debt (icp_fit < {settings.icp_fit_threshold:g}) and source mix")
    table.add_column("theme", min_width=20)
    for name in ("poor fit of accounts (unknown)", "poor share (of ARR)", "",
                 "customers / sales / portal", "heard only in"):
        table.add_column(name)
    for r in out:
        table.add_row(escape(f"#{r['theme_id']} {r['label']}"),
                      f"{r['poor_fit_accounts']} of {r['accounts']} ({r['unknown_fit_accounts']})",
                      f"{_share(r['poor_fit_share'])} ({_share(r['poor_fit_arr_share'])})",
                      "[bold red]REVENUE DEBT[/bold red]" if r["revenue_debt"] else "",
                      " / ".join(_share(r[f"{ch}_share"]) for ch in sales.CHANNELS),
                      r["only_source"] or "")
    console.print(table)
    if len(out) < (sum(r.revenue_debt for r in every) if debt_only else len(every)):
        console.print(f"[dim]showing {len(out)} of "
                      f"{sum(r.revenue_debt for r in every) if debt_only else len(every)} "
                      "themes (--limit for more)[/dim]")


def theme_status(
    theme_id: Annotated[int, typer.Argument(help="Theme id (see `trendmine trends`).")],
    decision: Annotated[str, typer.Argument(help="shipped, planned or declined.")],
    note: Annotated[str | None, typer.Option(help="What the requesters are told.")] = None,
    by: Annotated[str | None, typer.Option(
        help="Who decides (default: TRENDMINE_USER, else your login name).")] = None,
) -> None:
    """Record a decision on a theme and tell every requesting account (one event each on the
    feedback.loop topic). Running it again with the same decision publishes nothing twice."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from schemas.names import DECISIONS, LOOP_TOPIC
    from warehouse.loop import decide, pending_count, publish_pending, told_accounts

    if decision not in DECISIONS:  # before touching any service
        raise TrendmineError(f"unknown decision {decision!r}",
                             f"use one of {', '.join(DECISIONS)}")
    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        d = decide(conn, settings, theme_id, decision, note, by)
        if d.changed:
            told = told_accounts(conn, [d.decision_id]).get(d.decision_id, [])
            console.print(f"theme {d.theme_id} {escape(repr(d.label))}: {d.decision}; "
                          f"{_told_text(told)}")
        else:
            console.print(f"theme {d.theme_id} {escape(repr(d.label))} is already {d.decision}: "
                          "nothing new to tell")
        try:
            sent = publish_pending(conn, settings)
        except TrendmineError as exc:
            raise TrendmineError(
                f"decision recorded, but {pending_count(conn)} notification(s) are pending: "
                f"{exc.message}",
                "the next `trendmine pipeline` run (or this command again) sends them") from exc
    console.print(f"published {sent} event(s) to {settings.topic(LOOP_TOPIC)}")
    _tell_owners(settings)


def _tell_owners(settings: Any) -> None:
    """Each requesting account's owner told once (notify.owners; docs/alerts.md)."""
    from foundation.db import connection
    from notify import owners

    if not owners.owner_channels(settings) and settings.crm_writeback == "off":
        return
    with connection(settings, autocommit=True) as conn:
        told = owners.tell(conn, settings)
    console.print(f"owners told: {told.sent} message(s); opted out {told.opted_out}, "
                  f"no owner {told.no_owner}")
    for line in told.failed:
        err_console.print(f"[red]not sent:[/red] {escape(line)} (retried by `trendmine alerts "
                          "send`)", highlight=False)


def _told_text(told: list[Any]) -> str:
    """'to tell 3 accounts: Acme, Globex, Initech' (every name: who hears it matters)."""
    if not told:
        return "no requesting account to tell"
    return f"to tell {len(told)} account(s): " + ", ".join(escape(t.display) for t in told)


def loop_publish() -> None:
    """Add requesters who asked after a decision, then publish every pending loop event."""
    from foundation.db import connection
    from schemas.names import LOOP_TOPIC
    from warehouse.loop import notify_new_requesters, publish_pending

    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        added = notify_new_requesters(conn)
        sent = publish_pending(conn, settings)
    console.print(f"new requesters: {added}; published {sent} event(s) to "
                  f"{settings.topic(LOOP_TOPIC)}")


def register(app: typer.Typer) -> None:
    """Add the sales-loop commands to the trendmine app and `theme status` to `theme`."""
    from trendmine.cli_theme import theme_app

    app.command("deals")(deals)
    app.command("winloss")(winloss)
    app.command("fit")(fit)
    app.command("loop-publish")(loop_publish)
    theme_app.command("status")(theme_status)

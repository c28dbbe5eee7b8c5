"""CLI: the sales <-> product loop. deals, winloss, fit, `theme status`, loop-publish."""

from __future__ import annotations

import csv
import getpass
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


def deals(
    closing_within: Annotated[str | None, typer.Option(
        help="Only deals closing from today to then: 60d, 8w, 2m or a date.")] = None,
    stage: Annotated[Stage | None, typer.Option(help="Only deals in this stage.")] = None,
    opportunity: Annotated[str | None, typer.Option(help="Only this deal.")] = None,
    skip_invalid: Annotated[bool, typer.Option(
        help="Leave out deals with an unknown account or no close date instead of failing.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Deals whose notes and calls ask for something, with the evidence from everyone else:
    other accounts asking, their ARR and segments, sales specials, market-wide asks."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from warehouse import sales

    settings = get_settings()
    with connection(settings) as conn:
        today = sales.as_of(conn)
        until = sales.closing_until(closing_within, today) if closing_within else None
        rows = sales.deal_themes(conn, settings, stage=stage.value if stage else None,
                                 closing_until=until, opportunity_id=opportunity, today=today)
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
    columns = ["opportunity_id", "account_id", "stage", "amount", "close_date", "theme_id",
               "label", "mentions", "other_accounts", "other_accounts_arr", "sales_special",
               "market_wide", "emerging", "other_segments"]
    if _emit(rows, fmt, columns):
        return
    title = "deals and the themes they raise" + (
        f", closing {today} to {until}" if until else "")
    table = Table("deal", "account", "stage", "amount", "close", "theme", "mentions",
                  "other accounts", "their ARR", "segments", "", title=title)
    last = None
    for r in rows:
        flags = " ".join(f for f, on in (("[bold red]SALES SPECIAL[/bold red]", r.sales_special),
                                         ("[green]MARKET[/green]", r.market_wide),
                                         ("[magenta]EMERGING[/magenta]", r.emerging)) if on)
        same = r.opportunity_id == last
        last = r.opportunity_id
        table.add_row(
            "" if same else escape(r.opportunity_name or r.opportunity_id),
            "" if same else escape(r.account_name or r.account_id or "-"),
            "" if same else r.stage, "" if same else _money(float(r.amount)),
            "" if same else str(r.close_date or "-"), escape(f"{r.theme_id} {r.label}"),
            str(r.mentions), str(r.other_accounts), _money(float(r.other_accounts_arr)),
            ", ".join(r.other_segments), flags)
    console.print(table)
    if not rows:
        console.print("[dim]no deal raises a mined theme (run the pipeline first)[/dim]")


def winloss(
    since: Annotated[str, typer.Option(help="Closed deals since: 12m, 26w, 1y or a date.")
                     ] = "12m",
    skip_invalid: Annotated[bool, typer.Option(
        help="Leave out closed deals without a close date instead of failing.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Per theme: closed deals won vs lost, amounts, loss reasons, and the themes significantly
    over-represented in lost deals (one-sided Fisher's exact test vs the other deals,
    Benjamini-Hochberg FDR across themes; small samples are listed, never tested)."""
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
        rows = sales.winloss(conn, settings, start)
    columns = ["theme_id", "label", "deals_won", "deals_lost", "amount_won", "amount_lost",
               "loss_rate", "expected_loss_rate", "p_value", "q_value", "over_represented",
               "small_sample", "loss_reasons"]
    if _emit(rows, fmt, columns):
        return
    table = Table("theme", "won", "lost", "amount won", "amount lost", "loss rate",
                  "others", "p", "q", "", "top loss reasons",
                  title=f"win/loss per theme, deals closed {start} to {today} "
                        f"(FDR {settings.winloss_fdr:g}, min {settings.winloss_min_deals} deals)")
    for r in rows:
        flag = ("[dim]small sample[/dim]" if r.small_sample else
                "[bold red]LOST MORE[/bold red]" if r.over_represented else "")
        reasons = sorted(r.loss_reasons.items(), key=lambda kv: -kv[1])[:3]
        table.add_row(escape(f"{r.theme_id} {r.label}"), str(r.deals_won), str(r.deals_lost),
                      _money(float(r.amount_won)), _money(float(r.amount_lost)),
                      _share(r.loss_rate), _share(r.expected_loss_rate),
                      "-" if r.p_value is None else f"{r.p_value:.3g}",
                      "-" if r.q_value is None else f"{r.q_value:.3g}", flag,
                      escape(", ".join(f"{k} {v}" for k, v in reasons)))
    console.print(table)
    if not rows:
        console.print("[dim]no closed deal in the window raises a mined theme[/dim]")


_CHANNELS = ("customers", "sales", "portal")


def fit(
    debt_only: Annotated[bool, typer.Option(help="Only themes flagged as revenue debt.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 30,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Revenue debt and source mix per theme: the share of requesting accounts (and ARR) with a
    poor ICP fit, and who hears the theme (customers, sales calls, the idea portal)."""
    from foundation.db import connection
    from warehouse import sales

    settings = get_settings()
    with connection(settings) as conn:
        rows = sales.theme_fit(conn, settings, only_debt=debt_only)[:limit]
        sources = sales.theme_sources(conn, [r.theme_id for r in rows])
    mix = sales.channel_mix(sources)
    only = {s.theme_id: s.source for s in sources if s.share >= 0.9999}
    out = [{**r.as_dict(), **{f"{ch}_share": round(mix.get(r.theme_id, {}).get(ch, 0.0), 4)
                               for ch in _CHANNELS}, "only_source": only.get(r.theme_id)}
           for r in rows]
    columns = ["theme_id", "label", "accounts", "poor_fit_accounts", "unknown_fit_accounts",
               "poor_fit_share", "poor_fit_arr_share", "revenue_debt",
               *(f"{ch}_share" for ch in _CHANNELS), "only_source"]
    if _emit(out, fmt, columns):
        return
    table = Table("theme", "accounts", "poor fit", "unknown fit", "poor share", "poor ARR share",
                  "", *_CHANNELS, "heard only in",
                  title=f"revenue debt (icp_fit < {settings.icp_fit_threshold:g}) and source mix")
    for r in out:
        shares = [r[f"{ch}_share"] for ch in _CHANNELS]
        table.add_row(escape(f"{r['theme_id']} {r['label']}"), str(r["accounts"]),
                      str(r["poor_fit_accounts"]), str(r["unknown_fit_accounts"]),
                      _share(r["poor_fit_share"]), _share(r["poor_fit_arr_share"]),
                      "[bold red]REVENUE DEBT[/bold red]" if r["revenue_debt"] else "",
                      *(_share(s) for s in shares), r["only_source"] or "")
    console.print(table)


def theme_status(
    theme_id: Annotated[int, typer.Argument(help="Theme id (see `trendmine trends`).")],
    decision: Annotated[str, typer.Argument(help="shipped, planned or declined.")],
    note: Annotated[str | None, typer.Option(help="What the requesters are told.")] = None,
    by: Annotated[str | None, typer.Option(help="Who decides (default: your user name).")
                  ] = None,
) -> None:
    """Record a decision on a theme and tell every requesting account (one event each on the
    feedback.loop topic). Running it again with the same decision publishes nothing twice."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from schemas.names import DECISIONS, LOOP_TOPIC
    from warehouse.loop import decide, pending_count, publish_pending

    if decision not in DECISIONS:  # before touching any service
        raise TrendmineError(f"unknown decision {decision!r}",
                             f"use one of {', '.join(DECISIONS)}")
    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        d = decide(conn, settings, theme_id, decision, note, by or getpass.getuser())
        if d.changed:
            console.print(f"theme {d.theme_id} {escape(repr(d.label))}: {d.decision} "
                          f"({d.requesters} requesting account(s) to tell)")
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

"""`trendmine alerts ...` (Slack and e-mail alerts, owners told of decisions) and
`trendmine theme link` (Jira/Linear issues that move a theme's status). docs/alerts.md."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
err_console = Console(stderr=True)
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts to Slack and e-mail (emerging "
                         "themes, big deals), and decisions told to the accounts' owners.")


@alerts_app.command("send")
def send(
    digest_now: Annotated[bool, typer.Option(
        help="With TRENDMINE_ALERTS_DIGEST: send the digest now, not waiting for the week.")
    ] = False,
) -> None:
    """Apply Jira/Linear issue changes, publish the feedback.loop events, tell the owners of
    requesting accounts of decisions, and send every alert not sent yet (each once). Exit 1
    when anything failed (it stays in the ledger and is retried at the next run)."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from notify import alerts, owners
    from notify.run import run

    settings = get_settings()
    if not alerts.channels(settings) and not owners.owner_channels(settings):
        err_console.print("[yellow]no channel configured:[/yellow] set TRENDMINE_SLACK_WEBHOOK_URL"
                          " and/or TRENDMINE_SMTP_URL, TRENDMINE_SMTP_FROM and "
                          "TRENDMINE_ALERTS_EMAIL_TO (docs/alerts.md)", highlight=False)
    with connection(settings, autocommit=True) as conn:
        report = run(conn, settings, digest_now=digest_now)
    for line in report.lines():
        console.print(escape(line), highlight=False)
    if report.failures:
        for line in report.failures[:20]:
            err_console.print(f"[red]failed:[/red] {escape(line)}", highlight=False)
        raise TrendmineError(f"{len(report.failures)} send(s) failed",
                             "they stay in the ledger and are retried at the next run; "
                             "`trendmine alerts status` lists them")


@alerts_app.command("status")
def status(
    all_rows: Annotated[bool, typer.Option("--all", help="Sent alerts too.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown.")] = 50,
) -> None:
    """The alert ledger (unsent and failed first: what to fix) and owners not yet told."""
    from foundation.db import connection
    from notify import alerts, owners

    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        rows = alerts.ledger(conn, unsent_only=not all_rows, limit=limit)
        stuck = owners.not_told(conn, limit)
    table = Table("alert", "channel", "status", "tries", "found", "sent", "last error",
                  title="alerts" + ("" if all_rows else " not sent"))
    for r in rows:
        table.add_row(escape(r.alert_key), r.channel, r.status, str(r.attempts),
                      f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.sent_at:%Y-%m-%d %H:%M}" if r.sent_at else "-",
                      escape(r.last_error or ""))
    console.print(table if rows else "alerts: nothing " + ("recorded" if all_rows else "unsent"))
    if stuck:
        owners_table = Table("theme", "decision", "account", "status", "tries", "last error",
                             title="owners not told yet")
        for theme_id, decision, account, st, tries, error in stuck:
            owners_table.add_row(str(theme_id), decision, escape(account), st, str(tries),
                                 escape(error or ""))
        console.print(owners_table)


@alerts_app.command("opt-out")
def opt_out(
    owner: Annotated[str, typer.Argument(help="The owner's e-mail or Slack user id.")],
    undo: Annotated[bool, typer.Option("--undo", help="Tell this owner again.")] = False,
) -> None:
    """Stop (or, with --undo, resume) telling an account owner of decisions."""
    from foundation.db import connection
    from notify.owners import opt_out as record
    from warehouse.loop import current_user

    with connection(get_settings(), autocommit=True) as conn:
        changed = record(conn, owner, current_user(), undo=undo)
    state = "is told again" if undo else "opted out"
    console.print(f"{escape(owner)} {state}" + ("" if changed else " (already)"),
                  highlight=False)


def theme_link(
    theme_id: Annotated[int, typer.Argument(help="Theme id (see `trendmine trends`).")],
    tracker: Annotated[str | None, typer.Argument(help="jira or linear.")] = None,
    key: Annotated[str | None, typer.Argument(help="The issue key, e.g. PROJ-123.")] = None,
    jira: Annotated[str | None, typer.Option(help="A Jira issue key (PROJ-123).")] = None,
    linear: Annotated[str | None, typer.Option(help="A Linear issue key (ENG-12).")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Unlink the issue.")] = False,
) -> None:
    """Link a theme to its Jira or Linear issue (`theme link 7 jira PROJ-12`, or --jira
    PROJ-12): the issue's webhooks then move the theme to planned when it starts and to
    shipped when it is done, telling the requesters' owners. Without an issue: the links."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from notify import trackers
    from warehouse.loop import current_user

    given = [(t, k) for t, k in (("jira", jira), ("linear", linear)) if k]
    if tracker or key:
        if not (tracker and key):
            raise TrendmineError("give the tracker and the issue key",
                                 "e.g. `trendmine theme link 7 jira PROJ-12`")
        given.append((tracker.lower(), key))
    with connection(get_settings(), autocommit=True) as conn:
        for t, k in given:
            if remove:
                done = trackers.unlink(conn, t, k)
                console.print(f"{t} {escape(k.upper())}: " + ("unlinked" if done else
                                                               "was not linked"))
            else:
                done = trackers.link(conn, theme_id, t, k, current_user())
                console.print(f"theme {theme_id} linked to {t} {escape(k.upper())}"
                              + ("" if done else " (already)"), highlight=False)
        links = trackers.theme_links(conn, [theme_id]).get(theme_id, [])
    if not given:
        if not links:
            console.print(f"theme {theme_id} has no issue linked "
                          "(`trendmine theme link ID jira KEY`)")
        for link in links:
            console.print(link_text(link), highlight=False)


def link_text(link) -> str:  # type: ignore[no-untyped-def]
    state = link.issue_state or "no webhook yet"
    url = f" {link.url}" if link.url else ""
    return f"{link.tracker} {escape(link.issue_key)}: {escape(state)}{escape(url)}"


def register(app: typer.Typer) -> None:
    from trendmine.cli_theme import theme_app

    app.add_typer(alerts_app, name="alerts")
    theme_app.command("link")(theme_link)

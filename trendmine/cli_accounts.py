"""`trendmine accounts ...`: which CRM account each source's feedback lands on, the review
queue of clues that matched no account or several, and the mapping a data engineer keeps
(docs/accounts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
accounts_app = typer.Typer(no_args_is_help=True, help="Match feedback to CRM accounts across "
                           "sources: the unresolved share, the review queue, the mapping.")
map_app = typer.Typer(no_args_is_help=True, help="The mapping file: ids, domains and names "
                      "of each CRM account in the other systems.")
accounts_app.add_typer(map_app, name="map")


def _moved(result) -> str:  # type: ignore[no-untyped-def]
    trends = ", trend tables rebuilt" if result.trends_rebuilt else ""
    return f"{result.records} records re-attributed{trends}"


@accounts_app.command("status")
def status() -> None:
    """Per source: records, the share on no CRM account, and how the others were matched."""
    from foundation.db import connection
    from warehouse import accounts

    with connection(get_settings(), autocommit=True) as conn:
        rows = accounts.resolution_by_source(conn)
    table = Table("source", "records", "unresolved", "ambiguous", "crm id", "deal", "ext. id",
                  "domain", "name", "manual", title="feedback on CRM accounts")
    for r in rows:
        table.add_row(r.source, str(r.records), f"{r.unresolved} ({float(r.unresolved_share):.0%})",
                      str(r.ambiguous), str(r.by_crm_id), str(r.by_deal), str(r.by_external_id),
                      str(r.by_email_domain), str(r.by_name), str(r.by_manual))
    console.print(table if rows else "no feedback stored yet")


@accounts_app.command("unresolved")
def unresolved(limit: Annotated[int, typer.Option("--limit", min=1, help="Clues to list.")] = 30,
               ) -> None:
    """The review queue: clues of feedback on no account (most records first), with the
    accounts that claim them or whose names come close. Decide with `accounts resolve`."""
    from foundation.db import connection
    from warehouse import accounts

    with connection(get_settings(), autocommit=True) as conn:
        clues = accounts.unresolved(conn, limit)
    if not clues:
        console.print("nothing to review: every record with a clue is on an account")
        return
    table = Table("clue", "records", "sources", "why", "candidates")
    for c in clues:
        why = "ambiguous" if c.ambiguous else "no match"
        cands = "; ".join(f"{a.account_id} {a.name or ''} ({a.why})".strip()
                          for a in c.candidates) or "-"
        table.add_row(escape(c.clue), str(c.records), ", ".join(c.sources), why, escape(cands))
    console.print(table)
    console.print("[dim]trendmine accounts resolve CLUE ACCOUNT_ID  (e.g. name:initech 001C)"
                  "[/dim]")


@accounts_app.command("resolve")
def resolve(clue: Annotated[str, typer.Argument(help="KIND:VALUE as listed by `accounts "
                                                "unresolved`, e.g. zendesk:361 or name:Acme.")],
            account_id: Annotated[str, typer.Argument(help="The CRM account it belongs to.")],
            ) -> None:
    """Decide a clue: every record carrying it (now and later) belongs to ACCOUNT_ID."""
    from foundation.db import connection
    from warehouse import accounts

    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        result = accounts.resolve_clue(conn, settings, clue, account_id)
    console.print(f"{escape(clue)} -> {escape(account_id)}: {_moved(result)}")


@accounts_app.command("reresolve")
def reresolve() -> None:
    """Match every record with clues again (after editing identities by hand, or to run the
    fuzzy name pass now); the trend tables follow."""
    from foundation.db import connection
    from warehouse import accounts

    settings = get_settings()
    with connection(settings, autocommit=True) as conn:
        result = accounts.reresolve(conn, settings)
    console.print(f"{result.identities} fuzzy name matches added, {_moved(result)}")


@map_app.command("import")
def map_import(path: Annotated[Path, typer.Argument(help="CSV with account_id,kind,value "
                                                    "(kind: zendesk, intercom, canny, ..., "
                                                    "domain or name).")]) -> None:
    """Replace the mapping with this file, then match the records again."""
    from foundation.db import connection
    from warehouse import accounts

    settings = get_settings()
    rows = accounts.read_mapping(path)
    with connection(settings, autocommit=True) as conn:
        result = accounts.import_mapping(conn, settings, rows)
    unknown = (f"; {result.unknown_accounts} rows name an account the CRM has not sent yet"
               if result.unknown_accounts else "")
    console.print(f"mapping: {result.rows} rows{unknown}; {_moved(result.result)}")


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")

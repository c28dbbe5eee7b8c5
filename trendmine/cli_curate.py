"""`trendmine theme rename|merge|split|hide|move`: curation decisions that every later mining
run respects (stored with who and when, shown in the theme's lineage)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
_ID = typer.Argument(help="Theme id (see `trendmine trends`).")
_BY = typer.Option("--by", help="Who decides (default: $TRENDMINE_USER or the login name).")
_REFRESH = typer.Option("--refresh/--no-refresh", help="Rebuild the trend tables and emerging "
                        "themes at once (seconds), so the views and `emerging` agree with the "
                        "decision; else the next pipeline run does.")


def _refresh_trends(conn, refresh: bool) -> None:
    """Trend rows and emerging themes follow the records a decision moved or hid."""
    if not refresh:
        return
    from warehouse.trends import rebuild_trends

    counts = rebuild_trends(conn, get_settings())
    console.print(f"[dim]trend tables rebuilt in {counts['seconds']:.1f}s[/dim]")


def rename(theme_id: Annotated[int, _ID], label: Annotated[str, typer.Argument(
        help="The new label, e.g. \"EU data residency\".")],
           by: Annotated[str | None, _BY] = None) -> None:
    """Give a theme the name you want; later runs keep it while they find the theme."""
    from foundation.db import connection
    from warehouse import curation

    with connection(get_settings(), autocommit=True) as conn:
        did = curation.rename(conn, theme_id, label, by)
    console.print(f"theme {theme_id} is now “{escape(label)}” (decision {did})")


def merge(theme_ids: Annotated[list[int], typer.Argument(
        help="The theme to keep, then the themes to fold into it.")],
          by: Annotated[str | None, _BY] = None,
          refresh: Annotated[bool, _REFRESH] = True) -> None:
    """Fold themes into the first one; later runs keep them together."""
    from foundation.db import connection
    from warehouse import curation

    keep, *absorbed = theme_ids
    with connection(get_settings(), autocommit=True) as conn:
        did = curation.merge(conn, keep, absorbed, by)
        _refresh_trends(conn, refresh)
    console.print(f"merged {', '.join(map(str, absorbed))} into {keep} (decision {did})")


def split(theme_id: Annotated[int, _ID],
          parts: Annotated[int, typer.Option("--into", min=2, max=10,
                                             help="How many sub-themes.")] = 2,
          by: Annotated[str | None, _BY] = None,
          refresh: Annotated[bool, _REFRESH] = True) -> None:
    """Re-cluster a theme's feedback into sub-themes and show them; later runs keep them."""
    from foundation.db import connection
    from warehouse import curation

    with connection(get_settings(), autocommit=True) as conn:
        subs = curation.split(conn, theme_id, parts, by)
        _refresh_trends(conn, refresh)
    table = Table("id", "sub-theme", "snippets", "keywords", title=f"theme {theme_id} split")
    for s in subs:
        table.add_row(str(s.theme_id), escape(s.label), str(s.size),
                      escape(", ".join(s.keywords[:5])))
    console.print(table)


def hide(theme_id: Annotated[int, _ID], by: Annotated[str | None, _BY] = None,
         refresh: Annotated[bool, _REFRESH] = True) -> None:
    """Hide a theme (chatter like "thanks for the quick reply") from the trend lists; its
    parent too when most of the parent's feedback is now in hidden or chatter sub-themes."""
    from foundation.db import connection
    from warehouse import curation

    with connection(get_settings(), autocommit=True) as conn:
        did = curation.hide(conn, theme_id, by)
        parent = curation.parent_of(conn, theme_id)
        _refresh_trends(conn, refresh)
    console.print(f"theme {theme_id} is hidden (decision {did})")
    if parent is not None and parent.visibility != "shown":
        console.print(f"its parent theme {parent.theme_id} is {parent.visibility} now too "
                      "(most of its feedback is in hidden or chatter sub-themes)")


def move(theme_id: Annotated[int, _ID],
         parent: Annotated[int, typer.Option("--parent", help="The parent theme id "
                                             "(see `trendmine trends --level parent`).")],
         by: Annotated[str | None, _BY] = None,
         refresh: Annotated[bool, _REFRESH] = True) -> None:
    """Put a leaf theme under another parent theme (a parent left with no sub-themes is
    retired)."""
    from foundation.db import connection
    from warehouse import curation

    with connection(get_settings(), autocommit=True) as conn:
        did = curation.move(conn, theme_id, parent, by)
        _refresh_trends(conn, refresh)
    console.print(f"theme {theme_id} now sits under {parent} (decision {did})")


def register(app: typer.Typer) -> None:
    """Add the curation commands to the `theme` group (`app` is the root, unused: the
    commands live under `trendmine theme`)."""
    from trendmine.cli_theme import theme_app

    for name, fn in (("rename", rename), ("merge", merge), ("split", split), ("hide", hide),
                     ("move", move)):
        theme_app.command(name)(fn)

"""`trendmine taxonomy import|export|list`: the PM's own themes (seeds), which every full
mining run respects; the needs no seed covers are still discovered and shown as new."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
taxonomy_app = typer.Typer(no_args_is_help=True, help="Your own taxonomy: seed themes by name "
                           "and a few examples; mining puts their records in them.")
_BY = typer.Option("--by", help="Who imports (default: $TRENDMINE_USER or the login name).")


@taxonomy_app.command("import")
def import_(path: Annotated[Path, typer.Argument(help="A taxonomy YAML file (docs/taxonomy.md)."
                                                 )],
            by: Annotated[str | None, _BY] = None,
            keep_others: Annotated[bool, typer.Option(
                "--keep-others", help="Keep the seeds the file leaves out (default: the file "
                "is the whole taxonomy, seeds missing from it are removed).")] = False) -> None:
    """Seed themes from a YAML file: a list of `name`, `examples` (a few requests), optional
    `description` and `parent`. Importing the same file again changes nothing."""
    from foundation.db import connection
    from warehouse import taxonomy

    specs = taxonomy.parse_file(path)
    with connection(get_settings(), autocommit=True) as conn:
        r = taxonomy.import_seeds(conn, specs, path.name, by, keep_others)
    console.print(f"taxonomy import {r.import_id}: {len(r.added)} added, {len(r.changed)} "
                  f"changed, {len(r.unchanged)} unchanged, {len(r.removed)} removed"
                  + (f", {r.discovered} discovered themes left as they are"
                     if r.discovered else ""))
    for what, names in (("added", r.added), ("changed", r.changed), ("removed", r.removed)):
        if names:
            console.print(f"  {what}: {escape(', '.join(names))}")
    if r.added or r.changed or r.removed:
        console.print("[dim]the next mining run (a full one) puts the records in place: "
                      "`trendmine mine`[/dim]")


@taxonomy_app.command("export")
def export(path: Annotated[Path, typer.Argument(help="Where to write the YAML ('-' = stdout).")]
           ) -> None:
    """Write the current taxonomy (seeds, then the discovered themes marked `origin:
    discovered`) as a file to edit and import again."""
    from foundation.db import connection
    from warehouse import taxonomy

    with connection(get_settings(), autocommit=True) as conn:
        text = taxonomy.export_text(conn)
    if str(path) == "-":
        typer.echo(text, nl=False)
        return
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(path))}")


@taxonomy_app.command("list")
def list_() -> None:
    """The seeded themes, then the discovered ones (new: needs no seed covers)."""
    from foundation.db import connection
    from warehouse import taxonomy

    with connection(get_settings(), autocommit=True) as conn:
        rows = taxonomy.taxonomy_rows(conn)
    table = Table("id", "theme", "origin", "parent", "snippets", "accounts", "examples",
                  title="taxonomy")
    for r in rows:
        parent = r.seed_parent if r.origin == "seeded" else r.parent_label
        table.add_row(str(r.theme_id), escape(r.label),
                      r.origin if r.origin == "seeded" else "[bold]new[/bold] (discovered)",
                      escape(parent or ""), str(r.size), str(r.n_accounts),
                      str(len(r.examples)) if r.examples is not None else "")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(taxonomy_app, name="taxonomy")

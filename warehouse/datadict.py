"""Render docs/data-dictionary.md from the live COMMENTs of a migrated database.

    python -m warehouse.datadict --out docs/data-dictionary.md

A test renders it from a fresh database and fails when the committed file drifts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import psycopg

from schemas.names import DB_SCHEMA, READ_SCHEMA

_RELATIONS = """
SELECT c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind = ANY(%s) AND c.relname <> 'schema_migrations'
ORDER BY c.relname
"""
_COLUMNS = """
SELECT attname, format_type(atttypid, atttypmod), col_description(attrelid, attnum)
FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum
"""


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _section(conn: psycopg.Connection, schema: str, kinds: list[str]) -> list[str]:
    lines: list[str] = []
    for oid, name, _kind, comment in conn.execute(_RELATIONS, (schema, kinds)).fetchall():
        lines += [f"### `{schema}.{name}`", "", _cell(comment) or "_(no comment)_", "",
                  "| column | type | meaning |", "|---|---|---|"]
        for col, typ, desc in conn.execute(_COLUMNS, (oid,)).fetchall():
            lines.append(f"| `{col}` | {typ} | {_cell(desc)} |")
        lines.append("")
    return lines


def render(conn: psycopg.Connection) -> str:
    schema_comment = conn.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        (READ_SCHEMA,)).fetchone()
    lines = [
        "# trendmine data dictionary",
        "",
        "Generated from the database COMMENTs by `python -m warehouse.datadict --out "
        "docs/data-dictionary.md`; do not edit by hand.",
        "",
        f"## Read side: schema `{READ_SCHEMA}`",
        "",
        _cell(schema_comment[0] if schema_comment else "") + " BI tools and product managers "
        "should read these views only.",
        "",
        *_section(conn, READ_SCHEMA, ["v", "m"]),
        f"## Raw and derived tables: schema `{DB_SCHEMA}`",
        "",
        "Written by ingest and mining; internal, may change between versions.",
        "",
        *_section(conn, DB_SCHEMA, ["r", "p"]),
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    from foundation.config import get_settings
    from foundation.db import connection

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/data-dictionary.md"))
    args = parser.parse_args(argv)
    with connection(get_settings()) as conn:
        text = render(conn)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

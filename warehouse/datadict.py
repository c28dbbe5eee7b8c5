"""Render docs/data-dictionary.md from the live COMMENTs of a migrated database.

    python -m warehouse.datadict --out docs/data-dictionary.md

A test renders it from a fresh database and fails when the committed file drifts.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import psycopg

from schemas.names import DB_SCHEMA, READ_SCHEMA
from warehouse.rows import fetch, fetch_value


@dataclass
class Relation:
    oid: int
    name: str
    comment: str | None


@dataclass
class Column:
    name: str
    type: str
    comment: str | None


@dataclass
class Function:
    name: str
    arguments: str
    result: str
    comment: str | None


_RELATIONS = """
SELECT c.oid, c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind = ANY(%s) AND c.relname <> 'schema_migrations'
ORDER BY c.relname
"""
_COLUMNS = """
SELECT attname AS name, format_type(atttypid, atttypmod) AS type,
       col_description(attrelid, attnum) AS comment
FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum
"""
_FUNCTIONS = """
SELECT p.proname AS name, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result, obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %s
  AND NOT EXISTS (SELECT 1 FROM pg_depend d  -- an extension's functions are not ours
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.proname, p.oid
"""


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _section(conn: psycopg.Connection, schema: str, kinds: list[str]) -> list[str]:
    lines: list[str] = []
    for rel in fetch(conn, Relation, _RELATIONS, (schema, kinds)):
        lines += [f"### `{schema}.{rel.name}`", "", _cell(rel.comment) or "_(no comment)_", "",
                  "| column | type | meaning |", "|---|---|---|"]
        for col in fetch(conn, Column, _COLUMNS, (rel.oid,)):
            lines.append(f"| `{col.name}` | {col.type} | {_cell(col.comment)} |")
        lines.append("")
    return lines


def _functions(conn: psycopg.Connection, schema: str) -> list[str]:
    lines = ["| function | returns | meaning |", "|---|---|---|"]
    for f in fetch(conn, Function, _FUNCTIONS, (schema,)):
        lines.append(f"| `{schema}.{f.name}({_cell(f.arguments)})` | {f.result} "
                     f"| {_cell(f.comment)} |")
    return [*lines, ""]


def render(conn: psycopg.Connection) -> str:
    schema_comment = fetch_value(
        conn, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        (READ_SCHEMA,))
    lines = [
        "# trendmine data dictionary",
        "",
        "Generated from the database COMMENTs by `python -m warehouse.datadict --out "
        "docs/data-dictionary.md`; do not edit by hand.",
        "",
        f"## Read side: schema `{READ_SCHEMA}`",
        "",
        _cell(schema_comment) + " BI tools and product managers "
        "should read these views only.",
        "",
        *_section(conn, READ_SCHEMA, ["v", "m"]),
        f"## Raw and derived tables: schema `{DB_SCHEMA}`",
        "",
        "Written by ingest and mining; internal, may change between versions.",
        "",
        *_section(conn, DB_SCHEMA, ["r", "p"]),
        f"## Functions: schema `{DB_SCHEMA}`",
        "",
        "Formulas that more than one query uses, defined once.",
        "",
        *_functions(conn, DB_SCHEMA),
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

"""Typed reads for the database side: rows come back as dataclasses, dicts or one value,
never as tuples to index (psycopg row factories)."""

from __future__ import annotations

from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row, scalar_row

T = TypeVar("T")
Query = LiteralString | sql.Composable
Params = dict[str, Any] | tuple[Any, ...] | list[Any] | None


def fetch(conn: psycopg.Connection, row: type[T], query: Query, params: Params = None
          ) -> list[T]:
    """Every row as a `row` dataclass (the columns named like its fields)."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(query, params).fetchall()


def fetch_dicts(conn: psycopg.Connection, query: Query, params: Params = None
                ) -> list[dict[str, Any]]:
    """Every row as a dict keyed by column name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def fetch_value(conn: psycopg.Connection, query: Query, params: Params = None) -> Any:
    """The first column of the first row; None when there is no row."""
    with conn.cursor(row_factory=scalar_row) as cur:
        return cur.execute(query, params).fetchone()


def fetch_map(conn: psycopg.Connection, query: Query, params: Params = None) -> dict[Any, Any]:
    """A two-column query as {first column: second column}."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        key, value = (c.name for c in cur.description)
        return {r[key]: r[value] for r in cur.fetchall()}

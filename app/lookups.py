"""The few look-ups the pages need that the CLI prints nowhere: read from the documented
`trends` views, never a number of their own (those come from warehouse/)."""

from __future__ import annotations

import psycopg

from warehouse.rows import fetch_dicts, fetch_map


def theme_origins(conn: psycopg.Connection, theme_ids: list[int]) -> dict[int, str]:
    """{theme id: 'seeded' or 'discovered'} (trends.themes.origin)."""
    return fetch_map(conn, "SELECT theme_id, origin FROM trends.themes WHERE theme_id = ANY(%s)",
                     (theme_ids,))


def active_themes(conn: psycopg.Connection) -> list[dict]:
    """Active, shown themes by label: the choices of the merge and move forms."""
    return fetch_dicts(
        conn, "SELECT theme_id, label, level FROM trends.themes WHERE status = 'active' "
              "AND visibility = 'shown' ORDER BY level, lower(label), theme_id")

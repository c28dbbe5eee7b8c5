"""Curation: a PM's decisions on themes (rename, merge, split, hide, move) that stick.

Functions take an autocommit connection (each decision is one transaction of its own).
Each decision is a row of trendmine.theme_curation (who, when) plus a theme_lineage row,
applied at once, and replayed by every later mining run (`fold_decisions` before the
themes are written, `apply_decisions` after), so a full re-clustering neither renames a
renamed theme, nor splits a merge apart, nor merges a split back, nor shows a hidden theme.
Product decisions (shipped/planned/declined, warehouse.loop) follow their theme: a merge moves
them to the surviving theme, a split carries the one in force to each part.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foundation.errors import TrendmineError
from mining import PhraseLabeller
from mining.chatter import chatter_parents
from schemas.names import (
    CURRENT_DECISIONS_VIEW,
    LOOP_NOTIFICATIONS_TABLE,
    THEME_CURATION_TABLE,
    THEME_DECISIONS_TABLE,
)

ACTIONS = ("rename", "merge", "split", "hide", "move")
# A new cluster this close to a theme merged away by hand is that theme again: fold it.
MERGED_AWAY_SIMILARITY = 0.75


@dataclass
class Decision:
    decision_id: int
    action: str
    theme_id: int
    related_theme_ids: list[int]
    label: str | None
    decided_by: str


@dataclass
class ThemeRef:
    theme_id: int
    label: str
    level: str
    status: str
    parent_theme_id: int | None
    visibility: str = "shown"


@dataclass
class SubTheme:
    theme_id: int
    label: str
    size: int
    keywords: list[str] = field(default_factory=list)


def current_user() -> str:
    return os.environ.get("TRENDMINE_USER") or getpass.getuser()


def _theme(conn: psycopg.Connection, theme_id: int) -> ThemeRef:
    if not conn.autocommit:  # else the decision's transaction would be a savepoint, lost
        raise ValueError("conn: curation needs an autocommit connection")
    with conn.cursor(row_factory=class_row(ThemeRef)) as cur:
        found = cur.execute(
            "SELECT theme_id, label, level, status, parent_theme_id, visibility "
            "FROM trendmine.themes WHERE theme_id = %s", (theme_id,)).fetchone()
    if found is None:
        raise TrendmineError(f"no theme {theme_id}", "list themes with `trendmine trends`")
    return found


def parent_of(conn: psycopg.Connection, theme_id: int) -> ThemeRef | None:
    """The parent of a theme as it is now (None for a parent or a leaf without one)."""
    pid = _theme(conn, theme_id).parent_theme_id
    return None if pid is None else _theme(conn, pid)


def _active_leaf(conn: psycopg.Connection, theme_id: int) -> ThemeRef:
    t = _theme(conn, theme_id)
    if t.status != "active":
        raise TrendmineError(f"theme {theme_id} is {t.status}", "pick an active theme")
    return t


def _record(conn: psycopg.Connection, action: str, theme_id: int, related: list[int],
            label: str | None, who: str) -> int:
    """Store the decision and its lineage row; returns the decision id."""
    if action in ("rename", "hide", "move"):  # the latest of these replaces earlier ones
        conn.execute(f"UPDATE {THEME_CURATION_TABLE} SET active = false "
                     "WHERE theme_id = %s AND action = %s AND active", (theme_id, action))
    did = conn.execute(
        f"INSERT INTO {THEME_CURATION_TABLE} (action, theme_id, related_theme_ids, label, "
        "decided_by) VALUES (%s, %s, %s, %s, %s) RETURNING decision_id",
        (action, theme_id, related, label, who)).fetchone()[0]
    conn.execute(
        "INSERT INTO trendmine.theme_lineage (event, theme_id, related_theme_ids, detail) "
        "VALUES (%s, %s, %s, %s)",
        (action, theme_id, related,
         Jsonb({"decision_id": did, "by": who, "curated": True, "label": label})))
    return did


def rename(conn: psycopg.Connection, theme_id: int, label: str, who: str | None = None) -> int:
    label = " ".join(label.split())
    if not label:
        raise TrendmineError("empty label", "give the theme a name, e.g. \"EU data residency\"")
    _theme(conn, theme_id)
    with conn.transaction():
        did = _record(conn, "rename", theme_id, [], label, who or current_user())
        conn.execute("UPDATE trendmine.themes SET label = %s, updated_at = now() "
                     "WHERE theme_id = %s", (label, theme_id))
    return did


def hide(conn: psycopg.Connection, theme_id: int, who: str | None = None) -> int:
    """Hide a theme; its parent is rechecked at once (hidden or chatter too when its shown
    leaves no longer hold half of its snippets)."""
    t = _theme(conn, theme_id)
    with conn.transaction():
        did = _record(conn, "hide", theme_id, [], None, who or current_user())
        conn.execute("UPDATE trendmine.themes SET visibility = 'hidden' WHERE theme_id = %s",
                     (theme_id,))
        if t.parent_theme_id is not None:
            recheck_parents(conn, [t.parent_theme_id])
    return did


def move(conn: psycopg.Connection, theme_id: int, parent_id: int, who: str | None = None
         ) -> int:
    leaf, parent = _active_leaf(conn, theme_id), _active_leaf(conn, parent_id)
    if leaf.level != "leaf" or parent.level != "parent":
        raise TrendmineError(f"cannot move theme {theme_id} under {parent_id}",
                             "move a leaf theme under a parent theme (see trends --level)")
    with conn.transaction():
        did = _record(conn, "move", theme_id, [parent_id], None, who or current_user())
        conn.execute("UPDATE trendmine.themes SET parent_theme_id = %s WHERE theme_id = %s",
                     (parent_id, theme_id))
        old = [leaf.parent_theme_id] if leaf.parent_theme_id is not None else []
        refresh_counts(conn, [theme_id], old)
        retire_empty_parents(conn, old, did, who or current_user())
        recheck_parents(conn, [*old, parent_id])
    return did


def parent_ids(conn: psycopg.Connection, theme_ids: list[int]) -> list[int]:
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT parent_theme_id FROM trendmine.themes WHERE theme_id = ANY(%s) "
        "AND parent_theme_id IS NOT NULL", (theme_ids,))]


def _refresh_stats(conn: psycopg.Connection, theme_ids: list[int]) -> None:
    conn.execute(
        """UPDATE trendmine.themes t SET size = s.size, n_feedback = s.n_feedback,
               n_accounts = s.n_accounts, first_seen = s.first_seen, last_seen = s.last_seen,
               centroid = s.centroid, updated_at = now()
           FROM (SELECT ft.theme_id, count(*) AS size,
                        count(DISTINCT ft.feedback_id) AS n_feedback,
                        count(DISTINCT f.account_id) AS n_accounts,
                        min(f.created_at) AS first_seen, max(f.created_at) AS last_seen,
                        avg(e.embedding) AS centroid
                 FROM trendmine.feedback_theme ft
                 JOIN trendmine.feedback f USING (feedback_id)
                 JOIN trendmine.themes th ON th.theme_id = ft.theme_id
                 LEFT JOIN trendmine.feedback_snippet sn ON sn.feedback_id = ft.feedback_id
                      AND sn.ord = ft.ord
                 LEFT JOIN trendmine.feedback_embedding e ON e.feedback_id = ft.feedback_id
                      AND e.ord = ft.ord AND e.model = th.model AND e.text_hash = sn.text_hash
                 WHERE ft.theme_id = ANY(%s) GROUP BY 1) s
           WHERE t.theme_id = s.theme_id""",
        (theme_ids,))


def refresh_counts(conn: psycopg.Connection, leaf_ids: list[int],
                   parent_ids: list[int] | None = None) -> None:
    """Size, records, accounts and first/last seen of these leaves, of their parents and of
    `parent_ids` (a parent counts the records of all its leaves, each record once). A theme
    left with no records (a parent whose leaves were all merged away or moved) gets 0."""
    conn.execute(
        """WITH parents AS (
               SELECT parent_theme_id AS theme_id FROM trendmine.themes
               WHERE theme_id = ANY(%(ids)s) AND parent_theme_id IS NOT NULL
               UNION SELECT unnest(%(parents)s::bigint[])),
           targets AS (SELECT unnest(%(ids)s::bigint[]) AS theme_id
                       UNION SELECT theme_id FROM parents),
           members AS (
               SELECT ft.theme_id, ft.feedback_id FROM trendmine.feedback_theme ft
               WHERE ft.theme_id = ANY(%(ids)s)
               UNION ALL
               SELECT l.parent_theme_id, ft.feedback_id FROM trendmine.feedback_theme ft
               JOIN trendmine.themes l ON l.theme_id = ft.theme_id
               WHERE l.parent_theme_id IN (SELECT theme_id FROM parents))
           UPDATE trendmine.themes t SET size = s.size, n_feedback = s.n_feedback,
               n_accounts = s.n_accounts, first_seen = s.first_seen,
               last_seen = s.last_seen, updated_at = now()
           FROM (SELECT g.theme_id, count(m.feedback_id) AS size,
                        count(DISTINCT m.feedback_id) AS n_feedback,
                        count(DISTINCT f.account_id) AS n_accounts,
                        min(f.created_at) AS first_seen, max(f.created_at) AS last_seen
                 FROM targets g LEFT JOIN members m USING (theme_id)
                 LEFT JOIN trendmine.feedback f USING (feedback_id) GROUP BY 1) s
           WHERE t.theme_id = s.theme_id""",
        {"ids": leaf_ids, "parents": parent_ids or []})


def retire_empty_parents(conn: psycopg.Connection, parent_ids: list[int],
                         decision_id: int | None = None, who: str | None = None
                         ) -> list[int]:
    """Retire the active parents among `parent_ids` that no active leaf points at any more
    (all merged away or moved): they leave the trend lists and the report, with a lineage
    row naming the decision that emptied them. Returns their ids."""
    gone = [r[0] for r in conn.execute(
        """UPDATE trendmine.themes p SET status = 'retired', size = 0, n_feedback = 0,
               n_accounts = 0, updated_at = now()
           WHERE p.theme_id = ANY(%s) AND p.level = 'parent' AND p.status = 'active'
             AND NOT EXISTS (SELECT 1 FROM trendmine.themes l WHERE l.parent_theme_id =
                             p.theme_id AND l.status = 'active')
           RETURNING p.theme_id""", (parent_ids,))]
    for pid in gone:
        conn.execute(
            "INSERT INTO trendmine.theme_lineage (event, theme_id, detail) "
            "VALUES ('retire', %s, %s)",
            (pid, Jsonb({"decision_id": decision_id, "by": who, "curated": True,
                         "reason": "no sub-themes left"})))
    return gone


@dataclass
class _LeafOf:
    parent_theme_id: int
    size: int
    visibility: str


def recheck_parents(conn: psycopg.Connection, parent_ids: list[int] | None = None
                    ) -> dict[int, str]:
    """Re-derive the visibility of active parents (all, or `parent_ids`) from their active
    leaves, with the rule mining uses (`mining.chatter.chatter_parents`): a parent with at
    least half of its snippets in leaves that are not shown is not shown either, 'hidden'
    when hidden leaves outweigh chatter ones, else 'chatter'. A parent hidden by its own
    decision stays hidden. Returns {parent id: visibility} of the parents rechecked."""
    with conn.cursor(row_factory=class_row(_LeafOf)) as cur:
        leaves = cur.execute(
            """SELECT l.parent_theme_id, l.size, l.visibility FROM trendmine.themes l
               JOIN trendmine.themes p ON p.theme_id = l.parent_theme_id
               WHERE l.level = 'leaf' AND l.status = 'active' AND p.status = 'active'
                 AND (%(ids)s::bigint[] IS NULL OR p.theme_id = ANY(%(ids)s::bigint[]))
                 AND NOT EXISTS (SELECT 1 FROM trendmine.theme_curation d
                                 WHERE d.theme_id = p.theme_id AND d.action = 'hide'
                                   AND d.active)""",
            {"ids": parent_ids}).fetchall()
    if not leaves:
        return {}
    parent_of = np.array([r.parent_theme_id for r in leaves], dtype=np.int64)
    sizes = np.array([r.size for r in leaves], dtype=np.int64)
    vis = np.array([r.visibility for r in leaves])
    quiet = chatter_parents(parent_of, sizes, vis != "shown")
    out: dict[int, str] = {}
    for pid in np.unique(parent_of).tolist():
        mine = parent_of == pid
        hidden = sizes[mine & (vis == "hidden")].sum()
        chatter = sizes[mine & (vis == "chatter")].sum()
        out[pid] = "shown" if pid not in quiet else (
            "hidden" if hidden > chatter else "chatter")
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE trendmine.themes SET visibility = %s WHERE theme_id = %s "
            "AND visibility IS DISTINCT FROM %s",
            [(v, pid, v) for pid, v in out.items()])
    return out


def merge(conn: psycopg.Connection, keep_id: int, absorbed: list[int], who: str | None = None
          ) -> int:
    """Fold `absorbed` themes into `keep_id`: their snippets move, they become 'merged'."""
    absorbed = [a for a in dict.fromkeys(absorbed) if a != keep_id]
    if not absorbed:
        raise TrendmineError("nothing to merge", "give two or more theme ids")
    keep = _active_leaf(conn, keep_id)
    for a in absorbed:
        if _active_leaf(conn, a).level != keep.level or keep.level != "leaf":
            raise TrendmineError(f"cannot merge theme {a} into {keep_id}",
                                 "merge leaf themes (see trends --level leaf)")
    with conn.transaction():
        did = _record(conn, "merge", keep_id, absorbed, None, who or current_user())
        conn.execute("UPDATE trendmine.feedback_theme SET theme_id = %s "
                     "WHERE theme_id = ANY(%s)", (keep_id, absorbed))
        conn.execute("UPDATE trendmine.themes SET status = 'merged', merged_into = %s, "
                     "updated_at = now() WHERE theme_id = ANY(%s)", (keep_id, absorbed))
        # their product decisions now speak for the surviving theme (decided_on keeps where
        # they were made); its new requesters are told on the next loop run
        conn.execute(f"UPDATE {THEME_DECISIONS_TABLE} SET theme_id = %s "
                     "WHERE theme_id = ANY(%s)", (keep_id, absorbed))
        _refresh_stats(conn, [keep_id])
        parents = parent_ids(conn, [keep_id, *absorbed])
        refresh_counts(conn, [keep_id], parents)
        retire_empty_parents(conn, parents, did, who or current_user())
        recheck_parents(conn, parents)
    return did


def split(conn: psycopg.Connection, theme_id: int, parts: int = 2, who: str | None = None,
          random_state: int = 42) -> list[SubTheme]:
    """Re-cluster a theme's snippets into `parts` sub-themes (k-means on their embeddings);
    the theme retires, the sub-themes keep its parent. Returns the sub-themes."""
    from sklearn.cluster import KMeans

    t = _active_leaf(conn, theme_id)
    if t.level != "leaf":
        raise TrendmineError(f"theme {theme_id} is a parent", "split a leaf theme")
    register_vector(conn)
    rows = conn.execute(
        """SELECT ft.feedback_id, ft.ord, sn.text, e.embedding, f.account_id
           FROM trendmine.feedback_theme ft
           JOIN trendmine.themes th ON th.theme_id = ft.theme_id
           JOIN trendmine.feedback f USING (feedback_id)
           JOIN trendmine.feedback_snippet sn ON sn.feedback_id = ft.feedback_id
                AND sn.ord = ft.ord
           JOIN trendmine.feedback_embedding e ON e.feedback_id = ft.feedback_id
                AND e.ord = ft.ord AND e.model = th.model AND e.text_hash = sn.text_hash
           WHERE ft.theme_id = %s ORDER BY ft.feedback_id, ft.ord""", (theme_id,)).fetchall()
    if len(rows) < 2 * parts:
        raise TrendmineError(f"theme {theme_id} has {len(rows)} snippets",
                             f"a split into {parts} needs at least {2 * parts}")
    X = np.array([r[3].to_numpy() for r in rows], dtype=np.float32)
    sub = KMeans(n_clusters=parts, n_init=10, random_state=random_state).fit_predict(X)
    texts = [r[2] for r in rows]
    lab = PhraseLabeller().fit(texts, sub, X, [r[4] for r in rows])
    # the pieces of a chatter (or hidden) theme are chatter (hidden) too
    model, visibility = conn.execute(
        "SELECT model, visibility FROM trendmine.themes WHERE theme_id = %s",
        (theme_id,)).fetchone()
    out: list[SubTheme] = []
    with conn.transaction():
        for k in range(parts):
            members = np.flatnonzero(sub == k)
            new_id = conn.execute(
                "INSERT INTO trendmine.themes (label, keywords, model, level, parent_theme_id, "
                "visibility) VALUES (%s, %s, %s, 'leaf', %s, %s) RETURNING theme_id",
                (lab.labels_text_.get(k, f"part {k + 1} of {theme_id}"),
                 lab.keywords_.get(k, []), model, t.parent_theme_id,
                 visibility)).fetchone()[0]
            conn.execute(
                "UPDATE trendmine.feedback_theme SET theme_id = %s WHERE theme_id = %s "
                "AND (feedback_id, ord) IN (SELECT unnest(%s::bigint[]), unnest(%s::int[]))",
                (new_id, theme_id, [rows[i][0] for i in members],
                 [rows[i][1] for i in members]))
            out.append(SubTheme(new_id, lab.labels_text_.get(k, ""), int(members.size),
                                lab.keywords_.get(k, [])))
        ids = [s.theme_id for s in out]
        _refresh_stats(conn, ids)
        _record(conn, "split", theme_id, ids, None, who or current_user())
        _carry_decision(conn, theme_id, ids)
        conn.execute("UPDATE trendmine.themes SET status = 'retired', updated_at = now() "
                     "WHERE theme_id = %s", (theme_id,))
    return out


def _carry_decision(conn: psycopg.Connection, theme_id: int, part_ids: list[int]) -> None:
    """The product decision in force on a split theme, carried to each part (carried_from):
    the accounts it told or is telling count as told for the copies, so nobody hears it
    twice; the parts' other requesters are told on the next loop run."""
    current = conn.execute(f"SELECT decision_id FROM {CURRENT_DECISIONS_VIEW} "
                           "WHERE theme_id = %s", (theme_id,)).fetchone()
    if current is None:
        return
    for part in part_ids:
        conn.execute(
            f"""WITH copy AS (
                    INSERT INTO {THEME_DECISIONS_TABLE} (theme_id, decided_on, carried_from,
                        decision, note, decided_by, decided_at)
                    SELECT %(part)s, decided_on, decision_id, decision, note, decided_by,
                           decided_at
                    FROM {THEME_DECISIONS_TABLE} WHERE decision_id = %(did)s
                    RETURNING decision_id)
                INSERT INTO {LOOP_NOTIFICATIONS_TABLE} (decision_id, account_id, created_at,
                    notified_at)
                SELECT copy.decision_id, n.account_id, n.created_at,
                       coalesce(n.notified_at, now())
                FROM copy, {LOOP_NOTIFICATIONS_TABLE} n WHERE n.decision_id = %(did)s""",
            {"part": part, "did": current[0]})


def active_decisions(conn: psycopg.Connection) -> list[Decision]:
    with conn.cursor(row_factory=class_row(Decision)) as cur:
        return cur.execute(
            "SELECT decision_id, action, theme_id, related_theme_ids, label, decided_by "
            f"FROM {THEME_CURATION_TABLE} WHERE active ORDER BY decision_id").fetchall()


def apply_decisions(conn: psycopg.Connection) -> None:
    """After a mining run wrote its themes: labels, visibility and parents decided by hand
    win over what the run computed (for themes the run kept)."""
    for d in active_decisions(conn):
        if d.action == "rename":
            conn.execute("UPDATE trendmine.themes SET label = %s WHERE theme_id = %s",
                         (d.label, d.theme_id))
        elif d.action == "hide":
            conn.execute("UPDATE trendmine.themes SET visibility = 'hidden' "
                         "WHERE theme_id = %s", (d.theme_id,))
        elif d.action == "move":
            conn.execute(
                "UPDATE trendmine.themes SET parent_theme_id = %s WHERE theme_id = %s "
                "AND EXISTS (SELECT 1 FROM trendmine.themes p WHERE p.theme_id = %s "
                "AND p.status = 'active' AND p.level = 'parent')",
                (d.related_theme_ids[0], d.theme_id, d.related_theme_ids[0]))


def curated_centroids(conn: psycopg.Connection, decisions: list[Decision]
                      ) -> dict[int, np.ndarray]:
    """Centroids of the themes that decisions refer to (absorbed and split-off themes)."""
    ids = sorted({t for d in decisions for t in [d.theme_id, *d.related_theme_ids]})
    if not ids:
        return {}
    register_vector(conn)
    return {tid: c.to_numpy().astype(np.float32) for tid, c in conn.execute(
        "SELECT theme_id, centroid FROM trendmine.themes WHERE theme_id = ANY(%s) "
        "AND centroid IS NOT NULL", (ids,)).fetchall()}

"""Mining against the database: snippets -> embeddings -> themes, with stable theme ids.

The computation lives in `mining/` (pure); this module only reads rows, calls it, and
writes the results back in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from mining import Embedder, ThemeModel, match_themes, split_snippets, text_hash
from trendmine.config import Settings
from trendmine.db import connect

Progress = Callable[[str, int, int], None]


def sync_snippets(conn, since: datetime) -> int:
    """(Re)split records whose snippets are missing or stale; returns records split."""
    rows = conn.execute(
        """SELECT f.feedback_id, f.text FROM trendmine.feedback f
           WHERE f.created_at >= %s AND NOT EXISTS (
               SELECT 1 FROM trendmine.feedback_snippet s
               WHERE s.feedback_id = f.feedback_id AND s.ord = 0
                 AND f.last_ingested_at <= (SELECT max(e.embedded_at) FROM
                     trendmine.feedback_embedding e WHERE e.feedback_id = f.feedback_id))""",
        (since,),
    ).fetchall()
    if not rows:
        return 0
    with conn.transaction():
        ids = [r[0] for r in rows]
        conn.execute("DELETE FROM trendmine.feedback_snippet WHERE feedback_id = ANY(%s)", (ids,))
        with conn.cursor().copy(
            "COPY trendmine.feedback_snippet (feedback_id, ord, text, text_hash) FROM STDIN"
        ) as copy:
            for fid, text in rows:
                for i, snip in enumerate(split_snippets(text)):
                    copy.write_row((fid, i, snip, text_hash(snip)))
    return len(rows)


def embed_missing(conn, embedder: Embedder, progress: Progress | None = None) -> int:
    """Embed snippets with no embedding for this model and text; returns how many."""
    todo = conn.execute(
        """SELECT s.feedback_id, s.ord, s.text, s.text_hash FROM trendmine.feedback_snippet s
           LEFT JOIN trendmine.feedback_embedding e ON e.feedback_id = s.feedback_id
                AND e.ord = s.ord AND e.model = %s AND e.text_hash = s.text_hash
           WHERE e.feedback_id IS NULL""",
        (embedder.model_id,),
    ).fetchall()
    chunk = 2048
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        vectors = embedder.encode([r[2] for r in part])
        with conn.transaction():
            conn.execute(  # a stale embedding of an edited snippet is replaced
                "DELETE FROM trendmine.feedback_embedding WHERE (feedback_id, ord, model) IN "
                "(SELECT unnest(%s::bigint[]), unnest(%s::int[]), %s)",
                ([r[0] for r in part], [r[1] for r in part], embedder.model_id),
            )
            with conn.cursor().copy(
                "COPY trendmine.feedback_embedding (feedback_id, ord, model, text_hash, embedding)"
                " FROM STDIN"
            ) as copy:
                for (fid, ord_, _, h), vec in zip(part, vectors, strict=True):
                    copy.write_row((fid, ord_, embedder.model_id, h, vec))
        if progress:
            progress("embed", min(start + chunk, len(todo)), len(todo))
    return len(todo)


def _previous_themes(conn):
    rows = conn.execute(
        "SELECT theme_id, centroid FROM trendmine.themes WHERE status = 'active' "
        "AND centroid IS NOT NULL ORDER BY theme_id"
    ).fetchall()
    members: dict[int, set] = {r[0]: set() for r in rows}
    for fid, ord_, tid in conn.execute(
        "SELECT feedback_id, ord, theme_id FROM trendmine.feedback_theme"
    ):
        if tid in members:
            members[tid].add((fid, ord_))
    ids = [r[0] for r in rows]
    cents = np.array([r[1].to_numpy().astype(np.float32) for r in rows]) if rows else None
    return ids, cents, [members[i] for i in ids]


def mine(
    settings: Settings,
    *,
    run_id: int | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict:
    """Embed what is new, cluster the window, match to existing themes, write it all."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=settings.window_days)
    conn = connect(settings, autocommit=True)
    register_vector(conn)
    try:
        latest = conn.execute("SELECT max(created_at) FROM trendmine.feedback").fetchone()[0]
        if latest is not None and latest < since:  # old data: anchor the window on it
            since = latest - timedelta(days=settings.window_days)
        split = sync_snippets(conn, since)
        embedder = Embedder(model=settings.embedding_model, batch_size=settings.embed_batch_size)
        embedded = embed_missing(conn, embedder, progress)
        rows = conn.execute(
            """SELECT s.feedback_id, s.ord, s.text, e.embedding, f.account_id, f.created_at
               FROM trendmine.feedback_snippet s
               JOIN trendmine.feedback_embedding e ON e.feedback_id = s.feedback_id
                    AND e.ord = s.ord AND e.model = %s AND e.text_hash = s.text_hash
               JOIN trendmine.feedback f ON f.feedback_id = s.feedback_id
               WHERE f.created_at >= %s ORDER BY s.feedback_id, s.ord""",
            (embedder.model_id, since),
        ).fetchall()
        if len(rows) < 10:
            return {"split": split, "embedded": embedded, "snippets": len(rows), "themes": 0}
        if progress:
            progress("cluster", 0, len(rows))
        X = np.array([r[3].to_numpy().astype(np.float32) for r in rows])
        texts = [r[2] for r in rows]
        groups = [r[4] or f"unknown:{r[0]}" for r in rows]
        model = ThemeModel(random_state=settings.random_state).fit(X, texts=texts, groups=groups)
        keys = [(r[0], r[1]) for r in rows]
        new_members = [
            {keys[i] for i in np.flatnonzero(model.labels_ == cid)} for cid in model.cluster_ids_
        ]
        prev_ids, prev_cents, prev_members = _previous_themes(conn)
        match = match_themes(
            prev_ids,
            prev_cents if prev_ids else np.zeros((0, X.shape[1])),
            prev_members,
            model.centroids_,
            new_members,
        )
        counts = _write_themes(conn, model, rows, match, embedder.model_id, run_id)
        counts.update(
            split=split,
            embedded=embedded,
            snippets=len(rows),
            noise_share=round(model.noise_share_, 4),
        )
        return counts
    finally:
        conn.close()


def _write_themes(conn, model: ThemeModel, rows, match, model_id: str, run_id) -> dict:
    with conn.transaction():
        theme_of: dict[int, int] = {}
        for j, cid in enumerate(model.cluster_ids_):
            cid = int(cid)
            tid = match.assigned[j]
            if tid is None:
                tid = conn.execute(
                    "INSERT INTO trendmine.themes (label, model) VALUES ('', %s) "
                    "RETURNING theme_id",
                    (model_id,),
                ).fetchone()[0]
            theme_of[cid] = tid
            idx = np.flatnonzero(model.labels_ == cid)
            quotes = [
                {"feedback_id": rows[i][0], "account_id": rows[i][4], "text": rows[i][2]}
                for i in model.quotes_.get(cid, [])
            ]
            conn.execute(
                """UPDATE trendmine.themes SET label = %s, keywords = %s, quotes = %s, size = %s,
                   n_feedback = %s, n_accounts = %s, first_seen = %s, last_seen = %s,
                   status = 'active', merged_into = NULL, centroid = %s, model = %s,
                   updated_at = now() WHERE theme_id = %s""",
                (
                    model.labels_text_.get(cid, f"theme {tid}"),
                    model.keywords_.get(cid, []),
                    Jsonb(quotes),
                    len(idx),
                    len({rows[i][0] for i in idx}),
                    len({rows[i][4] for i in idx if rows[i][4]}),
                    min(rows[i][5] for i in idx),
                    max(rows[i][5] for i in idx),
                    model.centroids_[j],
                    model_id,
                    tid,
                ),
            )
        for old, new in match.merged.items():
            conn.execute(
                "UPDATE trendmine.themes SET status = 'merged', merged_into = %s "
                "WHERE theme_id = %s",
                (new, old),
            )
        for old in match.retired:
            conn.execute(
                "UPDATE trendmine.themes SET status = 'retired' WHERE theme_id = %s", (old,)
            )
        cluster_ids = list(model.cluster_ids_)
        for ev in match.events:
            tid = theme_of[int(cluster_ids[ev.theme])] if ev.event == "birth" else ev.theme
            conn.execute(
                """INSERT INTO trendmine.theme_lineage
                   (run_id, event, theme_id, related_theme_ids, similarity, overlap)
                   VALUES (%s, %s, %s, %s, %s, %s)""",
                (
                    run_id,
                    ev.event,
                    tid,
                    list(ev.related),
                    float(ev.similarity),
                    float(getattr(ev, "overlap", 0.0)),
                ),
            )
        conn.execute("DELETE FROM trendmine.feedback_theme")
        with conn.cursor().copy(
            "COPY trendmine.feedback_theme (feedback_id, ord, theme_id, similarity, method, "
            "run_id) FROM STDIN"
        ) as copy:
            for i, lab in enumerate(model.labels_):
                if lab >= 0:
                    copy.write_row(
                        (
                            rows[i][0],
                            rows[i][1],
                            theme_of[int(lab)],
                            float(model.similarity_[i]),
                            str(model.method_[i]),
                            run_id,
                        )
                    )
    return {
        "themes": len(theme_of),
        "births": len(match.births),
        "retired": len(match.retired),
        "merged": len(match.merged),
    }

"""Mining against the database: snippets -> embeddings -> themes, with stable theme ids.

The computation lives in `mining/` (pure); this module only reads rows, calls it, and
writes the results back in one transaction.

Two ways to assign snippets (`mode`):
- *full*: cluster the whole analysis window, match the clusters to the existing themes
  (stable ids, lineage), rewrite every assignment (method 'cluster' / 'outlier');
- *incremental*: attach the snippets that arrived since the last full run to the nearest
  existing theme when the cosine to its centroid reaches `assign_threshold` (method
  'incremental'); the rest stay unassigned, in the *pool*, until a full run can find the
  new theme they form (that is how an emerging theme gets its own id).
`auto` (the default) runs a full re-clustering when there are no themes yet, when the
themes come from another embedding model, when the pool has grown past
`recluster_pool_share` of the window or `recluster_pool_size` snippets, or when the last
full run is older than `recluster_max_age_hours`; otherwise incremental.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import numpy as np
from pgvector.psycopg import register_vector
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foundation.config import MINE_MODES, Settings
from foundation.db import connect
from mining import (
    Embedder,
    IdentityReducer,
    MatchResult,
    PCAReducer,
    PhraseLabeller,
    SimilarLeafMerger,
    ThemeModel,
    UMAPReducer,
    assign_incremental,
    count_alike,
    fold_splits,
    match_themes,
    split_snippets,
    text_hash,
)
from mining.chatter import (
    BoilerplateDetector,
    chatter_parents,
    chatter_themes,
    separate_chatter,
)
from mining.cluster import WardClusterer, auto_min_cluster_size
from mining.contracts import TextEncoder
from mining.hierarchy import AgglomerativeGrouper
from mining.reduce import Layout
from schemas.names import LAYOUT_TABLE
from warehouse import curation, taxonomy
from warehouse.phrase_cache import StoredPhraseEncoder, phrase_encoder_for
from warehouse.vectors import RawVectorLoader, decode_vectors

Progress = Callable[[str, int, int], None]
# full-run assignments; 'incremental' rows come from attach runs in between
_FULL_METHODS = ["cluster", "outlier"]


def _noop(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class WindowRow:
    """One embedded snippet of the analysis window."""

    feedback_id: int
    ord: int
    text: str
    embedding: Any  # raw pgvector bytes; None once `_window` has decoded them into the matrix
    account_id: str | None
    created_at: datetime
    embedded_at: datetime

    @property
    def key(self) -> tuple[int, int]:
        return (self.feedback_id, self.ord)


def theme_model(settings: Settings, encoder: TextEncoder | None = None,
                layout: Layout | None = None) -> ThemeModel:
    """The ThemeModel the settings describe (reducer, leaf size, merging, parents); the
    encoder, when given, ranks the label phrases; a UMAP layout, when given, is reused."""
    rs = settings.random_state
    reducer = {"umap": lambda: UMAPReducer(random_state=rs, warm_start=layout),
               "pca": lambda: PCAReducer(random_state=rs),
               "none": IdentityReducer}[settings.reducer]()
    merger = (SimilarLeafMerger(min_similarity=settings.leaf_merge_similarity)
              if settings.leaf_merge_similarity > 0 else False)
    return ThemeModel(
        reducer=reducer,
        clusterer=WardClusterer(min_cluster_size=settings.min_cluster_size, random_state=rs),
        labeller=PhraseLabeller(encoder=encoder),
        merger=merger,
        grouper=AgglomerativeGrouper(n_parents=settings.n_parents),
        outlier_threshold=settings.outlier_threshold,
        random_state=rs,
    )


def sync_snippets(conn, since: datetime, progress: Progress | None = None) -> int:
    """(Re)split records whose snippets are missing or stale; returns records split."""
    tick = progress or _noop
    rows = conn.execute(
        """SELECT f.feedback_id, f.text FROM trendmine.feedback f
           WHERE f.created_at >= %s AND NOT EXISTS (
               SELECT 1 FROM trendmine.feedback_snippet s
               WHERE s.feedback_id = f.feedback_id AND s.ord = 0
                 AND f.last_ingested_at <= (SELECT max(e.embedded_at) FROM
                     trendmine.feedback_embedding e WHERE e.feedback_id = f.feedback_id))""",
        (since,),
    ).fetchall()
    tick("split", 0, len(rows))
    if not rows:
        return 0
    with conn.transaction():
        ids = [r[0] for r in rows]
        conn.execute("DELETE FROM trendmine.feedback_snippet WHERE feedback_id = ANY(%s)", (ids,))
        with conn.cursor().copy(
            "COPY trendmine.feedback_snippet (feedback_id, ord, text, text_hash) FROM STDIN"
        ) as copy:
            for n, (fid, text) in enumerate(rows, start=1):
                for i, snip in enumerate(split_snippets(text)):
                    copy.write_row((fid, i, snip, text_hash(snip)))
                if n % 2000 == 0:
                    tick("split", n, len(rows))
    tick("split", len(rows), len(rows))
    return len(rows)


@dataclass
class EmbedTodo:
    """A snippet whose embedding for this model and text is missing (or stale)."""

    feedback_id: int
    ord: int
    text: str
    text_hash: str


def missing_embeddings(conn, model_id: str) -> list[EmbedTodo]:
    """Snippets with no embedding for this model and their current text."""
    with conn.cursor(row_factory=class_row(EmbedTodo)) as cur:
        return cur.execute(
            """SELECT s.feedback_id, s.ord, s.text, s.text_hash
               FROM trendmine.feedback_snippet s
               LEFT JOIN trendmine.feedback_embedding e ON e.feedback_id = s.feedback_id
                    AND e.ord = s.ord AND e.model = %s AND e.text_hash = s.text_hash
               WHERE e.feedback_id IS NULL ORDER BY s.text_hash""",
            (model_id,),
        ).fetchall()


def distinct_texts(todo: list[EmbedTodo]) -> tuple[list[str], np.ndarray]:
    """One text per text hash (what is encoded) and, per snippet, the index of its text
    (how the vectors fan back out): a text said twice is embedded once."""
    first: dict[str, int] = {}
    texts: list[str] = []
    index = np.empty(len(todo), dtype=np.int64)
    for i, r in enumerate(todo):
        j = first.get(r.text_hash)
        if j is None:
            j = first[r.text_hash] = len(texts)
            texts.append(r.text)
        index[i] = j
    return texts, index


def write_embeddings(conn, model_id: str, todo: list[EmbedTodo], vectors: np.ndarray) -> None:
    """Store one vector per snippet (replacing a stale one), in one transaction."""
    with conn.transaction():
        conn.execute(  # a stale embedding of an edited snippet is replaced
            "DELETE FROM trendmine.feedback_embedding WHERE (feedback_id, ord, model) IN "
            "(SELECT unnest(%s::bigint[]), unnest(%s::int[]), %s)",
            ([r.feedback_id for r in todo], [r.ord for r in todo], model_id),
        )
        with conn.cursor().copy(
            "COPY trendmine.feedback_embedding (feedback_id, ord, model, text_hash, embedding)"
            " FROM STDIN"
        ) as copy:
            for r, vec in zip(todo, vectors, strict=True):
                copy.write_row((r.feedback_id, r.ord, model_id, r.text_hash, vec))


def embed_missing(conn, embedder: Embedder, progress: Progress | None = None,
                  chunk: int = 2048) -> int:
    """Embed snippets with no embedding for this model and text; returns how many.

    Each distinct text is encoded once (rows come ordered by text hash, so a chunk holds
    every copy of its texts), then its vector is written for every snippet that says it."""
    todo = missing_embeddings(conn, embedder.model_id)
    tick = progress or _noop
    tick("embed", 0, len(todo))
    start = 0
    while start < len(todo):
        end = min(start + chunk, len(todo))
        while end < len(todo) and todo[end].text_hash == todo[end - 1].text_hash:
            end += 1  # keep a hash's copies in one chunk
        part = todo[start:end]
        texts, index = distinct_texts(part)
        write_embeddings(conn, embedder.model_id, part, embedder.encode(texts)[index])
        start = end
        tick("embed", start, len(todo))
    return len(todo)


def _previous_themes(conn):
    rows = conn.execute(
        "SELECT theme_id, centroid FROM trendmine.themes WHERE status = 'active' "
        "AND level = 'leaf' AND centroid IS NOT NULL ORDER BY theme_id"
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


_WINDOW_ROWS = """
SELECT s.feedback_id, s.ord, s.text, e.embedding, f.account_id, f.created_at, e.embedded_at
FROM trendmine.feedback_snippet s
JOIN trendmine.feedback_embedding e ON e.feedback_id = s.feedback_id
     AND e.ord = s.ord AND e.model = %(model)s AND e.text_hash = s.text_hash
JOIN trendmine.feedback f ON f.feedback_id = s.feedback_id
WHERE f.created_at >= %(since)s {extra}
"""
# Not assigned, and embedded after the last full run: what incremental mode may attach.
_PENDING = """AND NOT EXISTS (SELECT 1 FROM trendmine.feedback_theme ft
                  WHERE ft.feedback_id = s.feedback_id AND ft.ord = s.ord)
     AND (%(last_full)s::timestamptz IS NULL OR e.embedded_at > %(last_full)s::timestamptz)"""


def _window(conn, extra: str, params: dict[str, Any]) -> tuple[list[WindowRow], np.ndarray]:
    """The window's snippets and their embeddings as one float32 matrix (row i of the
    matrix = rows[i]; the rows drop their vector once it is copied).

    Read in binary, each vector kept as its raw bytes and decoded all at once
    (warehouse.vectors). Sorted here by (feedback_id, ord): an ORDER BY made Postgres sort
    the rows with their vectors (~160 MB at 100k, spilled to disk: ~0.5 s).
    """
    with conn.cursor(binary=True, row_factory=class_row(WindowRow)) as cur:
        cur.adapters.register_loader("vector", RawVectorLoader)
        rows = cur.execute(_WINDOW_ROWS.format(extra=extra), params).fetchall()
    rows.sort(key=attrgetter("feedback_id", "ord"))
    X = decode_vectors([r.embedding for r in rows])
    for r in rows:
        r.embedding = None
    return rows, X


def _state(conn, model_id: str, since: datetime) -> dict[str, Any]:
    """What the mode decision needs: themes of this model, the last full run, window size."""
    themes = conn.execute(
        "SELECT count(*) FILTER (WHERE model = %s), count(*) FROM trendmine.themes "
        "WHERE status = 'active' AND level = 'leaf' AND centroid IS NOT NULL",
        (model_id,),
    ).fetchone()
    last_full, age_h = conn.execute(
        "SELECT max(assigned_at), extract(epoch FROM now() - max(assigned_at)) / 3600 "
        "FROM trendmine.feedback_theme WHERE method = ANY(%s)",
        (_FULL_METHODS,),
    ).fetchone()
    window = conn.execute(
        "SELECT count(*) FROM trendmine.feedback_snippet s JOIN trendmine.feedback f "
        "USING (feedback_id) WHERE f.created_at >= %s",
        (since,),
    ).fetchone()[0]
    return {"themes": themes[0], "other_model_themes": themes[1] - themes[0],
            "last_full": last_full, "age_hours": float(age_h) if age_h is not None else None,
            "window": window, "taxonomy_changed": taxonomy.changed_since(conn, last_full)}


def _needs_full(settings: Settings, requested: str, state: dict[str, Any]) -> str | None:
    """Why a full re-clustering must run before anything else, or None."""
    if requested == "full":
        return "requested"
    if state["themes"] == 0:
        return "themes from another embedding model" if state["other_model_themes"] else (
            "no themes yet")
    if state["last_full"] is None:
        return "no full run yet"
    if requested == "auto" and state["taxonomy_changed"]:  # seeds apply on full runs
        return "the taxonomy changed since the last full run"
    if requested == "auto" and settings.recluster_max_age_hours and (
        state["age_hours"] >= settings.recluster_max_age_hours
    ):
        return f"last full run {state['age_hours']:.0f} h ago"
    return None


def _pool_too_big(settings: Settings, pool: int, window: int) -> str | None:
    if pool >= settings.recluster_pool_size:
        return f"{pool} unassigned snippets >= {settings.recluster_pool_size}"
    if window and pool / window >= settings.recluster_pool_share:
        return f"{pool} unassigned snippets = {pool / window:.1%} of the window"
    return None


def embedder_for(settings: Settings, threads: int | None = None) -> Embedder:
    """The Embedder the settings describe (model, batch size, device)."""
    return Embedder(model=settings.embedding_model, batch_size=settings.embed_batch_size,
                    device=settings.embedding_device, threads=threads)


def window_start(conn, settings: Settings, now: datetime | None = None) -> datetime:
    """Start of the analysis window: `window_days` before now, or before the newest record
    when all the data is older (a world loaded from the past)."""
    since = (now or datetime.now(UTC)) - timedelta(days=settings.window_days)
    latest = conn.execute("SELECT max(created_at) FROM trendmine.feedback").fetchone()[0]
    if latest is not None and latest < since:  # old data: anchor the window on it
        since = latest - timedelta(days=settings.window_days)
    return since


def pending_embeddings(settings: Settings) -> list[EmbedTodo]:
    """Split what is new into snippets, then list the snippets still to embed (for an
    embedding stage run outside `mine`, e.g. on a Dask cluster)."""
    with connect(settings, autocommit=True) as conn:
        sync_snippets(conn, window_start(conn, settings))
        return missing_embeddings(conn, embedder_for(settings).model_id)


def store_embeddings(settings: Settings, todo: list[EmbedTodo], vectors: np.ndarray) -> int:
    """Write the vectors of `pending_embeddings`' snippets; returns how many."""
    with connect(settings, autocommit=True) as conn:
        register_vector(conn)
        write_embeddings(conn, embedder_for(settings).model_id, todo, vectors)
    return len(todo)


def mine(
    settings: Settings,
    *,
    run_id: int | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    mode: str | None = None,
) -> dict:
    """Embed what is new, then assign snippets to themes (full or incremental, see module doc).

    Returns counts: split, embedded, snippets, themes, births, retired, merged, noise_share
    (full runs), plus mode, mode_reason, assigned, unassigned (the pool), seconds and
    stage_seconds.
    """
    requested = mode or settings.mine_mode
    if requested not in MINE_MODES:
        raise ValueError(f"mode: expected one of {MINE_MODES}, got {requested!r}")
    t_start = time.perf_counter()
    stage_t: dict[str, float] = {}
    started: dict[str, float] = {}

    def tick(stage: str, done: int, total: int) -> None:
        now_t = time.perf_counter()
        started.setdefault(stage, now_t)
        if done >= total:
            stage_t[stage] = round(now_t - started[stage], 3)
        if progress:
            progress(stage, done, total)

    conn = connect(settings, autocommit=True)
    register_vector(conn)
    try:
        since = window_start(conn, settings, now)
        split = sync_snippets(conn, since, tick)
        embedder = embedder_for(settings)
        embedded = embed_missing(conn, embedder, tick)
        state = _state(conn, embedder.model_id, since)
        reason = _needs_full(settings, requested, state)
        counts: dict[str, Any] | None = None
        if reason is None:
            counts, reason = _incremental(
                conn, settings, embedder.model_id, since, state, requested, run_id, tick
            )
        if counts is None:
            counts = _full(conn, settings, embedder, since, run_id, tick)
            counts["mode"] = "full"
        counts.update(split=split, embedded=embedded, mode_reason=reason,
                      seconds=round(time.perf_counter() - t_start, 2), stage_seconds=stage_t)
        return counts
    finally:
        conn.close()


def _incremental(conn, settings: Settings, model_id: str, since: datetime,
                 state: dict[str, Any], requested: str, run_id: int | None,
                 tick: Progress) -> tuple[dict[str, Any] | None, str]:
    """Attach pending snippets to the nearest theme; None when a full run must run instead."""
    rows, X = _window(conn, _PENDING,
                      {"model": model_id, "since": since, "last_full": state["last_full"]})
    targets = _attach_targets(conn, model_id)
    tick("assign", 0, len(rows))
    ids = [t.theme_id for t in targets]
    C = np.array([t.centroid.to_numpy() for t in targets], dtype=np.float32)
    assigned, sim = (
        assign_incremental(X, C, list(range(len(ids))), threshold=settings.assign_threshold)
        if rows else (np.zeros(0, np.int64), np.zeros(0, np.float32))
    )
    # a snippet nearest a merged-away theme lands in the theme that absorbed it
    assigned = np.array([targets[a].lands_in if a >= 0 else -1 for a in assigned.tolist()],
                        dtype=np.int64)
    tick("assign", len(rows), len(rows))
    pool = int((assigned < 0).sum())
    if requested == "auto":
        too_big = _pool_too_big(settings, pool, state["window"])
        if too_big:
            return None, too_big
    attached = np.flatnonzero(assigned >= 0)
    tick("write", 0, len(attached))
    with conn.transaction():
        with conn.cursor().copy(
            "COPY trendmine.feedback_theme (feedback_id, ord, theme_id, similarity, method, "
            "run_id) FROM STDIN"
        ) as copy:
            for i in attached:
                copy.write_row((rows[i].feedback_id, rows[i].ord, int(assigned[i]),
                                float(sim[i]), "incremental", run_id))
        touched = sorted({int(t) for t in assigned[attached]})
        curation.refresh_counts(conn, touched)
        curation.recheck_parents(conn, curation.parent_ids(conn, touched))
    tick("write", len(attached), len(attached))
    reason = "requested" if requested == "incremental" else (
        f"{pool} unassigned snippets, below the re-clustering thresholds")
    return {"mode": "incremental", "snippets": len(rows),
            "themes": len({t.lands_in for t in targets}), "births": 0,
            "retired": 0, "merged": 0, "assigned": len(attached), "unassigned": pool,
            "themes_touched": len(touched)}, reason


@dataclass
class AttachTarget:
    """A leaf an incremental run may attach to: an active leaf, or a leaf merged away
    (by hand or by a full run) whose snippets land in the active leaf that absorbed it."""

    theme_id: int
    centroid: Any  # pgvector Vector
    lands_in: int


def _attach_targets(conn, model_id: str) -> list[AttachTarget]:
    """Active leaves of this model, plus merged-away leaves resolved along `merged_into`
    to their active survivor, so a merge (a curation decision included) stays merged when
    new data arrives. Hidden leaves stay targets (hidden, not gone); retired ones (a split
    theme included: its sub-themes are active) are not."""
    with conn.cursor(row_factory=class_row(AttachTarget)) as cur:
        return cur.execute(
            """WITH RECURSIVE chain AS (
                   SELECT theme_id, theme_id AS lands_in, status, 0 AS depth
                   FROM trendmine.themes WHERE level = 'leaf'
                   UNION ALL
                   SELECT c.theme_id, t.merged_into, n.status, c.depth + 1
                   FROM chain c JOIN trendmine.themes t ON t.theme_id = c.lands_in
                   JOIN trendmine.themes n ON n.theme_id = t.merged_into
                   WHERE c.status = 'merged' AND c.depth < 20)
               SELECT t.theme_id, t.centroid, c.lands_in
               FROM chain c JOIN trendmine.themes t ON t.theme_id = c.theme_id
               JOIN trendmine.themes s ON s.theme_id = c.lands_in
               WHERE c.status = 'active' AND s.level = 'leaf' AND t.centroid IS NOT NULL
                 AND t.model = %s AND (t.status = 'active' OR t.status = 'merged')
               ORDER BY t.theme_id""", (model_id,)).fetchall()


def _match(model: ThemeModel, keys: list, prev_ids, prev_cents, prev_members) -> MatchResult:
    labels = model.labels_
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], model.cluster_ids_)
    ends = np.searchsorted(labels[order], model.cluster_ids_, side="right")
    new_members = [{keys[i] for i in order[a:b]} for a, b in zip(bounds, ends, strict=True)]
    return match_themes(
        prev_ids,
        prev_cents if prev_ids else np.zeros((0, model.centroids_.shape[1])),
        prev_members,
        model.centroids_,
        new_members,
    )


def _full(conn, settings: Settings, embedder: Embedder, since: datetime, run_id: int | None,
          tick: Progress) -> dict[str, Any]:
    """Cluster the whole window, match to the previous themes, rewrite assignments."""
    model_id = embedder.model_id
    rows, X = _window(conn, "", {"model": model_id, "since": since})
    if len(rows) < 10:
        return {"snippets": len(rows), "themes": 0, "births": 0, "retired": 0, "merged": 0,
                "assigned": 0, "unassigned": len(rows)}
    texts = [r.text for r in rows]
    groups = [r.account_id or f"unknown:{r.feedback_id}" for r in rows]
    prev_ids, prev_cents, prev_members = _previous_themes(conn)
    layout, layout_note = stored_layout(conn, settings, model_id, rows, X, prev_cents)
    # Leaf merging reads the texts; the labels wait until the clusters are matched.
    phrases = StoredPhraseEncoder(conn, model_id, phrase_encoder_for(settings, embedder))
    model = theme_model(settings, phrases, layout).fit(X, texts=texts, progress=tick,
                                                        label=False)
    tick("match", 0, 1)
    keys = [r.key for r in rows]
    match = _match(model, keys, prev_ids, prev_cents, prev_members)
    folds = fold_splits(match, model.centroids_)
    if folds:  # keep a previous theme whole rather than cut it differently (stable ids)
        ids = model.cluster_ids_
        model.merge_clusters({int(ids[j]): int(ids[k]) for j, k in folds.items()})
        match = _match(model, keys, prev_ids, prev_cents, prev_members)
    match = _replay_decisions(conn, model, keys, match, (prev_ids, prev_cents, prev_members))
    seeding = taxonomy.force_seeds(conn, model, phrases)
    if seeding is not None:  # the PM's seeds: their records, their theme ids
        match = seeding.pin(model.cluster_ids_, _match(
            model, keys, *seeding.previous(prev_ids, prev_cents, prev_members)))
    tick("match", 1, 1)
    # Boilerplate sentences (found in the data) stay out of the labels; themes made of
    # nothing else are chatter: kept, but hidden from the trend lists.
    detector = BoilerplateDetector().fit(texts, model.parent_labels(),
                                         [r.feedback_id for r in rows])
    chatter = chatter_themes(model.labels_, detector.chatter_, texts=detector.stripped_)
    is_chatter = np.isin(model.cluster_ids_, list(chatter))
    model.group_parents(separate_chatter(model.parent_of_, is_chatter))
    quiet = chatter_parents(model.parent_of_, model.sizes_, is_chatter)
    model.label(detector.stripped_, groups, progress=tick)
    tick("write", 0, model.n_themes_)
    with conn.transaction():
        theme_of = _upsert_themes(conn, model, rows, match, model_id, chatter)
        _retire_and_merge(conn, match)
        _write_lineage(conn, match, model.cluster_ids_, theme_of, run_id)
        _write_assignments(conn, model, rows, theme_of, run_id)
        parents = _write_parents(conn, model, rows, theme_of, model_id, run_id, quiet)
        taxonomy.apply_seeds(conn, seeding)
        curation.apply_decisions(conn)
        # hidden leaves (decisions) count like chatter ones: a parent made of them is quiet
        curation.recheck_parents(conn)
        layout_note = _keep_layout(conn, model_id, model.reducer_, rows, layout_note)
    tick("write", model.n_themes_, model.n_themes_)
    assigned = int((model.labels_ >= 0).sum())
    return {"themes": len(theme_of), "parents": parents, "births": len(match.births),
            "layout": layout_note,
            "retired": len(match.retired), "merged": len(match.merged),
            "snippets": len(rows), "noise_share": round(model.noise_share_, 4),
            "chatter_themes": len(chatter), "chatter_parents": len(quiet),
            "chatter_snippets": int(np.isin(model.labels_, list(chatter)).sum()),
            "label_phrases_embedded": phrases.encoded_,
            "assigned": assigned, "unassigned": len(rows) - assigned}


@dataclass
class StoredLayout:
    """A row of the layout table (V012)."""

    fitted_at: datetime
    covers_until: datetime | None
    age_hours: float
    n_sample: int
    dim: int
    n_components: int
    params: dict
    sample_vectors: bytes
    sample_coords: bytes
    item_keys: bytes | None
    item_coords: bytes | None

    def layout(self) -> Layout:
        c = self.n_components
        return Layout(
            np.frombuffer(self.sample_vectors, "<f4").reshape(self.n_sample, self.dim),
            np.frombuffer(self.sample_coords, "<f4").reshape(self.n_sample, c),
            None if self.item_keys is None else np.frombuffer(self.item_keys, "<u8"),
            None if self.item_coords is None else np.frombuffer(self.item_coords,
                                                                "<f4").reshape(-1, c))


def _layout_params(reducer: UMAPReducer) -> dict[str, Any]:
    """The reducer settings a stored layout depends on."""
    return {k: getattr(reducer, k) for k in ("n_components", "n_neighbors", "min_dist",
                                             "metric", "init", "max_fit_samples",
                                             "random_state")}


def stored_layout(conn, settings: Settings, model_id: str, rows: list[WindowRow],
                  X: np.ndarray, prev_cents: np.ndarray | None) -> tuple[Layout | None, str]:
    """The last fitted UMAP layout when this full run may reuse it, and why (or why not).

    Reused while the snippets new to it (embedded after the run that fitted it) are under
    `layout_max_new_share` of the window, and fewer than a theme's worth (the smallest theme
    size) of those that fit no existing theme (cosine to every leaf centroid under
    `assign_threshold`) are alike (each with min(theme, 10) - 1 others that close): those
    could be a new topic, which needs a layout of its own; scattered noise does not count.
    Too old or fitted with other settings: refitted too."""
    if settings.reducer != "umap":
        return None, f"no layout: reducer {settings.reducer}"
    if not settings.layout_reuse:
        return None, "fitted: reuse off (layout_reuse)"
    with conn.cursor(row_factory=class_row(StoredLayout)) as cur:
        stored = cur.execute(
            f"SELECT fitted_at, covers_until, "
            f"extract(epoch FROM now() - fitted_at)::float8 / 3600 AS age_hours, n_sample, "
            f"dim, n_components, params, sample_vectors, sample_coords, item_keys, "
            f"item_coords FROM {LAYOUT_TABLE} "
            "WHERE model = %s", (model_id,)).fetchone()
    if stored is None:
        return None, "fitted: no stored layout"
    if stored.params != _layout_params(UMAPReducer(random_state=settings.random_state)):
        return None, "fitted: reducer settings changed"
    if settings.layout_max_age_hours and stored.age_hours >= settings.layout_max_age_hours:
        return None, f"fitted: the stored layout is {stored.age_hours:.0f} h old"
    new = np.array([stored.covers_until is None or r.embedded_at > stored.covers_until
                    for r in rows], dtype=bool)
    if new.sum() > settings.layout_max_new_share * len(rows):
        return None, f"fitted: {int(new.sum())} of {len(rows)} snippets are new to the layout"
    if new.any():
        if prev_cents is None or prev_cents.shape[1] != X.shape[1]:
            return None, "fitted: no themes of this model to check the new snippets against"
        Xn = X[new]
        unfit = Xn[(Xn @ prev_cents.T).max(axis=1) < settings.assign_threshold]
        theme = settings.min_cluster_size or auto_min_cluster_size(len(rows))
        alike = count_alike(unfit, settings.assign_threshold, min(theme, 10) - 1)
        if alike >= theme:
            return None, (f"fitted: {alike} of the {len(unfit)} new snippets that fit no "
                          f"theme are alike (a theme takes {theme})")
    return stored.layout(), f"reused ({int(new.sum())} snippets new to it)"


def _keep_layout(conn, model_id: str, reducer: Any, rows: list[WindowRow], note: str) -> str:
    """Store the layout this run fitted, or, when it reused one, where it put each item
    (so the next run places only what is new); returns the note."""
    if not isinstance(reducer, UMAPReducer) or not hasattr(reducer, "refitted_"):
        return note
    L = reducer.layout_
    items = (np.ascontiguousarray(L.item_keys, "<u8").tobytes(),
             np.ascontiguousarray(L.item_Y, "<f4").tobytes())
    if not reducer.refitted_:  # the sample is unchanged: rewrite the item positions only
        conn.execute(f"UPDATE {LAYOUT_TABLE} SET item_keys = %s, item_coords = %s "
                     "WHERE model = %s", (*items, model_id))
        return note
    conn.execute(
        f"INSERT INTO {LAYOUT_TABLE} (model, covers_until, n_items, n_sample, dim, "
        "n_components, params, sample_vectors, sample_coords, item_keys, item_coords) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (model) DO UPDATE SET "
        "fitted_at = now(), covers_until = EXCLUDED.covers_until, "
        "n_items = EXCLUDED.n_items, n_sample = EXCLUDED.n_sample, dim = EXCLUDED.dim, "
        "n_components = EXCLUDED.n_components, params = EXCLUDED.params, "
        "sample_vectors = EXCLUDED.sample_vectors, sample_coords = EXCLUDED.sample_coords, "
        "item_keys = EXCLUDED.item_keys, item_coords = EXCLUDED.item_coords",
        (model_id, max(r.embedded_at for r in rows), len(rows), L.sample_X.shape[0],
         L.sample_X.shape[1], L.sample_Y.shape[1], Jsonb(_layout_params(reducer)),
         np.ascontiguousarray(L.sample_X, "<f4").tobytes(),
         np.ascontiguousarray(L.sample_Y, "<f4").tobytes(), *items))
    if reducer.refit_reason_:
        return f"fitted: {reducer.refit_reason_}"
    return note


@dataclass
class ThemeStats:
    """What a theme row records about its members."""

    size: int
    n_feedback: int
    n_accounts: int
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(cls, members: list[WindowRow]) -> ThemeStats:
        return cls(size=len(members), n_feedback=len({r.feedback_id for r in members}),
                   n_accounts=len({r.account_id for r in members if r.account_id}),
                   first_seen=min(r.created_at for r in members),
                   last_seen=max(r.created_at for r in members))


def _quotes(rows: list[WindowRow], picks: list[int]) -> Jsonb:
    return Jsonb([{"feedback_id": rows[i].feedback_id, "account_id": rows[i].account_id,
                   "text": rows[i].text} for i in picks])


def _phrases(labeller: Any, cid: int) -> list[str]:
    return list(getattr(labeller, "phrases_", {}).get(cid, []))


def _new_theme(conn, model_id: str, level: str = "leaf") -> int:
    return conn.execute(
        "INSERT INTO trendmine.themes (label, model, level) VALUES ('', %s, %s) "
        "RETURNING theme_id",
        (model_id, level),
    ).fetchone()[0]


def _upsert_themes(conn, model: ThemeModel, rows: list[WindowRow], match: MatchResult,
                   model_id: str, chatter: set[int]) -> dict[int, int]:
    """Insert born themes, update every matched one; returns {cluster id: theme id}."""
    theme_of: dict[int, int] = {}
    for j, cid in enumerate(model.cluster_ids_.tolist()):
        tid = match.assigned[j]
        if tid is None:
            tid = _new_theme(conn, model_id)
        theme_of[cid] = tid
        stats = ThemeStats.of([rows[i] for i in np.flatnonzero(model.labels_ == cid)])
        conn.execute(
            """UPDATE trendmine.themes SET label = %s, keywords = %s, quotes = %s, size = %s,
               n_feedback = %s, n_accounts = %s, first_seen = %s, last_seen = %s,
               status = 'active', merged_into = NULL, centroid = %s, model = %s,
               phrases = %s, updated_at = now(), visibility = CASE
                   WHEN visibility = 'hidden' THEN 'hidden' ELSE %s END
               WHERE theme_id = %s""",
            (model.labels_text_.get(cid, f"theme {tid}"), model.keywords_.get(cid, []),
             _quotes(rows, model.quotes_.get(cid, [])), stats.size, stats.n_feedback,
             stats.n_accounts, stats.first_seen, stats.last_seen, model.centroids_[j],
             model_id, _phrases(model.labeller_, cid),
             "chatter" if cid in chatter else "shown", tid),
        )
    return theme_of


def _retire_and_merge(conn, match: MatchResult) -> None:
    for old, new in match.merged.items():
        conn.execute("UPDATE trendmine.themes SET status = 'merged', merged_into = %s "
                     "WHERE theme_id = %s", (new, old))
    for old in match.retired:
        conn.execute("UPDATE trendmine.themes SET status = 'retired' WHERE theme_id = %s", (old,))


def _write_lineage(conn, match: MatchResult, cluster_ids: np.ndarray,
                   theme_of: dict[int, int], run_id: int | None) -> None:
    """One theme_lineage row per event; a birth gets the id allocated for its cluster."""
    ids = cluster_ids.tolist()
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO trendmine.theme_lineage
               (run_id, event, theme_id, related_theme_ids, similarity, overlap)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            [(run_id, ev.event,
              theme_of[ids[ev.new_index]] if ev.theme_id is None else ev.theme_id,
              list(ev.related_theme_ids), ev.similarity, ev.overlap) for ev in match.events],
        )


def _write_assignments(conn, model: ThemeModel, rows: list[WindowRow],
                       theme_of: dict[int, int], run_id: int | None) -> None:
    """Replace every assignment with this full run's."""
    conn.execute("DELETE FROM trendmine.feedback_theme")
    with conn.cursor().copy(
        "COPY trendmine.feedback_theme (feedback_id, ord, theme_id, similarity, method, "
        "run_id) FROM STDIN"
    ) as copy:
        for i, lab in enumerate(model.labels_.tolist()):
            if lab >= 0:
                copy.write_row((rows[i].feedback_id, rows[i].ord, theme_of[lab],
                                float(model.similarity_[i]), str(model.method_[i]), run_id))


def _previous_parents(conn) -> tuple[list[int], np.ndarray | None, list[set]]:
    """Active parents: ids, centroids and their leaf theme ids (the members they match on)."""
    rows = conn.execute(
        "SELECT theme_id, centroid FROM trendmine.themes WHERE status = 'active' "
        "AND level = 'parent' AND centroid IS NOT NULL ORDER BY theme_id").fetchall()
    leaves: dict[int, set] = {r[0]: set() for r in rows}
    for tid, pid in conn.execute(
            "SELECT theme_id, parent_theme_id FROM trendmine.themes WHERE level = 'leaf' "
            "AND parent_theme_id IS NOT NULL"):
        if pid in leaves:
            leaves[pid].add(tid)
    ids = [r[0] for r in rows]
    cents = np.array([r[1].to_numpy().astype(np.float32) for r in rows]) if rows else None
    return ids, cents, [leaves[i] for i in ids]


def _write_parents(conn, model: ThemeModel, rows: list[WindowRow], theme_of: dict[int, int],
                   model_id: str, run_id: int | None, chatter: set[int] | None = None
                   ) -> int:
    """Parent themes over this run's leaves, matched to the previous parents by the leaf ids
    they hold (stable parent ids), then each leaf points at its parent. Parents in
    `chatter` (mostly chatter leaves) get visibility 'chatter', like their leaves."""
    leaf_ids = [theme_of[int(c)] for c in model.cluster_ids_]
    new_members = [{leaf_ids[j] for j in np.flatnonzero(model.parent_of_ == p)}
                   for p in model.parent_ids_]
    prev_ids, prev_cents, prev_members = _previous_parents(conn)
    match = match_themes(prev_ids,
                         prev_cents if prev_ids else np.zeros((0, model.centroids_.shape[1])),
                         prev_members, model.parent_centroids_, new_members)
    parent_labels = model.parent_labels()
    parent_of: dict[int, int] = {}
    for j, p in enumerate(model.parent_ids_.tolist()):
        pid = match.assigned[j]
        if pid is None:
            pid = _new_theme(conn, model_id, level="parent")
        parent_of[p] = pid
        stats = ThemeStats.of([rows[i] for i in np.flatnonzero(parent_labels == p)])
        labeller = getattr(model, "parent_labeller_", None)
        conn.execute(
            """UPDATE trendmine.themes SET label = %s, keywords = %s, quotes = %s, size = %s,
               n_feedback = %s, n_accounts = %s, first_seen = %s, last_seen = %s,
               status = 'active', merged_into = NULL, centroid = %s, model = %s,
               phrases = %s, parent_theme_id = NULL, updated_at = now(), visibility = %s
               WHERE theme_id = %s""",
            (getattr(model, "parent_labels_text_", {}).get(p, f"theme {pid}"),
             getattr(model, "parent_keywords_", {}).get(p, []),
             _quotes(rows, getattr(model, "parent_quotes_", {}).get(p, [])), stats.size,
             stats.n_feedback, stats.n_accounts, stats.first_seen, stats.last_seen,
             model.parent_centroids_[j], model_id, _phrases(labeller, p),
             "chatter" if p in (chatter or set()) else "shown", pid),
        )
    _retire_and_merge(conn, match)
    _write_lineage(conn, match, model.parent_ids_, parent_of, run_id)
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE trendmine.themes SET parent_theme_id = %s WHERE theme_id = %s",
            [(parent_of[int(p)], leaf_ids[j]) for j, p in enumerate(model.parent_of_.tolist())])
    return len(parent_of)


def _replay_decisions(conn, model: ThemeModel, keys: list, match: MatchResult,
                      previous: tuple) -> MatchResult:
    """Keep hand-made merges merged and splits split in this run's clusters; returns the
    match after any change. A new cluster made of (or close to) a theme merged away by hand
    folds into the survivor's cluster; a cluster that joined sub-themes of a hand-made split
    is cut again, each member going to the nearest sub-theme."""
    decisions = curation.active_decisions(conn)
    merges = [d for d in decisions if d.action == "merge"]
    splits = [d for d in decisions if d.action == "split"]
    if not merges and not splits:
        return match
    cents = curation.curated_centroids(conn, decisions)
    ids = model.cluster_ids_
    continuing = {tid: j for j, tid in enumerate(match.assigned) if tid is not None}
    folds: dict[int, int] = {}
    for d in merges:
        k = continuing.get(d.theme_id)
        if k is None:
            continue
        away = [cents[a] / np.linalg.norm(cents[a]) for a in d.related_theme_ids if a in cents]
        for j in match.births:
            close = any(float(model.centroids_[j] @ c) >= curation.MERGED_AWAY_SIMILARITY
                        for c in away)
            if match.parents.get(j) == d.theme_id or close:
                folds[j] = k
    if folds:
        model.merge_clusters({int(ids[j]): int(ids[k]) for j, k in folds.items()})
        match = _match(model, keys, *previous)
    for d in splits:
        children = [c for c in d.related_theme_ids if c in cents]
        joined = {kept for absorbed, kept in match.merged.items()
                  if absorbed in children and kept in children}
        for kept in sorted(joined):
            j = match.assigned.index(kept)
            cid = int(model.cluster_ids_[j])
            C = np.stack([cents[c] / np.linalg.norm(cents[c]) for c in children])
            members = np.flatnonzero(model.labels_ == cid)
            nearest = (model.embeddings_fit_[members] @ C.T).argmax(axis=1)
            # piece 0 is the sub-theme the cluster continues; the others are cut off
            order = [children.index(kept)] + [i for i in range(len(children))
                                              if children[i] != kept]
            model.split_cluster(cid, np.array([order.index(int(n)) for n in nearest]))
            match = _match(model, keys, *previous)
    return match

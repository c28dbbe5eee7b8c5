"""`similar`, answered by account: the stored feedback closest to a request, grouped by the
account that sent it, with totals a PM can take into a deal review.

Every stored record is searchable, whatever its age: `index_missing` strips each record's
boilerplate (mining/boilerplate.py) and stores the text, its full-text vector and embeddings
of the whole stripped text and of its snippets in trendmine.feedback_search(_embedding).

Two searches rank the records, and reciprocal rank fusion merges them:
- meaning: a record's best cosine between the request and its stored vectors;
- words: BM25 over the request's words (the rarest 64; idf from the GIN index, each word once
  per record), Postgres full text with English stemming.
What COUNTS is decided by the meaning score alone: a record is an ask when its cosine is at
or above the floor (Settings.similar_min_similarity, calibrated for precision by
bench/bench_similar_floor.py). Totals cover every record above the floor; `limit` only
bounds how many accounts are listed. Below the floor everywhere, the answer is "no close
match", with the best similarity seen, instead of unrelated neighbours.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import psycopg

from mining.boilerplate import strip_boilerplate
from mining.embed import text_hash
from mining.snippets import split_snippets
from warehouse.rows import fetch, fetch_value


@dataclass
class SimilarRecord:
    """One stored feedback record near the query (its closest snippet)."""

    feedback_id: int
    similarity: float
    source: str
    text: str
    url: str | None
    created_at: datetime
    account_id: str | None
    account_name: str | None
    segment: str
    arr: float
    open_deals: int
    open_pipeline: float
    theme_id: int | None
    theme_label: str | None
    fused: float = 0.0  # reciprocal rank fusion of the meaning and word ranks
    word_rank: int | None = None  # rank in the word search (None: not among its top)


@dataclass
class AccountMatch:
    """One account's records near the query (account_id None: records without an account)."""

    account_id: str | None
    name: str
    segment: str
    arr: float
    open_deals: int
    open_pipeline: float
    records: list[SimilarRecord] = field(default_factory=list)

    @property
    def mentions(self) -> int:
        return len(self.records)

    @property
    def first(self) -> datetime:
        return min(r.created_at for r in self.records)

    @property
    def last(self) -> datetime:
        return max(r.created_at for r in self.records)

    @property
    def best(self) -> float:
        return max(r.similarity for r in self.records)

    @property
    def fused(self) -> float:
        return max(r.fused for r in self.records)


@dataclass
class ThemeShare:
    """A theme the matching records belong to, with its own totals over all history."""

    theme_id: int
    label: str
    matches: int  # matching records in this theme
    theme_records: int
    theme_accounts: int


@dataclass
class SimilarAnswer:
    """The accounts that asked for something close (all of them), and the totals over them;
    `shown` says how many accounts a listing keeps (closest first)."""

    floor: float
    best_similarity: float | None  # over every neighbour, kept or not
    accounts: list[AccountMatch]
    shown: int | None = None
    themes: list[ThemeShare] = field(default_factory=list)
    indexed_now: int = 0  # records indexed on demand for this answer
    nearby: list[AccountMatch] = field(default_factory=list)  # below the floor only

    @property
    def listed(self) -> list[AccountMatch]:
        return self.accounts if self.shown is None else self.accounts[:self.shown]

    @property
    def close_match(self) -> bool:
        return bool(self.accounts)

    @property
    def known(self) -> list[AccountMatch]:
        return [a for a in self.accounts if a.account_id is not None]

    @property
    def totals(self) -> dict[str, object]:
        """Accounts, their ARR and open pipeline (each account once), records, segments."""
        return {
            "accounts": len(self.known),
            "arr": sum(a.arr for a in self.known),
            "open_pipeline": sum(a.open_pipeline for a in self.known),
            "open_deals": sum(a.open_deals for a in self.known),
            "records": sum(a.mentions for a in self.accounts),
            "segments": dict(Counter(a.segment for a in self.known).most_common()),
        }


Encode = Callable[[list[str]], np.ndarray]  # texts -> normalised float32 rows

SEARCH_TABLE = "trendmine.feedback_search"
SEARCH_EMBEDDING_TABLE = "trendmine.feedback_search_embedding"
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al. 2009)
WORD_TERMS = 64  # the rarest words of a long request are searched, the rest add little
CANDIDATES = 200  # from each search, besides every record above the floor
_BM25_K1, _BM25_B = 1.2, 0.75
NEARBY_MARGIN = 0.2  # below the floor by more than this, a record is not even "nearby"
_INDEX_CHUNK = 512


def search_vectors(search_text: str) -> list[str]:
    """The texts embedded for one record: the whole stripped text, then its snippets when
    there are several (a long record's one request is not drowned by the rest). Snippets,
    not single sentences: a lone generic sentence ("Open the Settings page") is close to
    every report and would cost the counted asks their precision (bench_similar_dups.py)."""
    snippets = split_snippets(search_text)
    return [search_text, *snippets] if len(snippets) > 1 else [search_text]


# "Acme wants ...", "The customer is asking for ...": who asks carries no meaning to match
_ASKER = re.compile(
    r"^\s*(?:[A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,3}|the customer|the client|they|customer)"
    r"\s+(?:(?:really|also|still)\s+)?(?:wants?|needs?|asked for|asks for|is asking for|"
    r"are asking for|would like|requested|requests)\s+(?:to\s+(?=\w+\s))?",
    re.IGNORECASE)


def request_text(text: str) -> str:
    """A request as it is searched: boilerplate stripped, a leading "Acme wants" dropped."""
    stripped = strip_boilerplate(text)
    rest = _ASKER.sub("", stripped, count=1)
    return rest if len(rest.split()) >= 2 else stripped


def index_missing(conn: psycopg.Connection, encode: Encode, model_id: str,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Index every record not yet searchable (new, or its text changed since): stripped text
    and full-text vector, then its embeddings for this model. Returns records indexed."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    stale = conn.execute(
        f"SELECT f.feedback_id, f.text, f.text_hash FROM trendmine.feedback f "
        f"LEFT JOIN {SEARCH_TABLE} s USING (feedback_id) "
        "WHERE s.feedback_id IS NULL OR s.text_hash <> f.text_hash").fetchall()
    if stale:
        with conn.transaction():
            conn.execute(f"DELETE FROM {SEARCH_TABLE} WHERE feedback_id = ANY(%s)",
                         ([r[0] for r in stale],))
            with conn.cursor().copy(f"COPY {SEARCH_TABLE} (feedback_id, text_hash, search_text)"
                                    " FROM STDIN") as copy:
                for fid, text, h in stale:
                    copy.write_row((fid, h, strip_boilerplate(text)))
    todo = conn.execute(
        f"SELECT s.feedback_id, s.search_text FROM {SEARCH_TABLE} s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {SEARCH_EMBEDDING_TABLE} e WHERE e.feedback_id = s.feedback_id "
        "AND e.model = %s) ORDER BY s.feedback_id", (model_id,)).fetchall()
    for start in range(0, len(todo), _INDEX_CHUNK):
        part = todo[start:start + _INDEX_CHUNK]
        rows = [(fid, ord_, t) for fid, text in part
                for ord_, t in enumerate(search_vectors(text))]
        vecs = _vectors(conn, [fid for fid, _ in part],
                        list(dict.fromkeys(t for _, _, t in rows)), encode, model_id)
        with conn.transaction(), conn.cursor().copy(
                f"COPY {SEARCH_EMBEDDING_TABLE} (feedback_id, ord, model, embedding) "
                "FROM STDIN") as copy:
            for fid, ord_, t in rows:
                copy.write_row((fid, ord_, model_id, vecs[t]))
        if progress:
            progress(min(start + _INDEX_CHUNK, len(todo)), len(todo))
    return len(todo)


def _vectors(conn: psycopg.Connection, feedback_ids: list[int], texts: list[str],
             encode: Encode, model_id: str) -> dict[str, np.ndarray]:
    """One vector per distinct text: the vector the mining flow stored for one of these
    records' snippets when it says the same (most short records), else encoded now."""
    by_hash = {text_hash(t): t for t in texts}
    out = {by_hash[h]: np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v,
                                  dtype=np.float32)
           for h, v in conn.execute(  # by feedback_id first: the primary key's index
               "SELECT DISTINCT ON (text_hash) text_hash, embedding "
               "FROM trendmine.feedback_embedding WHERE feedback_id = ANY(%s) AND model = %s "
               "AND text_hash = ANY(%s)", (feedback_ids, model_id, list(by_hash))).fetchall()}
    todo = [t for t in texts if t not in out]
    if todo:
        out.update(zip(todo, np.asarray(encode(todo), dtype=np.float32), strict=True))
    return out


def unindexed(conn: psycopg.Connection, model_id: str) -> int:
    """Records `similar` cannot find yet (never indexed, changed, or not for this model)."""
    return fetch_value(
        conn, f"SELECT count(*) FROM trendmine.feedback f LEFT JOIN {SEARCH_TABLE} s "
        "USING (feedback_id) WHERE s.feedback_id IS NULL OR s.text_hash <> f.text_hash OR "
        f"NOT EXISTS (SELECT 1 FROM {SEARCH_EMBEDDING_TABLE} e WHERE e.feedback_id = "
        "s.feedback_id AND e.model = %s)", (model_id,))


# Meaning: each record's best cosine over its vectors (an exact scan: every record above the
# floor is found, which an approximate index would not promise). Words: BM25 with each word
# counted once per record, idf from the index itself, over the request's rarest words.
_SEARCH = f"""
WITH dense AS (
    SELECT feedback_id, max(1 - (embedding <=> %(q)s))::float8 AS similarity
    FROM {SEARCH_EMBEDDING_TABLE} WHERE model = %(model)s GROUP BY feedback_id
), dense_ranked AS (
    SELECT feedback_id, similarity, row_number() OVER (ORDER BY similarity DESC) AS dense_rank
    FROM dense
), n AS (
    SELECT count(*)::float8 AS docs, coalesce(avg(length(tsv)), 1)::float8 AS avgdl
    FROM {SEARCH_TABLE}
), terms AS (
    SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s)))
           AS lexeme
), df AS (
    SELECT t.lexeme, to_tsquery('simple', quote_literal(t.lexeme)) AS tsq,
           (SELECT count(*) FROM {SEARCH_TABLE} s
            WHERE s.tsv @@ to_tsquery('simple', quote_literal(t.lexeme)))::float8 AS df
    FROM terms t
), words AS (
    SELECT df.tsq, ln(1 + (n.docs - df.df + 0.5) / (df.df + 0.5)) AS idf
    FROM df, n WHERE df.df > 0 ORDER BY df.df, df.lexeme LIMIT {WORD_TERMS}
), lexical AS (
    SELECT s.feedback_id,
           sum(w.idf * {_BM25_K1 + 1} / (1 + {_BM25_K1} * (1 - {_BM25_B} + {_BM25_B}
               * length(s.tsv) / n.avgdl))) AS bm25
    FROM words w JOIN {SEARCH_TABLE} s ON s.tsv @@ w.tsq CROSS JOIN n
    GROUP BY s.feedback_id ORDER BY bm25 DESC LIMIT %(k)s
), lexical_ranked AS (
    SELECT feedback_id, row_number() OVER (ORDER BY bm25 DESC, feedback_id) AS word_rank
    FROM lexical
), fused AS (
    SELECT coalesce(d.feedback_id, l.feedback_id) AS feedback_id, d.similarity, l.word_rank,
           coalesce(1.0 / ({RRF_K} + d.dense_rank), 0)
           + coalesce(1.0 / ({RRF_K} + l.word_rank), 0) AS fused
    FROM dense_ranked d FULL JOIN lexical_ranked l USING (feedback_id)
    WHERE d.similarity >= %(floor)s OR d.dense_rank <= %(k)s OR l.feedback_id IS NOT NULL
)
SELECT x.feedback_id, coalesce(x.similarity, 0)::float8 AS similarity, f.source, f.text,
       f.url, f.created_at, f.account_id, a.name AS account_name,
       lower(coalesce(a.segment, 'unknown')) AS segment, coalesce(a.arr, 0)::float8 AS arr,
       coalesce(ta.open_deals, 0)::integer AS open_deals,
       coalesce(ta.open_pipeline, 0)::float8 AS open_pipeline,
       th.theme_id, th.label AS theme_label, x.fused::float8 AS fused, x.word_rank::integer
FROM fused x JOIN trendmine.feedback f USING (feedback_id)
LEFT JOIN LATERAL (
    SELECT t.theme_id, t.label FROM trendmine.feedback_theme ft
    JOIN trendmine.themes t USING (theme_id)
    WHERE ft.feedback_id = x.feedback_id AND t.visibility = 'shown'
    GROUP BY t.theme_id, t.label ORDER BY count(*) DESC, t.theme_id LIMIT 1
) th ON true
LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
LEFT JOIN trends.accounts ta ON ta.account_id = f.account_id
ORDER BY x.fused DESC, x.similarity DESC NULLS LAST, x.feedback_id
"""


def search_records(conn: psycopg.Connection, text: str, query_embedding: np.ndarray,
                   model_id: str, floor: float, candidates: int = CANDIDATES
                   ) -> list[SimilarRecord]:
    """Every record at or above the floor plus the best `candidates` of each search, best
    fused rank first. `text` is the request as typed (its boilerplate is stripped here)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    vec = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    return fetch(conn, SimilarRecord, _SEARCH,
                 {"q": vec, "model": model_id, "k": candidates, "floor": floor,
                  "text": request_text(text)})


def _grouped(records: list[SimilarRecord]) -> list[AccountMatch]:
    groups: dict[str | None, AccountMatch] = {}
    for r in records:
        g = groups.get(r.account_id)
        if g is None:
            g = groups[r.account_id] = AccountMatch(
                r.account_id, r.account_name or r.account_id or "(no known account)",
                r.segment, r.arr, r.open_deals, r.open_pipeline)
        g.records.append(r)
    return sorted(groups.values(), key=lambda a: (a.account_id is None, -a.fused, -a.best))


def group_by_account(records: list[SimilarRecord], floor: float) -> SimilarAnswer:
    """Records at or above `floor`, grouped by account: the best fused rank first, records
    without a known account last. Accounts with only records below the floor are `nearby`:
    listed apart, never counted."""
    counted = _grouped([r for r in records if r.similarity >= floor])
    known = {a.account_id for a in counted if a.account_id is not None}
    nearby = [a for a in _grouped([r for r in records
                                   if floor - NEARBY_MARGIN <= r.similarity < floor])
              if a.account_id is not None and a.account_id not in known]
    best = max((r.similarity for r in records), default=None)
    return SimilarAnswer(floor, best, counted, nearby=nearby)


def listing(answer: SimilarAnswer, limit: int) -> list[AccountMatch]:
    """The accounts an answer lists: the counted ones, closest first, then the nearby ones
    below the floor, `limit` in all."""
    return (answer.accounts + answer.nearby)[:limit]


_THEME_TOTALS = """
SELECT ft.theme_id, count(DISTINCT ft.feedback_id)::integer AS records,
       count(DISTINCT f.account_id)::integer AS accounts
FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id)
WHERE ft.theme_id = ANY(%s) GROUP BY ft.theme_id
"""
THEMES_SHOWN = 3
_THEME_MIN_SHARE = 0.2  # a theme holding less of the matches is not what was asked


def request_themes(conn: psycopg.Connection, answer: SimilarAnswer) -> list[ThemeShare]:
    """The themes most of the matching records belong to, with each theme's own totals."""
    votes = Counter((r.theme_id, r.theme_label) for a in answer.accounts for r in a.records
                    if r.theme_id is not None)
    total = sum(a.mentions for a in answer.accounts)
    top = [(tid, label, n) for (tid, label), n in votes.most_common(THEMES_SHOWN)
           if n >= _THEME_MIN_SHARE * total]
    if not top:
        return []
    totals = {r[0]: r[1:] for r in conn.execute(_THEME_TOTALS, ([t for t, _, _ in top],))}
    return [ThemeShare(tid, label, n, *totals.get(tid, (0, 0))) for tid, label, n in top]


def similar_by_account(conn: psycopg.Connection, text: str, query_embedding: np.ndarray,
                       model_id: str, floor: float, limit: int | None = None) -> SimilarAnswer:
    """The accounts whose feedback is close to the request: every one above the floor counted,
    the first `limit` listed."""
    records = search_records(conn, text, query_embedding, model_id, floor)
    answer = group_by_account(records, floor)
    answer.shown = limit
    answer.themes = request_themes(conn, answer)
    return answer

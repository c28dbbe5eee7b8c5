"""`similar`, answered by account: the stored feedback closest to a request, grouped by the
account that sent it, with totals a PM can take into a deal review.

Only records at or above the similarity floor count (Settings.similar_min_similarity,
calibrated on CLINC150 by bench/bench_similar_floor.py); below it the answer is "no close
match", with the best similarity seen, instead of unrelated neighbours.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import psycopg

from foundation.errors import TrendmineError
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


@dataclass
class SimilarAnswer:
    """The accounts that asked for something close, and the totals over them."""

    floor: float
    best_similarity: float | None  # over every neighbour, kept or not
    accounts: list[AccountMatch]

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


_NEAREST = """
WITH near AS (
    SELECT feedback_id, ord, embedding <=> %(q)s AS distance
    FROM trendmine.feedback_embedding WHERE model = %(model)s
    ORDER BY distance LIMIT %(k)s
), best AS (
    SELECT DISTINCT ON (feedback_id) * FROM near ORDER BY feedback_id, distance
)
SELECT b.feedback_id, (1 - b.distance)::float8 AS similarity, f.source, f.text, f.url,
       f.created_at, f.account_id, a.name AS account_name,
       lower(coalesce(a.segment, 'unknown')) AS segment, coalesce(a.arr, 0)::float8 AS arr,
       coalesce(ta.open_deals, 0)::integer AS open_deals,
       coalesce(ta.open_pipeline, 0)::float8 AS open_pipeline,
       ft.theme_id, t.label AS theme_label
FROM best b JOIN trendmine.feedback f USING (feedback_id)
LEFT JOIN trendmine.feedback_theme ft ON ft.feedback_id = b.feedback_id AND ft.ord = b.ord
LEFT JOIN trendmine.themes t ON t.theme_id = ft.theme_id
LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
LEFT JOIN trends.accounts ta ON ta.account_id = f.account_id
ORDER BY b.distance LIMIT %(limit)s
"""


def nearest_records(conn: psycopg.Connection, query_embedding: np.ndarray, model_id: str,
                    limit: int = 20) -> list[SimilarRecord]:
    """The `limit` stored records closest to the query (cosine), closest first."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    has = fetch_value(conn, "SELECT true FROM trendmine.feedback_embedding WHERE model = %s "
                            "LIMIT 1", (model_id,))
    if not has:
        raise TrendmineError(f"no embeddings stored for model {model_id!r}",
                             "run the mining flow first (or set TRENDMINE_EMBEDDING_MODEL)")
    vec = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    # several snippets of one record can be near: over-fetch snippets, keep `limit` records
    return fetch(conn, SimilarRecord, _NEAREST,
                 {"q": vec, "model": model_id, "k": limit * 5, "limit": limit})


def group_by_account(records: list[SimilarRecord], floor: float) -> SimilarAnswer:
    """Records at or above `floor`, grouped by account (closest account first)."""
    groups: dict[str | None, AccountMatch] = {}
    for r in records:
        if r.similarity < floor:
            continue
        g = groups.get(r.account_id)
        if g is None:
            g = groups[r.account_id] = AccountMatch(
                r.account_id, r.account_name or r.account_id or "(no known account)",
                r.segment, r.arr, r.open_deals, r.open_pipeline)
        g.records.append(r)
    best = max((r.similarity for r in records), default=None)
    ranked = sorted(groups.values(), key=lambda a: (a.account_id is None, -a.best))
    return SimilarAnswer(floor, best, ranked)


def similar_by_account(conn: psycopg.Connection, query_embedding: np.ndarray, model_id: str,
                       floor: float, limit: int = 20) -> SimilarAnswer:
    """The accounts whose feedback is close to the query (records considered: `limit`)."""
    return group_by_account(nearest_records(conn, query_embedding, model_id, limit), floor)

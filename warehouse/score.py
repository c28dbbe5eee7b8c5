"""The weighted score in SQL: the one fragment the trends rebuild and the read queries share.

The formula is the SQL function ``trendmine.account_contribution`` (migration V004; its
Python twin, mining.scoring.account_contribution, is proven equal by tests/test_scoring.py).
This module holds the rest of the definition both sides need, so neither spells it again:

- which rows form one *voice*: an account counts once per group (theme x period) however
  many records it sends; a record without an account is a voice of its own;
- a voice's source weight is the largest weight among the sources it used;
- the reference ARR (median ARR of the accounts the CRM knows) and the weights, as query
  parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from mining.scoring import FALLBACK_WEIGHT, ScoreWeights
from warehouse.rows import fetch_value

# Reads a relation `rec` (the group keys, feedback_id, account_id, source, segment, arr: one
# row per record x group) and defines `voice` and `scored` (voice + contrib).
_VOICES = """
voice AS (
    SELECT {keys}, account_id, coalesce(account_id, 'feedback:' || feedback_id) AS voice,
           segment, arr, count(*)::integer AS records,
           max(trendmine.score_weight(%(src_keys)s::text[], %(src_vals)s::float8[], source,
                                      %(fallback)s::float8)) AS source_w
    FROM rec
    GROUP BY {keys}, account_id, coalesce(account_id, 'feedback:' || feedback_id), segment, arr
), scored AS (
    SELECT voice.*,
           trendmine.account_contribution(segment, source_w, arr, %(ref_arr)s::float8,
               %(seg_keys)s::text[], %(seg_vals)s::float8[], %(arr_weight)s::float8,
               %(arr_cap)s::float8, %(fallback)s::float8) AS contrib
    FROM voice
)
"""


def voices_cte(keys: Sequence[str]) -> sql.Composed:
    """The `voice` and `scored` CTEs (no leading WITH/comma) grouped by `keys` of `rec`."""
    return sql.SQL(_VOICES).format(keys=sql.SQL(", ").join(sql.Identifier(k) for k in keys))


def reference_arr_sql(conn: psycopg.Connection) -> float:
    """mining.scoring.reference_arr over the CRM's current accounts, in SQL."""
    ref = fetch_value(conn, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY arr) "
                            "FROM trendmine.accounts WHERE arr > 0")
    return float(ref) if ref else 1.0


def score_params(weights: ScoreWeights, ref_arr: float) -> dict[str, Any]:
    """The query parameters `voices_cte` needs: the weights and the reference ARR."""
    return {
        "src_keys": list(weights.source_weights),
        "src_vals": [float(v) for v in weights.source_weights.values()],
        "seg_keys": list(weights.segment_weights),
        "seg_vals": [float(v) for v in weights.segment_weights.values()],
        "arr_weight": float(weights.arr_weight), "arr_cap": float(weights.arr_cap),
        "ref_arr": float(ref_arr), "fallback": FALLBACK_WEIGHT,
    }

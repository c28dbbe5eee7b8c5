"""The weighted score's one home (trendmine.account_contribution, V004) against a hand-computed
world, used alike by the trends rebuild and the read query, and equal to its Python twin."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from mining.scoring import ScoreWeights, account_contribution, reference_arr, weighted_score
from tests.test_trends import WEEK, World, trend
from warehouse.queries import top_trends
from warehouse.score import score_params, voices_cte
from warehouse.trends import rebuild_trends

T0 = datetime(2024, 3, 6, 12, tzinfo=UTC)  # a Wednesday in the week of WEEK (2024-03-04)
WEIGHTS = ScoreWeights(
    segment_weights={"enterprise": 3.0, "mid_market": 1.5, "smb": 1.0, "unknown": 0.5},
    source_weights={"sales_calls": 1.2, "support_tickets": 0.8, "ideas": 1.0},
    arr_weight=0.5, arr_cap=10.0)

# Worked by hand, reference ARR = median(10k, 25k, 50k, 100k, 1.5M) = 50k;
# contribution = segment x max(source) x (0.5 + 0.5 x min(arr / 50k, 10)):
#   acme  enterprise 100k, a sales call + 50 tickets: 3 x 1.2 x (0.5 + 0.5 x 2)  = 5.4
#   bolt  smb         25k, one idea:                  1 x 1.0 x (0.5 + 0.5 x .5) = 0.75
#   crux  mid_market  50k, one ticket:              1.5 x 0.8 x (0.5 + 0.5 x 1)  = 1.2
#   dyna  enterprise 1.5M, one ticket (ARR capped):   3 x 0.8 x (0.5 + 0.5 x 10) = 13.2
#   ghost, unknown to the CRM, one sales call:      0.5 x 1.2 x 0.5               = 0.3
#   two anonymous ideas, a voice each:          2 x 0.5 x 1.0 x 0.5               = 0.5
HAND = {"enterprise": 5.4 + 13.2, "smb": 0.75, "mid_market": 1.2, "unknown": 0.3 + 0.5}
HAND_TOTAL = 21.35


def _hand_world(db) -> int:
    w = World(db)
    for aid, seg, arr in [("acme", "enterprise", 100_000), ("bolt", "smb", 25_000),
                          ("crux", "mid_market", 50_000), ("dyna", "enterprise", 1_500_000),
                          ("echo", "smb", 10_000)]:
        w.account(aid, seg, arr)
    t = w.theme("Bulk edit")
    w.feedback("acme", T0, [t], source="sales_calls")
    for i in range(50):
        w.feedback("acme", T0 + timedelta(minutes=i), [t, t])  # 2 snippets, still 1 record
    w.feedback("bolt", T0, [t], source="ideas")
    w.feedback("crux", T0, [t])
    w.feedback("dyna", T0, [t])
    w.feedback("ghost", T0, [t], source="sales_calls")
    w.feedback(None, T0, [t], source="ideas")
    w.feedback(None, T0, [t], source="ideas")
    w.feedback("acme", T0 + timedelta(weeks=1), [t])  # the next week: acme alone, a ticket
    return t


def test_rebuild_matches_the_hand_computed_score(settings, db):
    t = _hand_world(db)
    counts = rebuild_trends(db, settings, weights=WEIGHTS)
    assert counts["reference_arr"] == 50_000
    week = trend(db, t, "week", WEEK)
    assert week["weighted_score"] == pytest.approx(HAND_TOTAL)
    assert (week["mentions"], week["accounts"]) == (57, 5)
    for segment, score in HAND.items():
        assert trend(db, t, "week", WEEK, segment)["weighted_score"] == pytest.approx(score)
    # next week acme counts again, once: 3 x 0.8 x 1.5
    assert trend(db, t, "week", WEEK + timedelta(weeks=1))["weighted_score"] == pytest.approx(3.6)
    # over the month acme is one account, its best source (the sales call) counting
    assert trend(db, t, "month", WEEK.replace(day=1))["weighted_score"] == pytest.approx(
        HAND_TOTAL)


def test_read_query_matches_the_hand_computed_score(db):
    t = _hand_world(db)
    rows = top_trends(db, since=T0 - timedelta(days=2), grain="week", weights=WEIGHTS,
                      now=T0 + timedelta(weeks=3))
    assert [r.theme_id for r in rows] == [t]
    assert rows[0].score == pytest.approx(HAND_TOTAL)  # acme once over the whole window
    assert rows[0].series == pytest.approx([HAND_TOTAL, 3.6, 0.0])  # weeks of 4, 11, 18 March
    enterprise = top_trends(db, since=T0 - timedelta(days=2), segment="enterprise",
                            weights=WEIGHTS, now=T0 + timedelta(weeks=3))
    assert enterprise[0].score == pytest.approx(HAND["enterprise"])


def test_python_twin_matches_the_hand_computed_score():
    ref = reference_arr([100_000, 25_000, 50_000, 1_500_000, 10_000, 0])
    assert ref == 50_000
    voices = [("enterprise", ["sales_calls", "support_tickets"], 100_000),
              ("smb", ["ideas"], 25_000), ("mid_market", ["support_tickets"], 50_000),
              ("enterprise", ["support_tickets"], 1_500_000), (None, ["sales_calls"], 0),
              (None, ["ideas"], 0), (None, ["ideas"], 0)]
    assert weighted_score(voices, ref, WEIGHTS) == pytest.approx(HAND_TOTAL)


@pytest.mark.parametrize("weights", [
    ScoreWeights(),
    WEIGHTS,
    ScoreWeights({"smb": 2.0}, {"ideas": 0.3}, arr_weight=1.0, arr_cap=3.0),
    ScoreWeights(arr_weight=0.0),
])
def test_sql_function_and_python_twin_agree(db, weights):
    """Every branch: known, missing and empty segments, unknown sources, ARR 0, negative,
    below and above the cap."""
    segments = ["enterprise", "mid_market", "smb", "unknown", "strategic", "", None]
    source_sets = [["support_tickets"], ["sales_calls", "support_tickets"], ["webinar"],
                   ["ideas", "webinar"]]
    arrs = [0.0, -5.0, 1_000.0, 50_000.0, 10_000_000.0]
    query = voices_cte(("case_id",)).as_string(db)
    for ref in (50_000.0, 1.0):
        cases = list(itertools.product(segments, source_sets, arrs))
        got = dict(db.execute(
            "WITH rec AS (SELECT c.case_id, c.case_id AS feedback_id, NULL::text AS account_id,"
            " s.source, c.segment, c.arr FROM unnest(%(ids)s::int[], %(segs)s::text[], "
            " %(arrs)s::float8[], %(srcs)s::text[]) AS c(case_id, segment, arr, sources) "
            " CROSS JOIN LATERAL unnest(string_to_array(c.sources, ',')) AS s(source)), "
            + query + " SELECT case_id, contrib FROM scored",
            {"ids": list(range(len(cases))), "segs": [c[0] for c in cases],
             "arrs": [c[2] for c in cases], "srcs": [",".join(c[1]) for c in cases],
             **score_params(weights, ref)}).fetchall())
        assert len(got) == len(cases)
        for i, (seg, srcs, arr) in enumerate(cases):
            expected = account_contribution(seg, srcs, arr, ref, weights)
            assert got[i] == pytest.approx(expected, rel=1e-12, abs=1e-12), (seg, srcs, arr)


def test_the_score_functions_are_inlined(db):
    """IMMUTABLE SQL bodies the planner inlines: the rebuild pays no per-row function call."""
    plan = "\n".join(r[0] for r in db.execute(
        "EXPLAIN (VERBOSE) SELECT trendmine.account_contribution(seg, 1.2, 1e5, 5e4, "
        "ARRAY['smb'], ARRAY[1.0::float8], 0.5, 10, 1) FROM (VALUES ('smb'), ('x')) v(seg)"))
    assert "account_contribution" not in plan and "score_weight" not in plan
    assert "array_position" in plan

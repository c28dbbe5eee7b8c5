"""The demo world's planted trends come out of the real pipeline: mine -> trends -> emerging.

A small world (3,000 records, 60 accounts, 12 weeks) goes into the real Postgres through the
connectors and the ingest writer (no broker), is mined (embedding included) and scored. The
mined themes are named after the planted theme most of their records carry (the world's
ground truth), so the test needs no theme ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import psycopg

from demoworld import generate_world
from demoworld.feedback import DECLINING, EMERGING_ENTERPRISE, EMERGING_SMB, NOISY_THEME
from demoworld.load import load_world
from warehouse.mine import mine
from warehouse.queries import emerging
from warehouse.trends import rebuild_trends

SMALL = {"seed": 7, "n_accounts": 60, "n_feedback": 3000, "weeks": 12}


def _planted_theme_of(conn: psycopg.Connection, world) -> dict[int, str]:
    """Mined theme id -> the planted theme most of its records were generated from."""
    truth = {r.source_id: r.themes[0] for recs in world.feedback.values() for r in recs}
    votes: dict[int, Counter] = defaultdict(Counter)
    for theme_id, source_id in conn.execute(
        "SELECT DISTINCT ft.theme_id, f.source_id FROM trendmine.feedback_theme ft "
        "JOIN trendmine.feedback f USING (feedback_id)"
    ):
        votes[theme_id][truth[source_id]] += 1
    return {tid: c.most_common(1)[0][0] for tid, c in votes.items()}


def test_small_world_planted_emerging_themes_rank_top5(settings, tmp_path):
    world = generate_world(**SMALL)
    loaded = load_world(settings, world, tmp_path / "world")
    assert loaded.feedback == world.n_feedback and not loaded.rejected and not loaded.unparseable
    counts = mine(settings)
    assert counts["mode"] == "full" and counts["noise_share"] <= 0.10
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        rebuild_trends(conn, settings)
        top = emerging(conn, 5)
        planted = _planted_theme_of(conn, world)
        flagged = [planted[r["theme_id"]] for r in emerging(conn, 100)]
    top5 = [planted[r["theme_id"]] for r in top]
    assert EMERGING_ENTERPRISE in top5, top5
    assert EMERGING_SMB in top5, top5
    # one loud account and a fading theme are not news, whatever their volume
    assert NOISY_THEME not in flagged and DECLINING not in flagged, flagged
    eu = next(r for r in top if planted[r["theme_id"]] == EMERGING_ENTERPRISE)
    assert eu["accounts"] >= 3 and eu["arr"] > 1_000_000 and eu["pipeline"] > 0
    assert eu["statistic"] >= eu["threshold"]

"""Chatter on the demo world, through the real pipeline: the off-topic records (greetings,
sign-offs, a scheduling call about an onsite, "no product topics") end in chatter themes
under chatter parents, and product feedback is not hidden as chatter.

The small world (3,000 records, seed 7) is mined for real; the world's ground truth says which
records are off-topic (`demoworld.catalog.NOISE`), so the test needs no theme ids or labels.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import psycopg

from demoworld import generate_world
from demoworld.catalog import NOISE
from demoworld.load import load_world
from warehouse.mine import mine

SMALL = {"seed": 7, "n_accounts": 60, "n_feedback": 3000, "weeks": 12}


def _texts(settings, theme_id: int) -> list[str]:
    """A few snippets of a theme or of a parent's leaves (for a failure message)."""
    with psycopg.connect(settings.dsn()) as conn:
        return [r[0] for r in conn.execute(
            "SELECT s.text FROM trendmine.feedback_theme ft JOIN trendmine.feedback_snippet s "
            "USING (feedback_id, ord) JOIN trendmine.themes l ON l.theme_id = ft.theme_id "
            "WHERE %s IN (l.theme_id, l.parent_theme_id) LIMIT 8", (theme_id,))]


def test_off_topic_records_are_chatter_at_both_levels(settings, tmp_path):
    world = generate_world(**SMALL)
    load_world(settings, world, tmp_path / "world")
    mine(settings)
    truth = {r.source_id: r.themes[0] for recs in world.feedback.values() for r in recs}
    with psycopg.connect(settings.dsn()) as conn:
        rows = conn.execute(
            "SELECT DISTINCT f.source_id, l.theme_id, l.visibility, p.theme_id, p.visibility "
            "FROM trendmine.feedback_theme ft JOIN trendmine.feedback f USING (feedback_id) "
            "JOIN trendmine.themes l ON l.theme_id = ft.theme_id "
            "JOIN trendmine.themes p ON p.theme_id = l.parent_theme_id").fetchall()
    leaf_votes: dict[int, Counter] = defaultdict(Counter)
    parent_votes: dict[int, Counter] = defaultdict(Counter)
    vis = {}
    for sid, leaf, leaf_vis, parent, parent_vis in rows:
        off = truth[sid] == NOISE
        leaf_votes[leaf][off] += 1
        parent_votes[parent][off] += 1
        vis[leaf], vis[parent] = leaf_vis, parent_vis
    # Off-topic records form chatter leaves. The exceptions: a few sit as a minority in a
    # product leaf (the nearest theme took them), and the world's noise includes one real
    # product question ("How do I change my avatar? Couldn't find it in settings."), a shown
    # leaf of ~10 records, rightly. The bound is a share, not a count: how many records
    # the nearest theme takes moves with the CPU and BLAS, the proportions do not.
    own = Counter()  # off-topic records in leaves they make most of, by visibility
    for leaf, c in leaf_votes.items():
        if c[True] > c[False]:
            own[vis[leaf]] += c[True]
    assert own["shown"] <= 0.2 * sum(own.values()) and own["chatter"] >= 4 * own["shown"], (own, [
        (t, dict(c), _texts(settings, t)[:3]) for t, c in leaf_votes.items()
        if c[True] > c[False] and vis[t] == "shown"])
    # Shown parents hold (almost) no off-topic records; chatter hides (almost) no product
    # feedback; a parent made mostly of off-topic records that ask nothing is chatter.
    shown_parents = Counter()
    for parent, c in parent_votes.items():
        if vis[parent] == "shown":
            shown_parents.update(c)
    assert shown_parents[True] <= 0.02 * shown_parents[False], shown_parents
    hidden_product = Counter()
    for leaf, c in leaf_votes.items():
        hidden_product[vis[leaf] != "shown"] += c[False]
    # 3%: call summaries that are mostly the rep's template ("Next steps: send a recap and
    # roadmap update") read as boilerplate, and a theme of them is chatter even where the
    # summary also names a product need; about 3% of the product records on this world
    assert hidden_product[True] <= 0.035 * sum(hidden_product.values()), (hidden_product, [
        (t, dict(c), _texts(settings, t)[:4]) for t, c in leaf_votes.items()
        if vis[t] != "shown" and c[False]])
    big_offtopic = [p for p, c in parent_votes.items() if c[True] >= 20 and c[True] > c[False]]
    assert big_offtopic and all(vis[p] == "chatter" for p in big_offtopic), [
        (p, dict(parent_votes[p]), _texts(settings, p)) for p in big_offtopic
        if vis[p] != "chatter"]

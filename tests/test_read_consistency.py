"""One window, one definition: `trends`, `theme` and the `trends` views agree on a generated
world, and the ranking a PM chooses (--rank-by, --segment in any case) behaves."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from mining.scoring import ScoreWeights
from warehouse.queries import make_window, theme_accounts, theme_detail, top_trends
from warehouse.trends import rebuild_trends

from .test_trends import World, cli  # noqa: F401  (the `cli` fixture)

SEGMENTS = ("enterprise", "mid_market", "smb")


def _generated_world(db, seed: int = 11) -> tuple[list[int], datetime]:
    """40 accounts, 6 themes, ~700 records over 14 weeks up to now, some deals; returns the
    themes and a window start on a Monday (so weekly trend rows tile the window)."""
    rng = random.Random(seed)
    w = World(db)
    now = datetime.now(UTC)
    accounts = [f"acc{i:02d}" for i in range(40)]
    for i, a in enumerate(accounts):
        w.account(a, SEGMENTS[i % 3], rng.choice([5_000, 20_000, 80_000, 400_000]))
        if i % 4 == 0:
            w.opportunity(f"opp{i}", a, rng.choice([10_000, 50_000]))
    themes = [w.theme(f"Theme {k}") for k in range(6)]
    for _ in range(700):
        k = rng.randrange(6)
        # days ago: theme 0 surges lately, theme 1 fades (more mentions long ago)
        age = {0: rng.uniform(0, 20), 1: 98 * rng.random() ** 0.5}.get(k, rng.uniform(0, 98))
        who = rng.choice([*accounts, None])
        opp = f"opp{accounts.index(who)}" if who and accounts.index(who) % 4 == 0 and \
            rng.random() < 0.3 else None
        w.feedback(who, now - timedelta(days=age), [themes[k]],
                   source=rng.choice(["support_tickets", "ideas", "sales_calls"]),
                   opportunity_id=opp)
    monday = (now - timedelta(weeks=10)).date()
    monday -= timedelta(days=monday.weekday())
    return themes, datetime.combine(monday, datetime.min.time(), UTC)


def _from_views(db, theme_id: int, since: datetime, growth_period) -> dict:
    """The same figures, read only from the documented `trends` views."""
    counts = db.execute(
        "SELECT count(DISTINCT f.feedback_id), count(DISTINCT f.account_id) "
        "FROM trends.feedback_themes ft JOIN trends.feedback f USING (feedback_id) "
        "WHERE ft.theme_id = %s AND f.created_at >= %s", (theme_id, since)).fetchone()
    arr = db.execute(
        "SELECT coalesce(sum(a.arr), 0)::float8 FROM trends.accounts a WHERE a.account_id IN "
        "(SELECT f.account_id FROM trends.feedback_themes ft JOIN trends.feedback f "
        " USING (feedback_id) WHERE ft.theme_id = %s AND f.created_at >= %s)",
        (theme_id, since)).fetchone()[0]
    weekly = db.execute(
        "SELECT coalesce(sum(mentions), 0) FROM trends.theme_trends WHERE theme_id = %s "
        "AND grain = 'week' AND segment = 'all' AND period_start >= %s",
        (theme_id, since.date())).fetchone()[0]
    growth = db.execute(
        "SELECT growth FROM trends.theme_trends WHERE theme_id = %s AND grain = 'week' "
        "AND segment = 'all' AND period_start = %s", (theme_id, growth_period)).fetchone()
    return {"mentions": counts[0], "accounts": counts[1], "arr": arr, "weekly": weekly,
            "growth": None if growth is None or growth[0] is None else float(growth[0])}


def test_trends_theme_and_views_agree(settings, db, cli):  # noqa: F811
    themes, since = _generated_world(db)
    rebuild_trends(db, settings)
    r = cli("trends", "--since", since.date().isoformat(), "--format", "json", "--limit", "50")
    assert r.exit_code == 0, r.output
    listed = {row["theme_id"]: row for row in json.loads(r.output)}
    assert set(listed) == set(themes)
    win = make_window(since, "week")
    growths = set()
    for t in themes:
        row = listed[t]
        views = _from_views(db, t, since, win.growth_period)
        assert row["mentions"] == views["mentions"] == views["weekly"] > 0
        assert row["accounts"] == views["accounts"]
        assert row["arr"] == pytest.approx(views["arr"])
        assert row["growth"] == pytest.approx(views["growth"]) if views["growth"] is not None \
            else row["growth"] in (None, -1.0)
        growths.add(None if row["growth"] is None else row["growth"] > 0)
        detail = theme_detail(db, t, since, weights=ScoreWeights.from_settings(settings))
        tot = detail["totals"]
        assert (tot.mentions, tot.accounts, tot.arr, tot.pipeline, tot.growth) == (
            row["mentions"], row["accounts"], row["arr"], row["pipeline"], row["growth"])
        assert tot.score == pytest.approx(row["score"])
        # the segments add up to the whole (each account has one current segment)
        assert sum(s.mentions for _, s in detail["segments"]) == tot.mentions
        assert len(theme_accounts(db, t, since)) == tot.accounts  # all requesters
        shown = cli("theme", str(t), "--since", since.date().isoformat())
        assert shown.exit_code == 0, shown.output
        assert f"{tot.mentions:,} mentions, {tot.accounts:,} accounts" in shown.output
        assert f"window {since:%Y-%m-%d}" in shown.output
    assert {True, False} <= growths  # the world has a rising and a falling theme


def test_every_table_states_its_window(settings, db, cli):  # noqa: F811
    _generated_world(db, seed=3)
    rebuild_trends(db, settings)
    out = cli("trends", "--since", "30d").output
    assert "window " in out and "series per week" in out and "growth:" in out
    out = cli("trends", "--since", "30d", "--source", "ideas").output
    assert "growth: n/a with --source" in out


def test_rank_by_every_column_and_segment_in_any_case(settings, db, cli):  # noqa: F811
    _, since = _generated_world(db, seed=5)
    rebuild_trends(db, settings)
    for key in ("value", "score", "mentions", "accounts", "arr", "pipeline", "growth"):
        rows = top_trends(db, since, rank_by=key, limit=50)
        values = [getattr(r, key) for r in rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=True), key
        assert values[:len(present)] == present, key  # nulls last
    upper = cli("trends", "--segment", "SMB", "--format", "json", "--since", "120d")
    lower = cli("trends", "--segment", "smb", "--format", "json", "--since", "120d")
    assert upper.exit_code == 0 and json.loads(upper.output) == json.loads(lower.output)
    assert json.loads(upper.output)
    everyone = json.loads(cli("trends", "--format", "json", "--since", "120d").output)
    assert json.loads(upper.output) != everyone


@pytest.mark.parametrize("args, needle", [
    (("trends", "--segment", "gold"), "use one of enterprise, mid_market, smb, unknown, all"),
    (("trends", "--rank-by", "votes"),
     "use one of value, score, mentions, accounts, arr, pipeline, growth"),
    (("theme", "1", "--segment", "gold"), "unknown --segment 'gold'"),
])
def test_unknown_values_are_answered_with_the_valid_ones(settings, db, cli, args, needle):  # noqa: F811
    World(db).theme("Anything")
    r = cli(*args)
    assert r.exit_code == 1
    assert needle in str(r.exception)

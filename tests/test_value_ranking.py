"""The value score ranks `trends` by default; windows are whole days in TRENDMINE_TIMEZONE.

A hand-built world in the real Postgres: a steady enterprise theme with many accounts and
no pipeline (noise to a PM), and a need a few enterprise accounts raised only in the last
weeks, with an open deal behind it (the signal).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from foundation.errors import TrendmineError
from mining.scoring import (
    MOMENTUM_MAX,
    VALUE_DAMPING,
    ScoreWeights,
    recent_days,
    value_score,
)
from warehouse.queries import day_window, top_trends

from .test_trends import World

NOW = datetime(2024, 6, 30, 15, tzinfo=UTC)  # a Sunday afternoon


def test_value_score_components():
    v = value_score(demand=10.0, pipeline=100_000, recent=14.0, earlier=0.0, window_days=90,
                    ref_arr=100_000)
    assert v.pipeline_factor == pytest.approx(1 + 0.6931, abs=1e-3)  # 1 + ln(2)
    assert v.lift == pytest.approx((14 + VALUE_DAMPING) / VALUE_DAMPING)
    assert v.momentum == pytest.approx(8 ** 0.5)
    assert value_score(10.0, 0.0, 500.0, 0.0, 90, 1.0).momentum == MOMENTUM_MAX  # the clip
    assert v.value == pytest.approx(10 * v.pipeline_factor * v.momentum)
    # steady: the recent days score as the days before predict -> momentum 1
    steady = value_score(50.0, 0.0, recent=28.0, earlier=62.0, window_days=90, ref_arr=1.0)
    assert steady.momentum == pytest.approx(1.0) and steady.value == pytest.approx(50.0)
    # damped: one median account's one day, new, is not a surge
    one = value_score(1.0, 0.0, recent=1.0, earlier=0.0, window_days=90, ref_arr=1.0)
    assert one.momentum < 1.25
    assert recent_days(90) == 28 and recent_days(30) == 10 and recent_days(1) == 1


def _world(db) -> tuple[int, int]:
    w = World(db)
    for i in range(20):
        w.account(f"steady{i}", "enterprise", 200_000)
    for i in range(4):
        w.account(f"eu{i}", "enterprise", 200_000)
    for i in range(10):
        w.account(f"smb{i}", "smb", 20_000)
    w.opportunity("opp-eu", "eu0", 3_200_000)
    steady = w.theme("Dashboard colours")
    eu = w.theme("EU data residency")
    for week in range(13):  # every steady account once a week, the whole window
        for i in range(20):
            w.feedback(f"steady{i}", NOW - timedelta(days=3 + 7 * week, hours=i), [steady])
    for i in range(4):  # the EU need: the last three weeks only, one deal linked
        for d in (2, 9, 16):
            w.feedback(f"eu{i}", NOW - timedelta(days=d, hours=i), [eu],
                       opportunity_id="opp-eu" if i == 0 else None)
    return steady, eu


def test_fast_rising_enterprise_need_with_pipeline_outranks_steady_noise(db):
    steady, eu = _world(db)
    win = day_window("90d", "week", "UTC", now=NOW)
    args = dict(segment="enterprise", weights=ScoreWeights(), now=win.until, limit=10)
    by_score = top_trends(db, win.since, rank_by="score", **args)
    assert [r.theme_id for r in by_score] == [steady, eu]  # the old default buried it
    by_value = top_trends(db, win.since, **args)  # value is the default
    assert [r.theme_id for r in by_value] == [eu, steady]
    assert by_value.total == 2
    top, noise = by_value
    x = top.explain
    assert top.value == pytest.approx(x["demand"] * x["pipeline_factor"] * x["momentum"],
                                      rel=1e-3)
    assert x["earlier_score"] == 0 and x["momentum"] > 3  # new in the window: a surge
    assert top.pipeline == 3_200_000 and x["pipeline_factor"] > 3
    assert noise.explain["momentum"] == pytest.approx(1.0, abs=0.15)  # steady is steady
    assert noise.explain["pipeline_factor"] == 1.0


def test_trends_cli_ranks_by_value_and_explains(settings, db, monkeypatch):
    from trendmine.cli import app

    _world(db)
    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    # the wall clock is today; the world sits in 2024: a window from a date reaches it
    out = CliRunner().invoke(app, ["trends", "--since", "2024-04-01", "--explain",
                                   "--segment", "enterprise"],
                             env={"COLUMNS": "100", "TRENDMINE_DATABASE_URL": settings.dsn()})
    assert out.exit_code == 0, out.output
    assert out.output.index("EU data residency") < out.output.index("Dashboard colours")
    assert "ranked by value" in out.output and "showing 2 of 2 themes" in out.output
    assert "value = demand x pipeline factor x momentum" in out.output
    assert [line for line in out.output.splitlines() if len(line) > 100] == []


def test_day_window_is_whole_days_in_the_zone():
    morning = datetime(2024, 6, 30, 1, tzinfo=UTC)
    evening = datetime(2024, 6, 30, 22, tzinfo=UTC)
    a, b = day_window("90d", now=morning), day_window("90d", now=evening)
    assert (a.since, a.until) == (b.since, b.until)  # the bounds do not move during a day
    assert a.since == datetime(2024, 4, 2, tzinfo=UTC) and a.days == 90
    assert a.until == datetime(2024, 7, 1, tzinfo=UTC)
    assert "2024-04-02 to 2024-06-30 (90 whole days, UTC)" in a.caption()
    # 22:00 UTC is already July 1st in Berlin: its 90 days end that day
    berlin = day_window("90d", tz="Europe/Berlin", now=evening)
    assert berlin.last_day.isoformat() == "2024-07-01"
    assert berlin.since == datetime(2024, 4, 3, tzinfo=ZoneInfo("Europe/Berlin"))
    assert day_window("2024-06-01", now=evening).days == 30
    with pytest.raises(TrendmineError, match="since"):
        day_window("soon", now=evening)


def test_trend_periods_follow_the_configured_zone(db, settings):
    from warehouse.trends import rebuild_trends

    w = World(db)
    w.account("acme", "smb", 1000)
    t = w.theme("SSO")
    # Monday 2024-03-04 00:30 in Berlin is still Sunday in UTC
    w.feedback("acme", datetime(2024, 3, 3, 23, 30, tzinfo=UTC), [t])
    rebuild_trends(db, settings.model_copy(update={"timezone": "Europe/Berlin"}))
    days = [r[0].isoformat() for r in db.execute(
        "SELECT period_start FROM trends.theme_trends WHERE theme_id = %s AND grain = 'day' "
        "AND segment = 'all'", (t,))]
    assert days == ["2024-03-04"]
    win = day_window("2024-03-04", "day", "Europe/Berlin", now=datetime(2024, 3, 4, 12,
                                                                     tzinfo=UTC))
    rows = top_trends(db, win.since, "day", now=win.until, tz="Europe/Berlin")
    assert [r.mentions for r in rows] == [1]
    utc = day_window("2024-03-04", "day", "UTC", now=datetime(2024, 3, 4, 12, tzinfo=UTC))
    assert top_trends(db, utc.since, "day", now=utc.until) == []

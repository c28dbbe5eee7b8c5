"""Trend tables: counting rules, ARR as of the period, pipeline, weights, and the read CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from itertools import count

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from mining.scoring import ScoreWeights, account_contribution, reference_arr
from warehouse.trends import rebuild_trends

_ids = count(1)


class World:
    """Writes a small world straight into the tables (no Kafka, no mining)."""

    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db

    def account(self, account_id: str, segment: str, arr: float,
                history: list[tuple[datetime, str, float]] | None = None,
                name: str | None = None) -> None:
        snaps = history or [(datetime(2020, 1, 1, tzinfo=UTC), segment, arr)]
        self.db.execute(
            "INSERT INTO trendmine.accounts (account_id, name, segment, arr, updated_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (account_id, name or account_id.title(), segment, arr, snaps[-1][0]))
        for valid_from, seg, a in snaps:
            self.db.execute(
                "INSERT INTO trendmine.account_history (account_id, valid_from, segment, arr) "
                "VALUES (%s, %s, %s, %s)", (account_id, valid_from, seg, a))

    def opportunity(self, opp_id: str, account_id: str, amount: float, stage: str = "open") -> None:
        self.db.execute(
            "INSERT INTO trendmine.opportunities (opportunity_id, account_id, amount, stage, "
            "updated_at) VALUES (%s, %s, %s, %s, now())", (opp_id, account_id, amount, stage))

    def theme(self, label: str, status: str = "active") -> int:
        return self.db.execute(
            "INSERT INTO trendmine.themes (label, keywords, quotes, status) "
            "VALUES (%s, %s, %s, %s) RETURNING theme_id",
            (label, label.lower().split(), json.dumps([f"we need {label.lower()}"]), status),
        ).fetchone()[0]

    def feedback(self, account_id: str | None, created_at: datetime, themes: list[int],
                 source: str = "support_tickets", opportunity_id: str | None = None,
                 text: str = "feedback text") -> int:
        """One record whose snippets fall in `themes` (a theme listed twice = two snippets)."""
        n = next(_ids)
        fid = self.db.execute(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, opportunity_id, "
            "text, text_hash, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "RETURNING feedback_id",
            (source, f"s{n}", account_id, opportunity_id, text, f"h{n}", created_at),
        ).fetchone()[0]
        for ord_, theme_id in enumerate(themes):
            self.db.execute(
                "INSERT INTO trendmine.feedback_snippet (feedback_id, ord, text, text_hash) "
                "VALUES (%s, %s, %s, %s)", (fid, ord_, f"{text} {ord_}", f"h{n}.{ord_}"))
            self.db.execute(
                "INSERT INTO trendmine.feedback_theme (feedback_id, ord, theme_id, similarity, "
                "method) VALUES (%s, %s, %s, 0.9, 'cluster')", (fid, ord_, theme_id))
        return fid


def trend(db, theme_id: int, grain: str, period: date, segment: str = "all") -> dict:
    cur = db.execute(
        "SELECT * FROM trends.theme_trends WHERE theme_id = %s AND grain = %s "
        "AND period_start = %s AND segment = %s", (theme_id, grain, period, segment))
    row = cur.fetchone()
    assert row is not None, f"no trend row for {theme_id} {grain} {period} {segment}"
    return dict(zip([c.name for c in cur.description], row, strict=True))


T0 = datetime(2024, 3, 6, 12, tzinfo=UTC)  # a Wednesday; its week starts Monday 2024-03-04
WEEK = date(2024, 3, 4)


def test_mentions_count_records_not_snippets_and_accounts_are_distinct(settings, db):
    w = World(db)
    w.account("acme", "enterprise", 100_000)
    w.account("bolt", "smb", 10_000)
    sso = w.theme("SSO login")
    export = w.theme("CSV export")
    w.feedback("acme", T0, [sso, sso, sso])            # 3 snippets, one record
    w.feedback("acme", T0 + timedelta(hours=1), [sso, export])  # one record, two themes
    w.feedback("bolt", T0, [sso])
    rebuild_trends(db, settings)
    row = trend(db, sso, "week", WEEK)
    assert row["mentions"] == 3 and row["accounts"] == 2
    assert float(row["arr"]) == 110_000
    assert trend(db, export, "week", WEEK)["mentions"] == 1
    assert trend(db, sso, "week", WEEK, "enterprise")["mentions"] == 2
    assert trend(db, sso, "week", WEEK, "smb")["accounts"] == 1
    assert trend(db, sso, "day", T0.date())["mentions"] == 3
    assert trend(db, sso, "month", date(2024, 3, 1))["accounts"] == 2


def test_one_account_with_fifty_tickets_is_one_account(settings, db):
    w = World(db)
    w.account("loud", "mid_market", 50_000)
    w.account("quiet", "mid_market", 50_000)
    t = w.theme("Webhooks")
    for i in range(50):
        w.feedback("loud", T0 + timedelta(minutes=i), [t])
    w.feedback("quiet", T0, [t])
    rebuild_trends(db, settings)
    row = trend(db, t, "week", WEEK)
    assert (row["mentions"], row["accounts"], float(row["arr"])) == (51, 2, 100_000)
    # each account once in the score: two identical accounts score twice one of them
    one = account_contribution("mid_market", ["support_tickets"], 50_000, 50_000,
                               ScoreWeights.from_settings(settings))
    assert row["weighted_score"] == pytest.approx(2 * one)


def test_arr_and_segment_as_of_the_period(settings, db):
    w = World(db)
    w.account("grow", "smb", 90_000, history=[
        (datetime(2024, 2, 1, tzinfo=UTC), "smb", 10_000),
        (datetime(2024, 3, 15, tzinfo=UTC), "enterprise", 90_000),
    ])
    w.account("late", "smb", 5_000, history=[(datetime(2024, 6, 1, tzinfo=UTC), "smb", 5_000)])
    t = w.theme("Audit log")
    w.feedback("grow", T0, [t])                           # before the upgrade
    w.feedback("grow", datetime(2024, 4, 3, tzinfo=UTC), [t])  # after it
    w.feedback("late", T0, [t])                           # before its first snapshot
    w.feedback("ghost", T0, [t])                          # account unknown to the CRM
    w.feedback(None, T0, [t])                             # a prospect
    rebuild_trends(db, settings)
    march = trend(db, t, "week", WEEK)
    assert float(march["arr"]) == 15_000  # 10k as of then + earliest snapshot of 'late'
    assert march["accounts"] == 3 and march["mentions"] == 4
    assert trend(db, t, "week", WEEK, "smb")["accounts"] == 2
    unknown = trend(db, t, "week", WEEK, "unknown")
    assert (unknown["accounts"], unknown["mentions"], float(unknown["arr"])) == (1, 2, 0)
    april = trend(db, t, "week", date(2024, 4, 1), "enterprise")
    assert float(april["arr"]) == 90_000
    # the month holding the upgrade uses the snapshot in force at month end
    assert float(trend(db, t, "month", date(2024, 3, 1), "enterprise")["arr"]) == 90_000


def test_pipeline_sums_distinct_open_opportunities(settings, db):
    w = World(db)
    w.account("acme", "enterprise", 100_000)
    w.account("bolt", "smb", 10_000)
    w.opportunity("o1", "acme", 40_000)
    w.opportunity("o2", "acme", 7_000, stage="won")
    w.opportunity("o3", "bolt", 3_000)
    w.opportunity("o4", "acme", 99_000)  # open, but not linked from the feedback
    t = w.theme("SAML")
    w.feedback("acme", T0, [t], opportunity_id="o1")
    w.feedback("acme", T0, [t], opportunity_id="o1", source="sales_calls")
    w.feedback("acme", T0, [t], opportunity_id="o2")
    w.feedback("bolt", T0, [t], opportunity_id="o3")
    rebuild_trends(db, settings)
    assert float(trend(db, t, "week", WEEK)["pipeline"]) == 43_000
    assert float(trend(db, t, "week", WEEK, "enterprise")["pipeline"]) == 40_000
    assert float(trend(db, t, "week", WEEK, "smb")["pipeline"]) == 3_000


def test_score_matches_python_formula_and_weights_need_no_remining(settings, db):
    w = World(db)
    accounts = {"a1": ("enterprise", 200_000), "a2": ("smb", 20_000), "a3": ("mid_market", 60_000)}
    for aid, (seg, arr) in accounts.items():
        w.account(aid, seg, arr)
    t = w.theme("Dashboards")
    w.feedback("a1", T0, [t], source="sales_calls")
    w.feedback("a1", T0, [t], source="support_tickets")
    w.feedback("a2", T0, [t], source="ideas")
    w.feedback("a3", T0, [t], source="support_tickets")
    rebuild_trends(db, settings)
    assignments = db.execute("SELECT count(*) FROM trendmine.feedback_theme").fetchone()[0]
    ref = reference_arr(arr for _, arr in accounts.values())
    weights = ScoreWeights.from_settings(settings)
    expected = (account_contribution("enterprise", ["sales_calls", "support_tickets"],
                                     200_000, ref, weights)
                + account_contribution("smb", ["ideas"], 20_000, ref, weights)
                + account_contribution("mid_market", ["support_tickets"], 60_000, ref, weights))
    before = trend(db, t, "week", WEEK)["weighted_score"]
    assert before == pytest.approx(expected)
    # new weights: recompute only, the assignments stay as they are
    counts_only = ScoreWeights({"enterprise": 1, "smb": 1, "mid_market": 1},
                               {s: 1 for s in settings.source_weights}, arr_weight=0.0)
    rebuild_trends(db, settings, weights=counts_only)
    assert trend(db, t, "week", WEEK)["weighted_score"] == pytest.approx(3.0)
    assert db.execute("SELECT count(*) FROM trendmine.feedback_theme").fetchone()[0] == assignments


def test_growth_and_previous_mentions(settings, db):
    w = World(db)
    for i in range(6):
        w.account(f"acc{i}", "smb", 10_000)
    t = w.theme("Mobile app")
    weeks = [T0 + timedelta(weeks=k) for k in range(6)]
    per_week = [1, 1, 0, 2, 0, 6]  # week 2 and 4 quiet
    for k, n in enumerate(per_week):
        for i in range(n):
            w.feedback(f"acc{i}", weeks[k], [t])
    rebuild_trends(db, settings, grains=("week",))
    first = trend(db, t, "week", WEEK)
    assert first["growth"] is None and first["mentions_prev"] is None
    second = trend(db, t, "week", WEEK + timedelta(weeks=1))
    assert second["growth"] == pytest.approx(0.0) and second["mentions_prev"] == 1
    fourth = trend(db, t, "week", WEEK + timedelta(weeks=3))
    assert fourth["mentions_prev"] == 0  # quiet week before it counts as zero
    assert fourth["growth"] == pytest.approx(2 / ((1 + 1 + 0) / 3) - 1)
    last = trend(db, t, "week", WEEK + timedelta(weeks=5))
    assert last["growth"] == pytest.approx(6 / ((1 + 0 + 2 + 0) / 4) - 1)


def test_rebuild_replaces_rows_and_writes_emerging(settings, db):
    w = World(db)
    for i in range(12):
        w.account(f"e{i}", "enterprise" if i < 4 else "smb", 300_000 if i < 4 else 15_000)
    steady, hot = w.theme("Steady"), w.theme("Hot")
    start = T0 - timedelta(weeks=13)
    for k in range(14):
        for i in range(2):
            w.feedback(f"e{4 + (k + i) % 8}", start + timedelta(weeks=k), [steady])
    for k in (12, 13):
        for i in range(10):
            w.feedback(f"e{i}", start + timedelta(weeks=k), [hot])
    first = rebuild_trends(db, settings)
    again = rebuild_trends(db, settings)
    assert first["trend_rows"] == again["trend_rows"]
    n = db.execute("SELECT count(*) FROM trendmine.theme_trends").fetchone()[0]
    assert n == again["trend_rows"]
    rows = db.execute("SELECT theme_id, rank, is_new, evidence FROM trends.emerging_themes "
                      "ORDER BY rank").fetchall()
    assert [r[0] for r in rows] == [hot]
    assert rows[0][2] is True and rows[0][3]["method"] in ("poisson", "negative_binomial")


# ---------------------------------------------------------------- read-side CLI


@pytest.fixture
def cli(settings, monkeypatch):
    """A fresh Typer app with the read commands, pointed at the test database."""
    from foundation.config import get_settings
    from trendmine import cli_read

    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    monkeypatch.setenv("TRENDMINE_KAFKA_BOOTSTRAP", settings.bootstrap())
    get_settings(fresh=True)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    cli_read.register(app)  # the read commands, `theme` included
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings(fresh=True)


def _small_world(db) -> tuple[int, int]:
    w = World(db)
    w.account("acme", "enterprise", 100_000)
    w.account("bolt", "smb", 10_000)
    w.opportunity("o1", "acme", 40_000)
    sso, export = w.theme("SSO login"), w.theme("CSV export")
    now = datetime.now(UTC)
    w.feedback("acme", now - timedelta(days=3), [sso], source="sales_calls", opportunity_id="o1")
    w.feedback("bolt", now - timedelta(days=10), [sso, export])
    w.feedback("bolt", now - timedelta(days=2), [export], source="ideas")
    return sso, export


def test_cli_trends_json_and_filters(settings, db, cli):
    sso, export = _small_world(db)
    r = cli("trends-rebuild")
    assert r.exit_code == 0, r.output
    r = cli("trends", "--format", "json", "--rank-by", "arr")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["theme_id"] for x in rows] == [sso, export]
    assert rows[0]["accounts"] == 2 and rows[0]["arr"] == 110_000 and rows[0]["pipeline"] == 40_000
    r = cli("trends", "--format", "json", "--source", "ideas")
    assert [x["theme_id"] for x in json.loads(r.output)] == [export]
    r = cli("trends", "--format", "json", "--segment", "enterprise")
    assert [x["theme_id"] for x in json.loads(r.output)] == [sso]
    r = cli("trends", "--format", "csv")
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("theme_id,")
    r = cli("trends")
    assert r.exit_code == 0 and "SSO" in r.output


@pytest.mark.parametrize("args, needle", [
    (("trends", "--since", "abc"), "since"),
    (("trends", "--rank-by", "votes"), "rank-by"),
    (("trends", "--period", "year"), "period"),
    (("theme", "999999"), "999999"),
])
def test_cli_rejects_bad_input_with_one_line(settings, db, cli, args, needle):
    r = cli(*args)
    assert r.exit_code != 0
    assert needle in (r.output + str(r.exception or ""))


def test_cli_theme_emerging_and_report(settings, db, cli, tmp_path):
    sso, _ = _small_world(db)
    assert cli("trends-rebuild").exit_code == 0
    r = cli("theme", str(sso))
    assert r.exit_code == 0, r.output
    assert "SSO login" in r.output and "Acme" in r.output
    r = cli("emerging")
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    r = cli("report", "--out", str(out))
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "<script" in html and "SSO login" in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # plotly.js inlined, no CDN


def test_parent_themes_get_trend_rows_counting_each_record_once(settings, db):
    w = World(db)
    w.account("acme", "enterprise", 100_000)
    w.account("bolt", "smb", 10_000)
    sso, saml = w.theme("SSO login"), w.theme("SAML setup")
    parent = w.theme("Single sign-on")
    db.execute("UPDATE trendmine.themes SET level = 'parent' WHERE theme_id = %s", (parent,))
    db.execute("UPDATE trendmine.themes SET parent_theme_id = %s WHERE theme_id = ANY(%s)",
               (parent, [sso, saml]))
    w.feedback("acme", T0, [sso, saml])  # one record in both leaves: once for the parent
    w.feedback("acme", T0 + timedelta(hours=1), [sso])
    w.feedback("bolt", T0 + timedelta(hours=2), [saml])
    rebuild_trends(db, settings, now=T0 + timedelta(days=1))
    rows = dict(db.execute(
        "SELECT theme_id, mentions FROM trends.theme_trends WHERE grain = 'week' "
        "AND segment = 'all'").fetchall())
    assert rows[sso] == 2 and rows[saml] == 2 and rows[parent] == 3
    emerging = {r[0] for r in db.execute("SELECT theme_id FROM trendmine.theme_emerging")}
    assert parent not in emerging  # detection runs on leaves only

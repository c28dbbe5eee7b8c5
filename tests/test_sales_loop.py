"""The sales <-> product loop on a generated world with known answers (issue 11).

Planted: a theme raised mostly in lost deals, one asked for mainly by poor-fit accounts, one heard
only on sales calls, a sales special; each must surface, and no unplanted theme may be flagged.
The loop: a publisher killed between producing and marking, rerun: every requester told once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import count

import psycopg
import pytest
from kafka import TopicPartition
from typer.testing import CliRunner

from foundation.config import get_settings
from foundation.errors import TrendmineError
from ingest.kafka import consumer
from schemas.names import LOOP_HEADER_EVENT_ID, LOOP_TOPIC
from warehouse import sales
from warehouse.loop import decide, notify_new_requesters, publish_pending

from .conftest import REPO

TODAY = datetime.now(UTC).date()
NOW = datetime.now(UTC)
_ids = count(1)


class SalesWorld:
    """Accounts, deals, themes and mined feedback written straight into the tables."""

    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db

    def account(self, account_id: str, icp_fit: float | None, arr: float = 50_000,
                segment: str = "mid_market") -> str:
        self.db.execute(
            "INSERT INTO trendmine.accounts (account_id, name, segment, arr, icp_fit, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, now())",
            (account_id, account_id.title(), segment, arr, icp_fit))
        return account_id

    def deal(self, opp_id: str, account_id: str | None, stage: str, close: date | None,
             amount: float = 20_000, loss_reason: str | None = None) -> str:
        self.db.execute(
            "INSERT INTO trendmine.opportunities (opportunity_id, account_id, name, amount, stage,"
            " close_date, loss_reason, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
            (opp_id, account_id, f"Deal {opp_id}", amount, stage, close, loss_reason))
        return opp_id

    def theme(self, label: str) -> int:
        return self.db.execute("INSERT INTO trendmine.themes (label) VALUES (%s) "
                               "RETURNING theme_id", (label,)).fetchone()[0]

    def feedback(self, account_id: str | None, theme_id: int, when: datetime,
                 source: str = "crm_notes", opportunity_id: str | None = None,
                 author: str | None = None) -> tuple[str, str]:
        n = next(_ids)
        fid = self.db.execute(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, opportunity_id, "
            "author, text, text_hash, created_at) VALUES (%s, %s, %s, %s, %s, 'text', %s, %s) "
            "RETURNING feedback_id",
            (source, f"r{n}", account_id, opportunity_id, author, f"h{n}", when)).fetchone()[0]
        self.db.execute("INSERT INTO trendmine.feedback_snippet (feedback_id, ord, text, "
                        "text_hash) VALUES (%s, 0, 'text', %s)", (fid, f"h{n}"))
        self.db.execute("INSERT INTO trendmine.feedback_theme (feedback_id, ord, theme_id, "
                        "method) VALUES (%s, 0, %s, 'cluster')", (fid, theme_id))
        return source, f"r{n}"


def _build(db: psycopg.Connection, end: datetime = NOW) -> dict[str, int]:
    """The planted world ending at `end`; returns the theme ids."""
    w = SalesWorld(db)
    now, today = end, end.date()
    t = {name: w.theme(label) for name, label in (
        ("lost", "Audit log export"), ("a", "Dark mode"), ("b", "Slack integration"),
        ("small", "Gantt view"), ("poor", "Custom invoice hack"), ("unknownish", "Emoji"),
        ("sales_only", "SOC2 report"), ("special", "SAP connector"), ("market", "SSO login"))}
    deal_accounts = [w.account(f"acc{i:02d}", 0.75, arr=40_000 + 1000 * i) for i in range(40)]
    deals = count(0)

    def closed(theme: str | None, won: int, lost: int) -> None:
        for k in range(won + lost):
            i = next(deals)
            stage = "won" if k < won else "lost"
            close = today - timedelta(days=10 + 3 * i)
            opp = w.deal(f"opp{i:03d}", deal_accounts[i % 40], stage, close,
                         loss_reason="missing feature" if stage == "lost" else None)
            if theme is not None:
                w.feedback(deal_accounts[i % 40], t[theme],
                           datetime.combine(close, datetime.min.time(), UTC) - timedelta(days=20),
                           opportunity_id=opp)

    closed("lost", won=2, lost=10)    # planted: 83% lost against ~25% for the rest
    closed("a", won=12, lost=4)       # unplanted, tested: 25% lost
    closed("b", won=9, lost=3)        # unplanted, tested: 25% lost
    closed("small", won=0, lost=3)    # every deal lost, but only 3: small sample
    closed(None, won=30, lost=10)     # deals without feedback
    # an old lost deal raising the planted theme: outside the 12-month window
    w.deal("opp_old", w.account("acc_old", 0.75), "lost", today - timedelta(days=700),
           loss_reason="price")
    w.feedback("acc_old", t["lost"], now - timedelta(days=720), opportunity_id="opp_old")
    # a won deal linked by its account only: a ticket 30 days before close counts, 400 does not
    w.account("acc_l", 0.8)
    w.deal("opp_acct", "acc_l", "won", today - timedelta(days=40))
    w.feedback("acc_l", t["b"], now - timedelta(days=70), source="support_tickets")
    w.feedback("acc_l", t["a"], now - timedelta(days=440), source="support_tickets")
    for theme in ("lost", "a", "b"):  # a support ticket each: their source mix is mixed
        w.feedback("acc00", t[theme], now - timedelta(days=900), source="support_tickets")

    # revenue debt: 5 poor-fit, 1 good-fit, 2 without icp_fit and one not in the CRM data
    for i, fit in enumerate((0.1, 0.2, 0.25, 0.3, 0.35, 0.9, None, None)):
        w.feedback(w.account(f"fit{i}", fit, arr=5_000), t["poor"], now - timedelta(days=5),
                   source="support_tickets")
    w.feedback("ghost", t["poor"], now - timedelta(days=5), source="ideas")
    # mostly unknown fit: 1 poor + 1 good known, 4 unknown -> too few known to flag
    for i, fit in enumerate((0.1, 0.9, None, None, None, None)):
        w.feedback(w.account(f"unk{i}", fit), t["unknownish"], now - timedelta(days=5),
                   source="ideas")

    # heard only on sales calls
    for i in range(5):
        w.feedback(w.account(f"prospect{i}", 0.6), t["sales_only"], now - timedelta(days=9),
                   source="sales_calls")

    # a sales special on an open deal, and a market-wide theme on another open deal
    w.account("acc_s", 0.7)
    w.deal("opp_special", "acc_s", "open", today + timedelta(days=30), amount=90_000)
    w.feedback("acc_s", t["special"], now - timedelta(days=3), opportunity_id="opp_special")
    w.feedback("acc_s", t["special"], now - timedelta(days=2), opportunity_id="opp_special",
               source="sales_calls")
    w.deal("opp_market", "acc00", "open", today + timedelta(days=200))
    w.feedback("acc00", t["market"], now - timedelta(days=1), opportunity_id="opp_market")
    for i in range(1, 30):  # long ago: no closed deal's window reaches it
        w.feedback(f"acc{i:02d}", t["market"], now - timedelta(days=800),
                   source="support_tickets")
    return t


@pytest.fixture
def world(settings, db) -> dict[str, int]:
    return _build(db)


# ---------------------------------------------------------------------------- win/loss


def test_winloss_flags_the_planted_theme_only(settings, db, world):
    counts = sales.rebuild_sales(db, settings)
    rows = {
        r[0]: dict(zip(("theme_id", "won", "lost", "rate", "expected", "p", "over", "small", "q"),
                       r, strict=True))
        for r in db.execute(
            "SELECT theme_id, deals_won, deals_lost, loss_rate, expected_loss_rate, p_value, "
            "over_represented, small_sample, q_value FROM trends.theme_winloss").fetchall()}
    lost = rows[world["lost"]]
    assert (lost["won"], lost["lost"]) == (2, 10)  # the 700-day-old deal is outside the window
    assert lost["over"] and lost["p"] < 0.001 and lost["q"] <= settings.winloss_fdr
    # the rest of the window: 52 won (incl. the account-linked one), 20 lost
    assert lost["expected"] == pytest.approx(20 / 72)
    assert rows[world["b"]]["won"] == 10  # 9 linked by opportunity + opp_acct by its account
    assert rows[world["a"]]["won"] == 12  # the 440-day-old ticket is outside opp_acct's window
    flagged = {tid for tid, r in rows.items() if r["over"]}
    assert flagged == {world["lost"]}, "an unplanted theme was flagged"
    small = rows[world["small"]]
    assert small["small"] and small["p"] is None and not small["over"] and small["rate"] == 1.0
    assert counts["over_represented"] == 1
    # the CLI's ranking: tested themes by p-value, the small sample after them
    ranked = sales.winloss(db, settings, TODAY - timedelta(days=365))
    assert ranked[0].theme_id == world["lost"]
    assert ranked[-1].small_sample and ranked[0].loss_reasons == {"missing feature": 10}


def test_a_world_from_the_past_reads_as_of_its_newest_feedback(settings, db):
    themes = _build(db, end=NOW - timedelta(days=800))
    assert sales.as_of(db) == (NOW - timedelta(days=801)).date()
    sales.rebuild_sales(db, settings)
    flagged = db.execute("SELECT theme_id FROM trends.theme_winloss WHERE over_represented"
                         ).fetchall()
    assert flagged == [(themes["lost"],)]
    specials = [(r.opportunity_id, r.theme_id) for r in sales.deal_themes(db, settings)
                if r.sales_special]
    assert specials == [("opp_special", themes["special"])]


def test_winloss_statistic_matches_a_hand_computed_fisher_test():
    from scipy.stats import hypergeom

    from mining.winloss import LossOverRepresentation

    # theme: 10 lost / 2 won; all deals: 27 lost / 55 won. P(X >= 10), X ~ hypergeometric
    m = LossOverRepresentation(min_deals=8, fdr=0.1).fit([2, 12], [10, 4], 55, 27)
    by_hand = hypergeom.sf(9, 82, 27, 12)
    assert m.p_values_[0] == pytest.approx(by_hand, rel=1e-9)
    assert m.expected_loss_rate_[0] == pytest.approx(17 / 70)
    assert list(m.over_represented_) == [True, False]
    with pytest.raises(ValueError, match="min_deals"):
        LossOverRepresentation(min_deals=0).fit([1], [1], 5, 5)


# ---------------------------------------------------------------------------- deals, fit, sources


def test_deals_show_sales_specials_market_wide_and_account_linked_feedback(settings, db, world):
    rows = sales.deal_themes(db, settings)
    by_key = {(r.opportunity_id, r.theme_id): r for r in rows}
    special = by_key[("opp_special", world["special"])]
    assert special.sales_special and special.other_accounts == 0 and special.mentions == 2
    assert {k for k, r in by_key.items() if r.sales_special} == {("opp_special", world["special"])}
    market = by_key[("opp_market", world["market"])]
    assert market.market_wide and not market.sales_special and market.other_accounts == 29
    assert float(market.other_accounts_arr) == sum(40_000 + 1000 * i for i in range(1, 30))
    assert {k for k, r in by_key.items() if r.market_wide} == {("opp_market", world["market"])}
    acct = by_key[("opp_acct", world["b"])]
    assert not acct.linked and ("opp_acct", world["a"]) not in by_key
    # --stage and --closing-within
    as_of = sales.as_of(db)
    assert as_of == (NOW - timedelta(days=1)).date()  # the newest feedback, not the wall clock
    open_deals = sales.deal_themes(db, settings, stage="open",
                                   closing_until=sales.closing_until("60d", as_of))
    assert {r.opportunity_id for r in open_deals} == {"opp_special"}
    assert sales.closing_until("2d", today=TODAY) == TODAY + timedelta(days=2)


def test_revenue_debt_flags_the_poor_fit_theme_and_counts_unknown_fit_apart(settings, db, world):
    fit = {r.theme_id: r for r in sales.theme_fit(db, settings)}
    poor = fit[world["poor"]]
    assert (poor.accounts, poor.poor_fit_accounts, poor.unknown_fit_accounts) == (9, 5, 3)
    assert poor.poor_fit_share == pytest.approx(5 / 6)
    assert poor.poor_fit_arr_share == pytest.approx(5 / 6)
    assert {t for t, r in fit.items() if r.revenue_debt} == {world["poor"]}
    unk = fit[world["unknownish"]]
    assert unk.unknown_fit_accounts == 4 and unk.poor_fit_share == 0.5 and not unk.revenue_debt
    # the threshold is a setting: at 0.95 nearly everyone is a poor fit
    strict = settings.model_copy(update={"icp_fit_threshold": 0.95})
    assert fit[world["a"]].revenue_debt is False
    assert {r.theme_id: r for r in sales.theme_fit(db, strict)}[world["a"]].revenue_debt
    # ... and the override never leaks into what BI tools read
    assert db.execute("SELECT icp_fit_threshold FROM trendmine.sales_params").fetchone()[0] == 0.4


def test_source_mix_shows_the_theme_only_sales_hears(settings, db, world):
    rows = sales.theme_sources(db)
    mix = sales.channel_mix(rows)
    assert mix[world["sales_only"]] == {"sales": pytest.approx(1.0)}
    assert {t for t, m in mix.items() if m.get("sales", 0) > 0.999} == {world["sales_only"]}
    shares = Counter()
    for r in rows:
        shares[r.theme_id] += r.share
    assert all(s == pytest.approx(1.0) for s in shares.values())


# ---------------------------------------------------------------------------- the loop


def _consume_loop(settings, idle: float = 3.0) -> list[tuple[str, dict, str]]:
    """Every event on the loop topic: (key, value, event-id header)."""
    topic = settings.topic(LOOP_TOPIC)
    c = consumer(settings, group_id=None)
    try:
        deadline = time.monotonic() + 20
        while not (parts := c.partitions_for_topic(topic)) and time.monotonic() < deadline:
            c.topics()
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out, last = [], time.monotonic()
        while time.monotonic() - last < idle:
            for records in c.poll(timeout_ms=500).values():
                for m in records:
                    out.append((m.key.decode(), json.loads(m.value),
                                dict(m.headers)[LOOP_HEADER_EVENT_ID].decode()))
                last = time.monotonic()
        return out
    finally:
        c.close()


def _env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(TRENDMINE_DATABASE_URL=settings.dsn(),
               TRENDMINE_KAFKA_BOOTSTRAP=settings.bootstrap(),
               TRENDMINE_TOPIC_PREFIX=settings.topic_prefix, PYTHONPATH=str(REPO))
    return env


_CRASH = """
import os
from foundation.config import Settings
from foundation.db import connection
from warehouse.loop import publish_pending
settings = Settings()
with connection(settings) as conn:
    publish_pending(conn, settings, after_send=lambda: os._exit(9))  # killed before marking
"""


def test_every_requester_is_told_exactly_once_across_a_crash(settings, db):
    w = SalesWorld(db)
    ship = w.theme("Bulk edit")
    requesters = [w.account(f"req{i}", 0.7) for i in range(5)]
    records = {a: [w.feedback(a, ship, NOW - timedelta(days=d), author="Rep Rita")
                   for d in (3, 9)] for a in requesters}
    w.feedback(None, ship, NOW, source="ideas")  # an anonymous idea: nobody to tell

    d = decide(db, settings, ship, "shipped", "Bulk edit is live", "pm")
    assert d.changed and d.requesters == 5
    crashed = subprocess.run([sys.executable, "-c", _CRASH], env=_env(settings), cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 9, crashed.stderr
    pending = db.execute("SELECT count(*) FROM trends.loop_requesters WHERE notified_at IS NULL"
                         ).fetchone()[0]
    assert pending == 5  # produced, but the marks died with the process

    assert publish_pending(db, settings) == 5  # the rerun publishes the same events again
    assert publish_pending(db, settings) == 0
    again = decide(db, settings, ship, "shipped", "again", "pm")
    assert not again.changed and again.requesters == 0 and publish_pending(db, settings) == 0

    late = w.account("late", 0.7)  # asks after the decision: told on the next run
    w.feedback(late, ship, NOW)
    assert notify_new_requesters(db) == 1 and notify_new_requesters(db) == 0
    assert publish_pending(db, settings) == 1

    events = _consume_loop(settings)
    assert len(events) == 11  # 5 before the crash + 5 republished + 1 late: at least once
    first = {}
    for key, value, header in events:
        assert value["event_id"] == header and value["account_id"] == key
        first.setdefault(header, value)
    assert len(first) == 6  # deduplicated by event id: each requester exactly once
    assert Counter(v["account_id"] for v in first.values()) == Counter([*requesters, late])
    v = next(v for v in first.values() if v["account_id"] == "req0")
    assert v["theme_id"] == ship and v["label"] == "Bulk edit" and v["decision"] == "shipped"
    assert v["note"] == "Bulk edit is live" and v["owner"] == "Rep Rita"
    assert sorted(map(tuple, v["records"])) == sorted(records["req0"])
    assert db.execute("SELECT count(*), count(notified_at) FROM trends.loop_requesters"
                      ).fetchone() == (6, 6)


def test_a_new_decision_tells_everyone_again_once(settings, db):
    w = SalesWorld(db)
    theme = w.theme("Gantt view")
    for i in range(3):
        w.feedback(w.account(f"g{i}", 0.5), theme, NOW)
    assert decide(db, settings, theme, "planned", "Q3", "pm").requesters == 3
    assert publish_pending(db, settings) == 3
    assert decide(db, settings, theme, "shipped", "done", "pm").requesters == 3
    assert publish_pending(db, settings) == 3
    rows = db.execute("SELECT DISTINCT decision FROM trends.loop_requesters").fetchall()
    assert rows == [("shipped",)]


# ---------------------------------------------------------------------------- CLI and bad input


@pytest.fixture
def cli(settings, monkeypatch):
    from trendmine.cli import app

    for k, v in _env(settings).items():
        if k.startswith("TRENDMINE_"):
            monkeypatch.setenv(k, v)
    get_settings(fresh=True)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings(fresh=True)


def _one_line_error(result, *words: str) -> str:
    assert result.exit_code != 0
    assert isinstance(result.exception, TrendmineError), result.output
    text = str(result.exception)
    assert "\n" not in text and all(w in text for w in words), text
    return text


def test_cli_commands_and_bad_input(settings, db, world, cli):
    res = cli("deals", "--format", "json")
    assert res.exit_code == 0, res.output
    assert {(r["opportunity_id"], r["sales_special"]) for r in json.loads(res.output)} >= {
        ("opp_special", True), ("opp_market", False)}
    res = cli("winloss", "--format", "csv")
    assert res.exit_code == 0 and "Audit log export" in res.output
    res = cli("fit", "--debt-only", "--format", "json")
    assert res.exit_code == 0, res.output
    assert [(r["theme_id"], r["sales_share"]) for r in json.loads(res.output)] == [
        (world["poor"], 0.0)]
    only = {r["theme_id"]: r["only_source"] for r in json.loads(cli("fit", "--format", "json")
                                                                .output)}
    assert only[world["sales_only"]] == "sales_calls" and only[world["poor"]] is None
    assert cli("fit").exit_code == 0 and cli("deals").exit_code == 0

    # an opportunity for an unknown account, a deal with no close date
    w = SalesWorld(db)
    w.deal("opp_orphan", "nobody", "open", TODAY + timedelta(days=10))
    w.feedback(None, world["a"], NOW, opportunity_id="opp_orphan")
    _one_line_error(cli("deals"), "unknown account", "opp_orphan")
    res = cli("deals", "--skip-invalid", "--format", "json")
    assert res.exit_code == 0
    assert "opp_orphan" not in {r["opportunity_id"] for r in json.loads(res.stdout)}
    w.deal("opp_undated", "acc03", "open", None)
    w.feedback("acc03", world["b"], NOW, opportunity_id="opp_undated")
    _one_line_error(cli("deals", "--closing-within", "60d", "--opportunity", "opp_undated"),
                    "no close date", "opp_undated")
    w.deal("opp_undated_lost", "acc04", "lost", None)
    w.feedback("acc04", world["b"], NOW, opportunity_id="opp_undated_lost")
    _one_line_error(cli("winloss"), "no close date", "opp_undated_lost")
    _one_line_error(cli("deals", "--closing-within", "soon"), "--closing-within")

    # theme status: unknown id, unknown decision word
    _one_line_error(cli("theme", "status", "999999", "shipped"), "no theme 999999")
    _one_line_error(cli("theme", "status", str(world["special"]), "maybe"), "unknown decision")
    res = cli("theme", "status", str(world["special"]), "planned", "--note", "next quarter")
    assert res.exit_code == 0 and "published 1 event" in res.output, res.output
    res = cli("theme", "status", str(world["special"]), "planned")
    assert res.exit_code == 0 and "published 0 event" in res.output


def test_bad_input_is_one_line_and_exit_1_from_the_real_cli(settings, db):
    res = subprocess.run([sys.executable, "-m", "trendmine", "theme", "status", "424242",
                          "shipped"], env=_env(settings), cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no theme 424242" in lines[0], res.stderr


def test_report_has_a_deals_and_revenue_section(settings, db, world, tmp_path):
    from report.html import write_report

    text = write_report(db, tmp_path / "r.html", settings).read_text()
    section = text[text.index("<h2>Deals and revenue</h2>"):]
    assert "Audit log export" in section and "LOST MORE" in section
    assert "Revenue debt" in section and "SAP connector" in section  # the open deal's special
    assert "<script src" not in text  # self-contained: no chart library to load


def test_bi_role_reads_the_sales_views(settings, db, world):
    import uuid

    from warehouse.bi import create_bi_role, role_url

    sales.rebuild_sales(db, settings)
    name = f"bi_{uuid.uuid4().hex[:10]}"
    create_bi_role(db, name, "pw-sales")
    try:
        with psycopg.connect(role_url(settings.dsn(), name, "pw-sales", show_password=True),
                             autocommit=True) as bi:
            for view in ("deal_themes", "theme_winloss", "theme_fit", "theme_sources",
                         "loop_requesters"):
                bi.execute(f"SELECT * FROM trends.{view}").fetchall()
            assert bi.execute("SELECT count(*) FROM trends.theme_fit WHERE revenue_debt"
                              ).fetchone()[0] == 1
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute("SELECT * FROM trendmine.loop_notifications")
    finally:
        db.execute(f'DROP OWNED BY "{name}"')
        db.execute(f'DROP ROLE "{name}"')


# ---------------------------------------------------------------------------- statistics in words


def test_winloss_says_the_conclusion_first_and_totals_loss_reasons(settings, db, world, cli):
    answer = sales.winloss_answer(db, settings, TODAY - timedelta(days=365))
    # the window: 54 won (incl. the account-linked deal), 30 lost; the planted theme is in 10
    # lost and 2 won: (10/30) / (2/54) = 9.0 times as often
    assert (answer.deals_won, answer.deals_lost) == (54, 30)
    assert answer.headline[0].startswith("1 theme is over-represented in lost deals")
    assert "Lost deals mention 'Audit log export'" in answer.headline[1]
    assert "9.0x as often as won deals" in answer.headline[1]
    assert answer.loss_reasons == {"missing feature": 30}
    res = cli("winloss")
    assert res.exit_code == 0, res.output
    first = res.output.lstrip().splitlines()[0]
    assert first.startswith("1 theme is over-represented"), res.output
    text = " ".join(res.output.split())
    assert "Loss reasons in the CRM, all 30 lost deals: missing feature 30 (100%)" in text
    assert "p: the chance" in text and "q: p adjusted" in text, res.output
    assert "q: p adjusted" in " ".join(cli("winloss", "--help").output.split())


def test_winloss_and_fit_leave_out_hidden_and_chatter_themes_and_say_when_nothing(
        settings, db, world, cli):
    db.execute("UPDATE trendmine.themes SET visibility = 'chatter' WHERE theme_id = %s",
               (world["lost"],))
    db.execute("UPDATE trendmine.themes SET visibility = 'hidden' WHERE theme_id = %s",
               (world["poor"],))
    answer = sales.winloss_answer(db, settings, TODAY - timedelta(days=365))
    assert world["lost"] not in {r.theme_id for r in answer.rows}
    assert answer.headline == [
        f"No theme is over-represented in lost deals ({len(answer.rows)} themes, 84 closed "
        f"deals; 2 themes with at least 8 deals were tested, lowest q = "
        f"{min(r.q_value for r in answer.tested):.2f})."]
    res = cli("winloss")
    assert res.output.lstrip().startswith("No theme is over-represented"), res.output
    assert "Audit log export" not in res.output

    assert world["poor"] not in {r.theme_id for r in sales.theme_fit(db, settings)}
    res = cli("fit", "--debt-only")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.startswith("No theme is revenue debt: in none of the"), res.output
    assert "┃" not in res.output and "Custom invoice hack" not in res.output  # no empty table


def test_deals_one_row_per_deal_with_names_filter_by_theme_and_pages(settings, db, world, cli):
    w = SalesWorld(db)
    for theme in ("a", "b"):  # the special deal raises three themes
        w.feedback("acc_s", world[theme], NOW - timedelta(days=4), opportunity_id="opp_special")
    res = cli("deals", "--format", "json")
    deals = json.loads(res.output)
    ids = [d["opportunity_id"] for d in deals]
    assert len(ids) == len(set(ids)), "a deal on more than one row"
    special = next(d for d in deals if d["opportunity_id"] == "opp_special")
    assert special["opportunity_name"] == "Deal opp_special" and special["account_name"] == "Acc_S"
    assert special["themes"][0]["theme_id"] == world["special"]  # 2 mentions first
    assert {t["theme_id"] for t in special["themes"]} == {world[k] for k in ("special", "a", "b")}

    rows = list(csv.DictReader(io.StringIO(cli("deals", "--format", "csv").output)))
    assert len(rows) == len(deals)
    line = next(r for r in rows if r["opportunity_id"] == "opp_special")
    assert line["account_name"] == "Acc_S" and line["opportunity_name"] == "Deal opp_special"
    assert line["themes"] == "3" and line["sales_special"] == "True"

    only = json.loads(cli("deals", "--theme", str(world["special"]), "--format", "json").output)
    assert [d["opportunity_id"] for d in only] == ["opp_special"]
    _one_line_error(cli("deals", "--theme", "987654"), "no theme 987654")
    res = cli("deals", "--theme", str(world["small"]), "--stage", "open")
    assert res.exit_code == 0 and "No deal raises theme" in res.output, res.output

    res = cli("deals", "--page-size", "2")
    text = " ".join(res.output.split())
    assert f"showing 1-2 of {len(deals)}" in text and "--page 2 for more" in text, res.output
    page2 = json.loads(cli("deals", "--page", "2", "--page-size", "2", "--format", "json").output)
    assert [d["opportunity_id"] for d in page2] == ids[2:4]
    _one_line_error(cli("deals", "--page", "999"), "--page 999")

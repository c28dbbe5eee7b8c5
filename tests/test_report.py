"""The HTML report on a small world written straight into the tables: organised by parent
theme, numbers that agree with trends.theme_trends, quotes from different accounts, segments
ranked on their own, chatter left out, small, self-contained, rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mining.scoring import ScoreWeights
from report.html import evidence_words, write_report
from tests.test_trends import World
from warehouse import report_data
from warehouse.trends import rebuild_trends

END = datetime(2024, 6, 12, 15, tzinfo=UTC)  # a Wednesday: the newest week is in progress
LONG_LABEL = "Scheduled CSV export of the monthly usage reports to S3"  # > 40 characters
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _build(db, settings) -> dict[str, int]:
    w = World(db)
    w.account("acme", "enterprise", 900_000, name="Acme Corp")
    w.account("cora", "mid_market", 80_000, name="Cora GmbH")
    for i in range(4):
        w.account(f"smb{i}", "smb", 9_000 + 1_000 * i, name=f"Small Shop {i}")
    for i in range(10):
        w.account(f"new{i}", "smb", 5_000, name=f"New Shop {i}")
    w.opportunity("opp1", "acme", 250_000)
    t: dict[str, int] = {}
    for key, label in (("sso", "Single sign-on"), ("data", "Data export"),
                       ("okta", "SSO with Okta"), ("saml", "SAML login errors"),
                       ("csv", LONG_LABEL), ("mobile", "Offline mode in the mobile app"),
                       ("chat", "Thanks for the call"), ("hid", "Internal test tickets"),
                       ("shopify", "Shopify app integration")):
        t[key] = w.theme(label)
    db.execute("UPDATE trendmine.themes SET level = 'parent' WHERE theme_id = ANY(%s)",
               ([t["sso"], t["data"]],))
    for leaf, parent in (("okta", "sso"), ("saml", "sso"), ("csv", "data")):
        db.execute("UPDATE trendmine.themes SET parent_theme_id = %s WHERE theme_id = %s",
                   (t[parent], t[leaf]))
    db.execute("UPDATE trendmine.themes SET visibility = 'chatter' WHERE theme_id = %s",
               (t["chat"],))
    db.execute("UPDATE trendmine.themes SET visibility = 'hidden' WHERE theme_id = %s",
               (t["hid"],))
    db.execute("INSERT INTO trendmine.theme_lineage (event, theme_id, related_theme_ids, at) "
               "VALUES ('birth', %s, '{}', %s), ('merge', %s, %s, %s)",
               (t["okta"], END - timedelta(days=60), t["okta"], [t["saml"]],
                END - timedelta(days=30)))
    for week in range(8):
        at = END - timedelta(weeks=week, hours=week)
        # the enterprise account asks for SSO every week (three records, one quote)
        w.feedback("acme", at, [t["okta"]], text=f"Acme needs Okta SSO, week {week}",
                   opportunity_id="opp1")
        w.feedback("cora", at - timedelta(hours=2), [t["okta"], t["csv"]],
                   text=f"Cora: Okta login and the S3 export, week {week}")
        if week % 2 == 0:
            w.feedback("smb0", at, [t["saml"]], text=f"SAML assertion fails {week}")
        # every small shop asks for the offline mobile app: SMB's own top theme
        for i in range(4):
            w.feedback(f"smb{i}", at - timedelta(hours=3 + i), [t["mobile"]],
                       text=f"Shop {i} wants offline mode in the app, week {week}")
        w.feedback(None, at, [t["chat"]], text="Thanks for the call, talk soon")
        w.feedback("smb1", at, [t["hid"]], text="test ticket please ignore")
    for i in range(10):  # a surge: ten new shops ask for a Shopify app in the last days
        for day in (1, 4):
            w.feedback(f"new{i}", END - timedelta(days=day, hours=i), [t["shopify"]],
                       text=f"New shop {i} needs a Shopify app")
    rebuild_trends(db, settings)
    return t


@pytest.fixture
def built(settings, db, tmp_path) -> tuple[dict[str, int], Path, str]:
    themes = _build(db, settings)
    out = write_report(db, tmp_path / "report.html", settings)
    return themes, out, out.read_text(encoding="utf-8")


def _card(text: str, theme_id: int) -> str:
    start = text.index(f'id="theme-{theme_id}"')
    return text[start:text.index("</details>", start)]


def test_report_is_small_self_contained_and_organised_by_parent(built):
    t, out, text = built
    assert out.stat().st_size < 200_000
    # nothing to fetch: no external script, image, stylesheet or font
    assert not re.search(r"""\bsrc=|<link\b|@import|url\(""", text), "an external resource"
    assert "plotly" not in text.lower()
    # parent cards hold their leaves; every in-page link has its target
    sso = text[text.index(f'id="theme-{t["sso"]}"'):text.index(f'id="theme-{t["data"]}"')]
    assert f'href="#theme-{t["okta"]}"' in sso and f'href="#theme-{t["saml"]}"' in sso
    targets = set(re.findall(r'id="(theme-\d+)"', text))
    assert set(re.findall(r'href="#(theme-\d+)"', text)) <= targets
    assert LONG_LABEL in text  # never cut at 40 characters
    # chatter and hidden themes are not listed, only counted in the footnote
    assert "Thanks for the call" not in text and "Internal test tickets" not in text
    assert "1 chatter themes (8 records in the window)" in text
    assert "1 hidden themes (8 records in the window)" in text
    # lineage in words
    assert "<b>merge</b> with #" in _card(text, t["okta"])
    # a capped list says so (here nothing is cut)
    assert re.search(r"Showing \d+ of \d+ themes\.", text)


def test_quotes_come_from_different_accounts(built, db):
    t, _, text = built
    w = report_data.report_window(db, 90)
    quotes = report_data.quotes(db, w, [t["okta"], t["mobile"]])
    for theme_id in (t["okta"], t["mobile"]):
        accounts = [q.account_id for q in quotes[theme_id]]
        assert len(accounts) == len(set(accounts)) >= 2, accounts
    card = _card(text, t["okta"])
    assert "Acme Corp (enterprise)" in card and "Cora GmbH (mid_market)" in card


def test_numbers_agree_with_the_trend_views(built, db, settings):
    t, _, text = built
    w = report_data.report_window(db, 90)
    assert w.as_of == END and w.last_partial and w.weeks[-1].weekday() == 0
    rows = {r.theme_id: r for r in report_data.figures(
        db, w, ScoreWeights.from_settings(settings))}
    weekly = report_data.weekly_mentions(db, w)
    for key in ("okta", "csv", "mobile"):
        theme_id = t[key]
        view = dict(db.execute(
            "SELECT period_start, mentions FROM trends.theme_trends WHERE theme_id = %s "
            "AND grain = 'week' AND segment = 'all' AND period_start >= %s",
            (theme_id, w.start)).fetchall())
        assert weekly[theme_id] == [view.get(p, 0) for p in w.weeks]
        assert rows[theme_id].mentions == sum(view.values())
        accounts, arr = db.execute(
            "SELECT count(DISTINCT f.account_id), coalesce(sum(DISTINCT a.arr), 0) "
            "FROM trends.feedback_themes ft JOIN trends.feedback f USING (feedback_id) "
            "JOIN trends.accounts a USING (account_id) WHERE ft.theme_id = %s "
            "AND f.created_at >= %s", (theme_id, w.since)).fetchone()
        assert rows[theme_id].accounts == accounts and rows[theme_id].arr == float(arr)
        card = _card(text, theme_id)
        assert (f"{rows[theme_id].mentions:,} mentions from {rows[theme_id].accounts:,} "
                f"accounts") in card
    # one week: the report's weekly point is the view's row for that week
    week = w.weeks[-2]
    mentions = db.execute(
        "SELECT mentions FROM trends.theme_trends WHERE theme_id = %s AND grain = 'week' "
        "AND segment = 'all' AND period_start = %s", (t["okta"], week)).fetchone()[0]
    assert weekly[t["okta"]][-2] == mentions == 2
    # the pipeline linked to Acme's records, counted once
    assert rows[t["okta"]].pipeline == 250_000


def _segment_tiles(text: str) -> dict[str, list[str]]:
    seg = text[text.index('id="segments"'):text.index('id="sales"')]
    tiles = seg.split('<div class="tile"><h4>')[1:]
    return {tile[:tile.index("</h4>")]: re.findall(r'<a href="#theme-\d+">([^<]+)</a>', tile)
            for tile in tiles}


def test_each_segment_shows_its_own_top_themes(built):
    _, _, text = built
    tiles = _segment_tiles(text)
    assert set(tiles) == {"enterprise", "mid_market", "smb"}
    # overall, the enterprise weight puts SSO first ...
    overall = text[text.index('id="themes"'):]
    assert overall.index("Single sign-on") < overall.index("Offline mode in the mobile app")
    # ... but each segment shows what it asks for itself
    assert tiles["enterprise"] == ["SSO with Okta"]
    assert tiles["smb"][:2] == ["Shopify app integration", "Offline mode in the mobile app"]
    assert "SAML login errors" in tiles["smb"]
    assert set(tiles["mid_market"]) == {"SSO with Okta", LONG_LABEL}


def test_emerging_theme_is_listed_with_evidence_in_words(built):
    t, _, text = built
    em = text[text.index('id="emerging"'):text.index('id="segments"')]
    assert f'href="#theme-{t["shopify"]}"' in em
    assert "20 mentions from 10 accounts since" in em and "expected from its own baseline" in em
    assert "accounts by segment: 10 smb" in em
    assert "<q>we need shopify app integration</q>" in em  # emerging themes carry quotes


def test_emerging_evidence_reads_as_words():
    row = {"mentions": 53, "accounts": 33, "period_start": "2024-06-03", "is_new": False,
           "arr": 1_250_000.0, "pipeline": 300_000.0,
           "evidence": {"exposure_per_period": [1.0] * 12 + [1.0, 0.4], "recent_periods": 2,
                        "baseline_periods": 12, "baseline_mentions": 42,
                        "accounts_expected": 3.2}}
    assert evidence_words(row) == (
        "53 mentions from 33 accounts since 2024-06-03 (1.4 weeks); about 5 mentions and 3 "
        "accounts expected from its own baseline; ARR $1.2M, open pipeline $300.0k")


def _chromium(*args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                           "--hide-scrollbars", "--no-first-run", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("size", ["1440,900", "1280,800"])
def test_renders_in_headless_chromium(built, tmp_path, size):
    t, out, _ = built
    profile = tmp_path / f"chromium-{size.replace(',', 'x')}"
    uri = out.resolve().as_uri()
    dom = _chromium(f"--user-data-dir={profile}", f"--window-size={size}",
                    "--virtual-time-budget=3000", "--dump-dom", f"{uri}#theme-{t['okta']}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    ready = re.search(r'<div id="report-ready" hidden="" data-charts="(\d+)" data-cards="(\d+)"',
                      dom.stdout)
    assert ready, "the page's script did not finish"
    assert int(ready.group(1)) >= 10 and int(ready.group(2)) >= 5
    assert "data-js-error" not in dom.stdout
    # the link opened the card it points into (and its parent)
    assert re.search(rf'<details class="card" id="theme-{t["sso"]}" open="">', dom.stdout)
    assert re.search(rf'<details class="card" id="theme-{t["okta"]}" open="">', dom.stdout)
    png = tmp_path / f"report-{size}.png"
    shot = _chromium(f"--user-data-dir={profile}", f"--window-size={size}",
                     f"--screenshot={png}", uri)
    assert shot.returncode == 0 and png.stat().st_size > 10_000, shot.stderr[-2000:]
    width, height = (int(v) for v in size.split(","))
    assert png.read_bytes()[16:24] == width.to_bytes(4, "big") + height.to_bytes(4, "big")


def test_report_of_an_empty_database_still_renders(settings, db, tmp_path):
    text = write_report(db, tmp_path / "empty.html", settings).read_text()
    assert "No themed feedback in the window" in text and "No theme rises" in text
    assert json.dumps("Deals and revenue")[1:-1] in text

"""`emerging` for a PM: segment mix, evidence in words, related themes growing too,
--segment and --format, a header on every column."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from warehouse.queries import describe_evidence, emerging_report
from warehouse.trends import rebuild_trends

from .test_trends import World, cli  # noqa: F401  (the `cli` fixture)


def _world(db) -> dict[str, int]:
    """A steady theme, a surging one (10 accounts in the last two weeks) and a sibling of it
    (close centroid) that grows without being flagged."""
    w = World(db)
    for i in range(12):
        w.account(f"e{i}", "enterprise" if i < 4 else "smb", 300_000 if i < 4 else 15_000)
    themes = {name: w.theme(name) for name in ("Steady", "Shopify sync", "Shopify tags")}
    now = datetime.now(UTC)
    base = now - timedelta(weeks=13)
    for k in range(14):
        for i in range(2):
            w.feedback(f"e{4 + (k + i) % 8}", base + timedelta(weeks=k), [themes["Steady"]])
    for k in (12, 13):
        for i in range(10):
            w.feedback(f"e{i}", base + timedelta(weeks=k), [themes["Shopify sync"]])
    w.feedback("e11", base + timedelta(weeks=9), [themes["Shopify tags"]])
    for i in range(3):
        w.feedback(f"e{5 + i}", base + timedelta(weeks=12), [themes["Shopify tags"]])
    for name, vec in (("Steady", "[0,1,0]"), ("Shopify sync", "[1,0,0]"),
                      ("Shopify tags", "[0.95,0.2,0]")):
        db.execute("UPDATE trendmine.themes SET centroid = %s::vector WHERE theme_id = %s",
                   (vec, themes[name]))
    return themes


def test_emerging_reads_like_a_sentence(settings, db):
    themes = _world(db)
    rebuild_trends(db, settings)
    rows = emerging_report(db)
    assert [r.theme_id for r in rows] == [themes["Shopify sync"]]
    hot = rows[0]
    assert hot.segment_accounts == {"smb": 6, "enterprise": 4}
    assert hot.evidence.startswith("20 mentions from 10 accounts in the last ")
    assert "new: no mentions before" in hot.evidence
    sibling = [r for r in hot.related if r.theme_id == themes["Shopify tags"]]
    assert sibling and sibling[0].growth is not None and sibling[0].growth > 0
    assert themes["Steady"] not in {r.theme_id for r in hot.related}


def test_evidence_in_words_for_a_theme_with_history():
    e = {"mentions": 53, "accounts": 33, "grain": "week", "is_new": False,
         "evidence": {"recent_periods": 3, "exposure_per_period": [1.0] * 13 + [0.4],
                      "baseline_periods": 12, "baseline_mentions": 24,
                      "accounts_expected": 4.2, "top_account_share": 0.1}}
    assert describe_evidence(e) == (
        "53 mentions from 33 accounts in the last 2.4 weeks; about 5 mentions and 4 accounts "
        "expected from the 12 weeks before")


@pytest.mark.parametrize("segment, kept", [("SMB", True), ("enterprise", True),
                                           ("mid_market", False)])
def test_emerging_segment_filter(settings, db, cli, segment, kept):  # noqa: F811
    themes = _world(db)
    rebuild_trends(db, settings)
    r = cli("emerging", "--segment", segment, "--format", "json")
    assert r.exit_code == 0, r.output
    ids = [row["theme_id"] for row in json.loads(r.output)]
    assert ids == ([themes["Shopify sync"]] if kept else [])


def test_emerging_formats_and_headers(settings, db, cli):  # noqa: F811
    _world(db)
    rebuild_trends(db, settings)
    rows = list(csv.reader(io.StringIO(cli("emerging", "--format", "csv").output)))
    assert all(rows[0]) and "segment_accounts" in rows[0] and "evidence" in rows[0]
    out = cli("emerging").output
    assert "20 mentions from 10 accounts in the last" in " ".join(out.split())
    assert "related, growing too" in out and "Shopify tags" in out
    assert "recent window from" in out


def test_theme_pages_and_exports_every_requester(settings, db, cli):  # noqa: F811
    themes = _world(db)
    rebuild_trends(db, settings)
    hot = str(themes["Shopify sync"])
    last = cli("theme", hot, "--page-size", "4", "--page", "3")
    assert last.exit_code == 0, last.output
    assert "accounts asking: 9-10 of 10" in last.output and "next: --page" not in last.output
    assert "next: --page 2" in cli("theme", hot, "--page-size", "4").output
    rows = list(csv.DictReader(io.StringIO(cli("theme", hot, "--format", "csv").output)))
    assert len(rows) == 10 and {r["account_id"] for r in rows} == {f"e{i}" for i in range(10)}
    assert {"segment", "arr", "mentions", "first_mention", "last_mention",
            "open_pipeline"} <= set(rows[0])
    smb = json.loads(cli("theme", hot, "--format", "json", "--segment", "SMB").output)
    assert len(smb) == 6 and {r["segment"] for r in smb} == {"smb"}

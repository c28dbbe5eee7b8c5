"""`similar` answers by account over every stored record: grouping, totals over all matches
whatever --limit lists, records outside the mining window, the theme the request belongs to,
long templated reports, the floor, links, and the export formats, on records embedded with the
real bundled model."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from mining.boilerplate import strip_boilerplate
from mining.embed import Embedder
from warehouse.similar import index_missing, request_text, similar_by_account, unindexed

from .test_trends import World, cli  # noqa: F401  (the `cli` fixture)

NOW = datetime.now(UTC)
SSO = [
    ("acme", 40, "We need SAML single sign-on with Okta before we can roll out to all staff."),
    ("acme", 5, "Single sign-on via SAML is still a blocker for our security team. "
     "Okta SSO is required by our IT policy and every employee must log in through it; "
     "without it procurement will not sign the renewal this quarter."),
    ("bolt", 12, "Can users log in with their Okta account (SSO)?"),
    (None, 8, "Please add SSO login through Okta or SAML"),
    ("dyna", 900, "Our auditors want SSO: log in through Okta with SAML, please."),  # old
]
OTHER = [("cide", 3, "Export the monthly invoice list to CSV"),
         ("cide", 2, "Dark mode for the dashboard would be lovely")]
# a long templated report: its request is one line among steps, environment and a signature
BUG_REPORT = """Summary: reports page

Steps to reproduce:
1. Log in as an admin
2. Open the Reports page
3. Click the Export button

Actual results:
Nothing happens after clicking, we wait a minute and give up.

Expected results:
We need to export the monthly invoice list to CSV for the accountants.

Reproducible: Always
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0
Build ID: 20261104093011

Thanks,
Erin Park
Finance Lead | Eon Ltd
T: +44 20 7946 0958

> On Tue, 3 Nov 2026, Support wrote:
> Could you try turning single sign-on with Okta off and on again?
"""


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(device="cpu")


def _world(db, embedder: Embedder) -> dict[str, int]:
    w = World(db)
    w.account("acme", "enterprise", 250_000, name="Acme [bold]Corp[/bold]")
    w.account("bolt", "smb", 12_000)
    w.account("cide", "mid_market", 60_000)
    w.account("dyna", "smb", 8_000)
    w.account("eon", "smb", 9_000)
    w.opportunity("o1", "acme", 80_000)
    w.opportunity("o2", "acme", 20_000)
    w.opportunity("o3", "bolt", 5_000, stage="won")
    sso, export = w.theme("SSO / SAML login"), w.theme("CSV export")
    ids = {}
    for (account, days, text), theme in [*((r, sso) for r in SSO), *((r, export) for r in OTHER),
                                         (("eon", 20, BUG_REPORT), export)]:
        fid = w.feedback(account, NOW - timedelta(days=days), [theme], text=text)
        db.execute("UPDATE trendmine.feedback SET url = %s WHERE feedback_id = %s",
                   (f"https://support.example.com/tickets/{fid}", fid))
        ids[text] = fid
    return {"sso": sso, "export": export, "bug": ids[BUG_REPORT]}


def _ask(db, embedder, text: str, floor: float, limit: int | None = None):
    if unindexed(db, embedder.model_id):
        index_missing(db, embedder.encode, embedder.model_id)
    q = embedder.encode([request_text(text)])[0]
    return similar_by_account(db, text, q, embedder.model_id, floor, limit)


def test_similar_counts_every_match_over_all_history_and_names_the_theme(
        settings, db, embedder, cli):  # noqa: F811
    t = _world(db, embedder)
    answer = _ask(db, embedder, "SSO login with Okta / SAML", settings.similar_min_similarity)
    assert answer.close_match
    names = [a.account_id for a in answer.accounts]
    assert set(names) == {"acme", "bolt", "dyna", None} and names[-1] is None  # anonymous last
    acme = next(a for a in answer.accounts if a.account_id == "acme")
    assert acme.mentions == 2 and acme.open_deals == 2 and acme.open_pipeline == 100_000
    assert (NOW - acme.first).days == 40 and (NOW - acme.last).days == 5
    # the 900-day-old record (outside any mining window) is found and counted
    assert answer.totals == {"accounts": 3, "arr": 270_000, "open_pipeline": 100_000,
                             "open_deals": 2, "records": 5,
                             "segments": {"smb": 2, "enterprise": 1}}
    assert [(th.theme_id, th.matches, th.theme_accounts) for th in answer.themes] == [
        (t["sso"], 5, 3)]

    r = cli("similar", "SSO login with Okta / SAML")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "3 accounts asked (ARR 270k, open pipeline 100k in 2 deals" in text
    assert "all stored history searched" in text
    assert f"It belongs to theme #{t['sso']} 'SSO / SAML login'" in text
    assert "Acme [bold]Corp[/bold]" in r.output  # stored markup printed, not interpreted
    assert "https://support.example.com/tickets/" in r.output
    assert "…" in r.output and "--full" in r.output  # the long text is shortened
    full = cli("similar", "SSO login with Okta / SAML", "--full")
    assert "sign the renewal this quarter." in full.output

    # --limit lists fewer accounts; the totals still count them all, and say so
    one = cli("similar", "SSO login with Okta / SAML", "--limit", "1")
    assert "3 accounts asked" in " ".join(one.output.split())
    assert "listing 1 of 4 rows (one for records without a known account)" in " ".join(
        one.output.split()), one.output
    data = json.loads(cli("similar", "SSO login with Okta / SAML", "--limit", "1",
                          "--format", "json").stdout)
    assert data["totals"]["accounts"] == 3 and data["listed_accounts"] == 1
    assert data["themes"][0]["theme_id"] == t["sso"]
    rows = list(csv.DictReader(io.StringIO(
        cli("similar", "SSO login with Okta / SAML", "--format", "csv").stdout)))
    assert len(rows) == 5 and {"account_name", "similarity", "url", "created_at"} <= set(rows[0])


def test_a_long_templated_report_is_found_by_its_request_not_its_boilerplate(
        settings, db, embedder):
    t = _world(db, embedder)
    answer = _ask(db, embedder, "Acme wants to export the invoice list to CSV",
                  settings.similar_min_similarity)
    found = {r.feedback_id for a in answer.accounts for r in a.records}
    assert t["bug"] in found
    assert {a.account_id for a in answer.accounts} == {"cide", "eon"}  # no SSO record counted
    # the stored search text lost the template, environment, signature and quoted thread
    kept = db.execute("SELECT search_text FROM trendmine.feedback_search WHERE feedback_id = %s",
                      (t["bug"],)).fetchone()[0]
    assert "invoice list to CSV" in kept and "Open the Reports page" in kept
    for gone in ("Mozilla", "Build ID", "Erin Park", "Okta", "Steps to reproduce", "Thanks"):
        assert gone not in kept, gone


def test_weak_matches_are_not_counted_as_asks(settings, db, embedder, cli):  # noqa: F811
    _world(db, embedder)
    answer = _ask(db, embedder, "Acme wants bulk export of invoices to CSV",
                  settings.similar_min_similarity)
    assert {a.account_id for a in answer.accounts} <= {"cide", "eon"}
    assert answer.totals["accounts"] == len(answer.known)
    r = cli("similar", "Acme wants bulk export of invoices to CSV")
    text = " ".join(r.output.split())
    if "eon" not in {a.account_id for a in answer.accounts}:  # the report sits at the floor
        assert "nearest below the floor, not counted: Eon" in text, r.output
    assert "Bolt" not in text  # an SSO record is not even near
    assert "1 account asked" in text and "1 record at similarity >= 0.63" in text
    r = cli("similar", "HIPAA compliance and a signed BAA for patient health records")
    assert r.exit_code == 0, r.output
    assert "No close match" in r.output
    data = json.loads(cli("similar", "HIPAA compliance and a signed BAA for patient health "
                          "records", "--format", "json").stdout)
    assert not data["close_match"] and data["accounts"] == []
    assert data["best_similarity"] < data["floor"]
    # a lower floor, asked for explicitly, shows the weak neighbours
    low = cli("similar", "HIPAA compliance", "--min-similarity", "-1", "--format", "json")
    assert json.loads(low.stdout)["close_match"]


def test_an_edited_record_is_indexed_again(settings, db, embedder):
    _world(db, embedder)
    assert index_missing(db, embedder.encode, embedder.model_id) > 0
    assert unindexed(db, embedder.model_id) == 0
    db.execute("UPDATE trendmine.feedback SET text = 'Please add a Gantt chart view', "
               "text_hash = 'edited' WHERE account_id = 'bolt'")
    assert unindexed(db, embedder.model_id) == 1
    answer = _ask(db, embedder, "a Gantt chart view", settings.similar_min_similarity)
    assert [a.account_id for a in answer.accounts] == ["bolt"]


def test_a_link_whose_id_was_redacted_says_so(settings, db, embedder, cli):  # noqa: F811
    _world(db, embedder)
    db.execute("UPDATE trendmine.feedback SET url = 'https://app.gong.io/call?id=[CARD]' "
               "WHERE account_id = 'bolt'")
    r = cli("similar", "SSO login with Okta / SAML")
    assert "call?id=[CARD]" in r.output
    assert "part of this link was redacted at ingest as CARD" in " ".join(r.output.split())


def test_strip_boilerplate_keeps_the_request_only():
    kept = strip_boilerplate(BUG_REPORT)
    assert kept.splitlines() == [
        "reports page", "1. Log in as an admin", "2. Open the Reports page",
        "3. Click the Export button",
        "Nothing happens after clicking, we wait a minute and give up.",
        "We need to export the monthly invoice list to CSV for the accountants."]
    assert strip_boilerplate("Thanks,") == "Thanks,"  # all boilerplate: the text itself
    assert strip_boilerplate("Hi team,\nPlease add dark mode.\n\nBest,\nSam") == \
        "Please add dark mode."
    # a request that opens with a greeting word is not a greeting line
    assert strip_boilerplate("Hello Brightwave team,\nHey, can you add dark mode to the app\n"
                             "thanks") == "Hey, can you add dark mode to the app"


def test_the_request_is_searched_without_who_asks():
    assert request_text("Acme wants bulk export of invoices to CSV") == \
        "bulk export of invoices to CSV"
    assert request_text("The customer is asking for dark mode") == "dark mode"
    assert request_text("Acme Corp needs to export the invoice list") == \
        "export the invoice list"
    assert request_text("Export to CSV please") == "Export to CSV please"


def test_vectors_the_mining_flow_made_are_reused_not_encoded_again(db):
    import numpy as np
    from pgvector.psycopg import register_vector

    from mining.embed import text_hash

    w = World(db)
    w.account("acme", "smb", 1_000)
    fid = w.feedback("acme", NOW, [w.theme("SSO")], text="Please add SSO")
    register_vector(db)
    mined = np.array([1, 0, 0, 0], dtype=np.float32)  # as mining stored it for this text
    db.execute("UPDATE trendmine.feedback_snippet SET text = 'Please add SSO', text_hash = %s "
               "WHERE feedback_id = %s", (text_hash("Please add SSO"), fid))
    db.execute("INSERT INTO trendmine.feedback_embedding (feedback_id, ord, model, text_hash, "
               "embedding) VALUES (%s, 0, 'm', %s, %s)", (fid, text_hash("Please add SSO"), mined))

    def encode(texts: list[str]) -> np.ndarray:
        raise AssertionError(f"encoded again: {texts}")

    assert index_missing(db, encode, "m") == 1
    stored = db.execute("SELECT embedding FROM trendmine.feedback_search_embedding "
                        "WHERE feedback_id = %s", (fid,)).fetchone()[0]
    assert list(stored.to_numpy()) == [1, 0, 0, 0]

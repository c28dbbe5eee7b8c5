"""Accounts across sources (docs/accounts.md): clues carried, matched in order of trust,
ambiguity queued for review, records re-attributed when identities arrive later, and no
author e-mail address stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.errors import TrendmineError
from ingest.direct import store_files
from ingest.normalise import company_key, email_domain
from ingest.validate import fast_feedback, parse_model
from ingest.writer import account_clues
from schemas.events import FeedbackEvent
from warehouse import accounts as acc

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)

ACCOUNTS = [
    {"account_id": "001A", "name": "Acme, Inc.", "segment": "enterprise", "arr": 120000,
     "domains": ["https://www.acme.com/"], "external_ids": {"zendesk": "361"}},
    {"account_id": "001B", "name": "Globex GmbH", "segment": "smb", "arr": 9000,
     "domains": ["globex.de"], "external_ids": {"intercom": "c-77"}},
    {"account_id": "001C", "name": "Initech LLC", "segment": "mid_market", "arr": 40000},
    {"account_id": "001D", "name": "Initech Ltd", "segment": "smb", "arr": 5000},
    {"account_id": "001E", "name": "Umbrella Pharmaceuticals", "segment": "smb", "arr": 7000},
]
for _a in ACCOUNTS:
    _a["updated_at"] = T0.isoformat()


def _fb(i: int, **over) -> dict:
    e = {"source": "support_tickets", "source_id": f"t:{i}", "text": f"Ticket {i}: SAML SSO",
         "created_at": (T0 + timedelta(hours=i)).isoformat()}
    e.update(over)
    return e


FEEDBACK = [
    _fb(1, account_id="001B"),                                              # CRM id
    _fb(2, account_ref={"system": "zendesk", "id": "361"}),                 # external id
    _fb(3, author_email="Jane.Doe@acme.com"),                               # e-mail domain
    _fb(4, account_ref={"system": "canny", "name": "ACME"}),                # name as typed
    _fb(5, author_email="bob.smith@gmail.com"),                             # personal only
    _fb(6, account_ref={"system": "canny", "name": "Initech"}),             # two Initechs
    _fb(7, account_ref={"system": "canny", "name": "Umbrella Pharmaceutical"}),  # fuzzy
    _fb(8, account_ref={"system": "intercom", "id": "c-77", "name": "Acme"},
        author_email="x@acme.com"),                                         # id beats name
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _stored(db) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in db.execute(
        "SELECT source_id, account_id, account_method, account_confidence, account_ref "
        "FROM trendmine.feedback")}


def test_company_key_drops_case_punctuation_and_legal_suffixes():
    for typed in ("ACME", "Acme, Inc.", "acme inc", "The Acme Corp.", "Acme GmbH", "Acme S.A."):
        assert company_key(typed) == "acme", typed
    assert company_key("Acme Widgets Ltd.") == "acme widgets"
    assert company_key("Inc") == "inc"  # a name that is only a suffix stays itself
    assert company_key("  ") is None


def test_free_mail_and_addresses_never_kept():
    assert email_domain("a@GMAIL.com") is None and email_domain("a@outlook.com") is None
    assert email_domain("jane@mail.acme.com") == "mail.acme.com"
    event = FeedbackEvent.model_validate(_fb(9, author_email="jane.doe@acme.com"))
    clues = account_clues(event)
    assert clues == json.dumps({"domain": "acme.com"}) and "jane" not in clues
    personal = FeedbackEvent.model_validate(_fb(9, author_email="jane.doe@gmail.com"))
    assert account_clues(personal) is None


def test_fast_path_reads_clues_as_pydantic_does():
    raw = json.dumps(_fb(1, account_ref={"system": "zendesk", "id": "361", "name": "Acme"},
                         author_email="j@acme.com")).encode()
    fast, slow = fast_feedback(raw), parse_model(FeedbackEvent, raw)
    assert fast is not None and fast.account_ref.id == slow.account_ref.id == "361"
    assert fast.author_email == slow.author_email
    padded = json.dumps(_fb(1, account_ref={"system": "zendesk", "id": " 361"})).encode()
    assert fast_feedback(padded) is None  # pydantic strips it: it decides
    unknown = json.dumps(_fb(1, account_ref={"system": "zendesk", "org": "1"})).encode()
    assert fast_feedback(unknown) is None


def test_resolution_in_order_of_trust(settings, db, tmp_path):
    counts = store_files(settings, {
        "accounts": [_jsonl(tmp_path / "accounts.jsonl", ACCOUNTS)],
        "support_tickets": [_jsonl(tmp_path / "tickets.jsonl", FEEDBACK)],
    })
    assert not counts.rejected  # a record without account_id is stored, not dead-lettered
    rows = _stored(db)
    assert rows["t:1"][:2] == ("001B", "crm_id")
    assert rows["t:2"][:2] == ("001A", "external_id")
    assert rows["t:3"][:2] == ("001A", "email_domain")
    assert rows["t:4"][:2] == ("001A", "name")
    assert rows["t:5"] == (None, None, None, None)  # personal e-mail: no clue, no account
    assert rows["t:6"][:2] == (None, "ambiguous")  # never a guess
    assert rows["t:7"][:2] == (None, None)  # fuzzy only after the name pass
    assert rows["t:8"][:2] == ("001B", "external_id")
    # no author address anywhere in the stored rows
    dump = json.dumps([list(map(str, r)) for r in db.execute(
        "SELECT * FROM trendmine.feedback").fetchall()])
    assert "jane.doe" not in dump.lower() and "bob.smith" not in dump and "gmail" not in dump

    queue = {c.clue: c for c in acc.unresolved(db)}
    assert queue["name:initech"].ambiguous
    assert {c.account_id for c in queue["name:initech"].candidates} == {"001C", "001D"}
    assert [c.account_id for c in queue["name:umbrella pharmaceutical"].candidates] == ["001E"]

    done = acc.reresolve(db, settings)
    assert done.records == 1  # the fuzzy match
    assert _stored(db)["t:7"][:2] == ("001E", "name_fuzzy")

    acc.resolve_clue(db, settings, "name:Initech", "001C")
    assert _stored(db)["t:6"][:3] == ("001C", "manual", 1.0)
    assert not acc.unresolved(db)

    share = {r.source: r for r in acc.resolution_by_source(db)}["support_tickets"]
    assert (share.records, share.unresolved, share.no_clue) == (8, 1, 1)

    # replaying every message changes nothing: the writer resolves as the pass did
    again = store_files(settings, {"support_tickets": [tmp_path / "tickets.jsonl"]})
    assert again.feedback == 0


def test_feedback_before_its_account_is_reattributed(settings, db, tmp_path):
    store_files(settings, {"support_tickets": [_jsonl(tmp_path / "t.jsonl", FEEDBACK[1:4])]})
    assert {r[0] for r in _stored(db).values()} == {None}
    store_files(settings, {"accounts": [_jsonl(tmp_path / "a.jsonl", ACCOUNTS[:1])]})
    assert {r[:2] for r in _stored(db).values()} == {
        ("001A", "external_id"), ("001A", "email_domain"), ("001A", "name")}
    # a newer snapshot without the Zendesk id: its record goes back to unresolved
    newer = dict(ACCOUNTS[0], external_ids={}, updated_at=(T0 + timedelta(days=1)).isoformat())
    store_files(settings, {"accounts": [_jsonl(tmp_path / "a2.jsonl", [newer])]})
    assert _stored(db)["t:2"][:2] == (None, None)


def test_mapping_file(settings, db, tmp_path):
    store_files(settings, {
        "accounts": [_jsonl(tmp_path / "a.jsonl", ACCOUNTS)],
        "ideas": [_jsonl(tmp_path / "i.jsonl", [
            _fb(20, source="ideas", account_ref={"system": "canny", "id": "cmp-1"}),
            _fb(21, source="ideas", author_email="ceo@initech.io"),
        ])],
    })
    mapping = tmp_path / "map.csv"
    mapping.write_text("account_id,kind,value\n001C,canny,cmp-1\n001C,domain,www.initech.io\n"
                       "001Z,name,Nobody Known\n")
    result = acc.import_mapping(db, settings, acc.read_mapping(mapping))
    assert (result.rows, result.unknown_accounts, result.result.records) == (3, 1, 2)
    assert {r[:2] for r in _stored(db).values()} == {("001C", "external_id"),
                                                      ("001C", "email_domain")}
    mapping.write_text("account_id,kind,value\n001C,domain,gmail.com\n")
    with pytest.raises(TrendmineError, match="free-mail"):
        acc.read_mapping(mapping)
    with pytest.raises(TrendmineError, match="KIND:VALUE"):
        acc.parse_clue("initech")


def test_cli_and_doctor_show_the_queue_and_the_share(settings, db, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from foundation.config import get_settings
    from infra.doctor import check_accounts
    from trendmine.cli import app

    store_files(settings, {
        "accounts": [_jsonl(tmp_path / "a.jsonl", ACCOUNTS)],
        "support_tickets": [_jsonl(tmp_path / "t.jsonl", FEEDBACK)],
    })
    check = check_accounts(settings)
    assert not check.ok and "support_tickets 38% unresolved" in check.detail
    from report.html import write_report

    write_report(db, tmp_path / "report.html", settings)
    page = (tmp_path / "report.html").read_text()
    assert "Feedback on no CRM account" in page and "support_tickets 38% (3 of 8" in page
    assert "accounts unresolved" in check.fix
    for k, v in (("TRENDMINE_DATABASE_URL", settings.dsn()),
                 ("TRENDMINE_KAFKA_BOOTSTRAP", settings.bootstrap()),
                 ("TRENDMINE_TOPIC_PREFIX", settings.topic_prefix), ("COLUMNS", "160")):
        monkeypatch.setenv(k, v)
    get_settings(fresh=True)
    try:
        r = CliRunner().invoke(app, ["accounts", "unresolved"])
        assert r.exit_code == 0, r.output
        assert "name:initech" in r.output and "001C" in r.output and "ambiguous" in r.output
        r = CliRunner().invoke(app, ["accounts", "resolve", "name:Initech", "001C"])
        # the decided one and the fuzzy match the pass finds on the way
        assert r.exit_code == 0 and "2 records re-attributed" in r.output, r.output
        r = CliRunner().invoke(app, ["accounts", "resolve", "name:Initech", "nope"])
        assert r.exit_code != 0
        mapping = tmp_path / "map.csv"
        mapping.write_text("account_id,kind,value\n001E,name,Umbrella Pharmaceutical\n")
        r = CliRunner().invoke(app, ["accounts", "map", "import", str(mapping)])
        assert r.exit_code == 0 and "1 rows" in r.output, r.output
        r = CliRunner().invoke(app, ["status"])
        assert "feedback on no CRM account: support_tickets 12% (1 of 8)" in r.output, r.output
        r = CliRunner().invoke(app, ["accounts", "status"])
        assert r.exit_code == 0 and "support_tickets" in r.output and "12%" in r.output, r.output
    finally:
        get_settings(fresh=True)
    assert check_accounts(settings).ok  # the one left has no clue: nothing to act on


def test_a_shared_domain_is_settled_by_the_name_never_guessed(settings, db, tmp_path):
    shared = [dict(a, domains=["initech.com"]) for a in (ACCOUNTS[2], ACCOUNTS[4])]
    store_files(settings, {
        "accounts": [_jsonl(tmp_path / "a.jsonl", shared)],
        "ideas": [_jsonl(tmp_path / "i.jsonl", [
            _fb(30, source="ideas", author_email="a@initech.com",
                account_ref={"system": "canny", "name": "Umbrella Pharmaceuticals"}),
            _fb(31, source="ideas", author_email="b@initech.com"),
            _fb(32, source="ideas", author_email="c@initech.com",
                account_ref={"system": "canny", "name": "Acme"}),  # names neither
        ])],
    })
    rows = _stored(db)
    assert rows["t:30"][:2] == ("001E", "name")
    assert rows["t:31"][:2] == rows["t:32"][:2] == (None, "ambiguous")


def test_a_record_on_a_deal_lands_on_the_deals_account(settings, db, tmp_path):
    deal = {"opportunity_id": "006X", "account_id": "001C", "amount": 5000, "stage": "open",
            "updated_at": T0.isoformat()}
    call = _fb(40, source="sales_calls", opportunity_id="006X",
               account_ref={"system": "gong", "domain": "initech.com"})
    store_files(settings, {"sales_calls": [_jsonl(tmp_path / "c.jsonl", [call])]})
    assert _stored(db)["t:40"][:2] == (None, None)  # neither the deal nor the domain known
    store_files(settings, {"accounts": [_jsonl(tmp_path / "a.jsonl", ACCOUNTS)],
                           "opportunities": [_jsonl(tmp_path / "o.jsonl", [deal])]})
    assert _stored(db)["t:40"][:3] == ("001C", "deal", 1.0)
    share = {r.source: r for r in acc.resolution_by_source(db)}["sales_calls"]
    assert share.by_deal == 1

"""Connectors: every fixture format parses into records the canonical models accept, the
vendor fields land where they should, detection picks the format (or refuses clearly),
and unmappable records come out as Unparseable with a reason. No services needed."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from ingest import connectors
from ingest.connectors import Parsed, Unparseable
from ingest.connectors._base import parse_timestamp, sfdc_id
from schemas.events import Account, FeedbackEvent, Opportunity

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = {"accounts": Account, "opportunities": Opportunity}

# (target, fixture file, format, records expected, unparseable expected)
CASES = [
    ("crm_notes", "salesforce_notes.csv", "salesforce-notes-csv", 6, 2),
    ("crm_notes", "hubspot_notes.json", "hubspot-notes-json", 4, 2),
    ("crm_notes", "canonical_notes.jsonl", "canonical", 2, 2),
    ("support_tickets", "zendesk_tickets.json", "zendesk-tickets-json", 5, 2),
    ("support_tickets", "zendesk_incremental.jsonl", "zendesk-tickets-json", 3, 1),
    ("support_tickets", "intercom_conversations.json", "intercom-conversations-json", 4, 2),
    ("ideas", "canny_posts.json", "canny-posts-json", 5, 2),
    ("sales_calls", "gong_calls.json", "gong-calls-json", 4, 2),
    ("accounts", "salesforce_accounts.csv", "salesforce-accounts-csv", 6, 2),
    ("accounts", "hubspot_companies.json", "hubspot-companies-json", 4, 1),
    ("accounts", "canonical_accounts.jsonl", "canonical", 2, 0),
    ("opportunities", "salesforce_opportunities.csv", "salesforce-opportunities-csv", 5, 1),
    ("opportunities", "hubspot_deals.json", "hubspot-deals-json", 5, 1),
]


def _items(target: str, name: str, fmt: str) -> list[Parsed | Unparseable]:
    return list(connectors.parse(target, fmt, (FIXTURES / target / name).read_bytes()))


def _parsed(target: str, name: str, fmt: str) -> dict[str, Parsed]:
    """Parsed records by source_id / account_id / opportunity_id."""
    id_field = {"accounts": "account_id", "opportunities": "opportunity_id"}.get(
        target, "source_id")
    return {i.value[id_field]: i for i in _items(target, name, fmt) if isinstance(i, Parsed)}


# ---------------------------------------------------------------------------- all formats


@pytest.mark.parametrize(("target", "name", "fmt", "n_ok", "n_bad"), CASES)
def test_fixture_parses_and_validates(target, name, fmt, n_ok, n_bad):
    items = _items(target, name, fmt)
    ok = [i for i in items if isinstance(i, Parsed)]
    bad = [i for i in items if isinstance(i, Unparseable)]
    assert (len(ok), len(bad)) == (n_ok, n_bad)
    model = MODELS.get(target, FeedbackEvent)
    for item in ok:
        record = model.model_validate(item.value)
        json.dumps(item.value)  # JSON-able as it will be sent to Kafka
        if model is FeedbackEvent:
            assert record.source == target
            # keyed by the customer: the CRM id, else the source's own company id
            assert item.key == (record.account_id or (record.account_ref and record.account_ref.id))
            assert "<" not in record.text or "<p>" not in record.text
        elif model is Account:
            assert item.key == record.account_id
        else:
            assert item.key == record.opportunity_id
    for item in bad:
        assert item.raw and isinstance(item.raw, bytes)
        assert len(item.reason) > 15


@pytest.mark.parametrize(("target", "name", "fmt", "n_ok", "n_bad"), CASES)
def test_detects_each_fixture(target, name, fmt, n_ok, n_bad):
    data = (FIXTURES / target / name).read_bytes()
    assert connectors.detect_format(target, data[:65536], name) == fmt
    # Content alone is enough, the file name only breaks ties.
    assert connectors.detect_format(target, data[:65536]) == fmt


def test_every_format_has_a_fixture_and_targets_listed():
    assert {c[2] for c in CASES} == set(connectors.FORMATS)
    assert connectors.formats_for("crm_notes") == [
        "canonical", "salesforce-notes-csv", "hubspot-notes-json"]
    for target in connectors.TARGETS:
        assert connectors.formats_for(target)[0] == "canonical"


# ---------------------------------------------------------------------------- crm_notes


def test_salesforce_notes_mapping():
    recs = _parsed("crm_notes", "salesforce_notes.csv", "salesforce-notes-csv")
    on_account = recs["sfdc:0025g00000NtA01AAF"].value
    assert on_account["account_id"] == "0015g00000AbCdEAAV"
    assert on_account["created_at"] == "2024-03-01T10:15:00+00:00"
    assert on_account["author"] == "Dana Whitfield"
    assert on_account["text"].startswith("QBR follow-up: SSO\n\nAcme wants SAML SSO")
    # Parent is an Opportunity: the deal is linked and the account comes from AccountId.
    on_opp = recs["sfdc:0025g00000NtA02AAF"].value
    assert on_opp["opportunity_id"] == "0065g00000AcMeOAAV"
    assert on_opp["account_id"] == "0015g00000AbCdEAAV"
    # ContentNote: base64 HTML content decoded and rendered.
    content = recs["sfdc:0695g00000CnT01AAF"].value
    assert "- They need SAML SSO with Azure AD" in content["text"]
    assert "<li>" not in content["text"]
    assert content["metadata"]["object"] == "ContentNote"
    assert "finance exports" in recs["sfdc:0695g00000CnT02AAF"].value["text"]  # TextPreview
    # 15-char parent id normalised to 18; quoted reply and signature stripped.
    fwd = recs["sfdc:0025g00000NtA03AAF"].value
    assert fwd["account_id"] == sfdc_id("0015g00000UmBrL") == "0015g00000UmBrLAAV"
    assert "wrote:" not in fwd["text"] and "Priya Shah" not in fwd["text"]


def test_salesforce_note_unparseable_keeps_original_row():
    bad = [i for i in _items("crm_notes", "salesforce_notes.csv", "salesforce-notes-csv")
           if isinstance(i, Unparseable)]
    assert "CreatedDate 'not a date'" in bad[0].reason
    assert b"0025g00000NtA05AAF" in bad[0].raw and bad[0].raw.startswith(b'"ID","PARENTID"')
    assert "no Title/Body/Content text" in bad[1].reason


def test_hubspot_notes_mapping():
    recs = _parsed("crm_notes", "hubspot_notes.json", "hubspot-notes-json")
    first = recs["hubspot:51234567801"].value
    assert first["account_id"] == "9001001"
    assert "CSV export caps at 10,000 rows — they need" in first["text"]  # &mdash; decoded
    assert first["created_at"] == "2024-03-04T14:30:00+00:00"
    assert recs["hubspot:51234567802"].value["opportunity_id"] == "7700002"
    third = recs["hubspot:51234567803"].value
    assert third["account_id"] == "9001003"  # the primary association, not the first listed
    assert third["created_at"].startswith("2024-03-12T10:00:00")  # epoch milliseconds
    assert "Zapier >$400/mo" in third["text"] and "Alex" not in third["text"]
    assert "account_id" not in recs["hubspot:51234567804"].value  # a prospect


def test_hubspot_bare_list_and_single_object():
    page = json.loads((FIXTURES / "crm_notes/hubspot_notes.json").read_bytes())
    bare = json.dumps(page["results"][:2]).encode()
    assert len(list(connectors.parse("crm_notes", "hubspot-notes-json", bare))) == 2
    one = json.dumps(page["results"][0]).encode()
    [item] = connectors.parse("crm_notes", "hubspot-notes-json", io.BytesIO(one))
    assert isinstance(item, Parsed) and item.key == "9001001"


# ---------------------------------------------------------------------------- support


def test_zendesk_mapping():
    recs = _parsed("support_tickets", "zendesk_tickets.json", "zendesk-tickets-json")
    sso = recs["zendesk:40101"]
    assert sso.key == "360100001"
    v = sso.value
    assert v["url"] == "https://trendco.zendesk.com/agent/tickets/40101"
    assert v["author"] == "Maria Gomez"  # sideloaded users
    assert v["metadata"]["tags"] == ["sso", "enterprise"]
    assert v["metadata"]["priority"] == "high"
    assert v["metadata"]["organization_external_id"] == "0015g00000NrThWAAV"
    assert v["text"].startswith("SSO with Azure AD\n\n")
    assert "IT Director" not in v["text"] and "7946" not in v["text"]  # signature dropped
    export = recs["zendesk:40102"].value["text"]
    assert "month-end close" in export and "could you tell us" not in export
    assert "Sent from my iPhone" not in recs["zendesk:40103"].value["text"]
    assert "Original Message" not in recs["zendesk:40104"].value["text"]
    assert recs["zendesk:40104"].key is None  # no organization
    assert recs["zendesk:40105"].value["created_at"] == "2024-03-08T10:30:00+01:00"


def test_zendesk_jsonl_bad_line_is_unparseable():
    items = _items("support_tickets", "zendesk_incremental.jsonl", "zendesk-tickets-json")
    bad = [i for i in items if isinstance(i, Unparseable)]
    assert bad[0].raw.startswith(b'{"id": 40204') and "line 4 is not valid JSON" in bad[0].reason


def test_intercom_mapping():
    recs = _parsed("support_tickets", "intercom_conversations.json",
                   "intercom-conversations-json")
    first = recs["intercom:215470001"].value
    # company.company_id, not Intercom's own id: a clue, matched to the CRM at ingest
    assert "account_id" not in first
    assert first["account_ref"]["system"] == "intercom"
    assert first["account_ref"]["id"] == "9001002"
    assert first["created_at"] == "2024-03-08T10:00:00+00:00"  # unix seconds
    assert "120 seats" in first["text"]  # customer part kept
    assert "only on Enterprise today" not in first["text"]  # admin reply dropped
    assert first["metadata"]["tags"] == ["sso", "pricing"]
    assert recs["intercom:215470002"].value["account_ref"]["id"] == "9001006"  # custom attribute
    outbound = recs["intercom:215470003"].value
    assert outbound["text"] == "Cool, but what we really need is a HubSpot sync for deals."
    assert recs["intercom:215470005"].value["account_ref"]["id"] == "9001001"  # companies list
    reasons = [i.reason for i in _items("support_tickets", "intercom_conversations.json",
                                        "intercom-conversations-json")
               if isinstance(i, Unparseable)]
    assert any("no customer-written text" in r for r in reasons)
    assert any("has no id" in r for r in reasons)


# ---------------------------------------------------------------------------- ideas, calls


def test_canny_mapping():
    recs = _parsed("ideas", "canny_posts.json", "canny-posts-json")
    sso = recs["canny:65a100000000000000000001"].value
    assert sso["votes"] == 87
    assert sso["account_ref"]["id"] == "9001002"  # author.companies[0]
    assert "account_id" not in sso
    assert sso["text"].startswith("SAML SSO on the Business plan\n\nSecurity reviews")
    assert sso["url"].endswith("/p/saml-sso-on-the-business-plan")
    assert sso["metadata"]["board"] == "Feature Requests"
    assert sso["metadata"]["status"] == "under review"
    assert recs["canny:65a100000000000000000002"].value["account_ref"]["id"] == "9001003"
    assert "<b>" not in recs["canny:65a100000000000000000002"].value["text"]
    assert recs["canny:65a100000000000000000005"].value["text"] == "Dark mode"


def test_gong_mapping():
    recs = _parsed("sales_calls", "gong_calls.json", "gong-calls-json")
    acme = recs["gong:7782342274025937001"].value
    assert acme["account_id"] == "0015g00000AbCdEAAV"
    assert acme["opportunity_id"] == "0065g00000AcMeOAAV"
    assert acme["created_at"] == "2024-03-04T10:00:00-08:00"
    assert acme["author"] == "Dana Whitfield"
    text = acme["text"]
    assert text.startswith("Acme is considering expanding")
    assert "- SAML SSO with Okta is a renewal blocker" in text
    assert "Competitor X quoted us thirty percent less" in text  # external speaker
    assert "where did you land" not in text  # internal speaker left out
    assert acme["url"] == "https://us-12345.app.gong.io/call?id=7782342274025937001"
    inline = recs["gong:7782342274025937005"].value["text"]
    assert "Salesforce sync is the big one" in inline and "Thanks for joining" not in inline
    # 15-char Salesforce id in the context normalised to 18 characters.
    assert recs["gong:7782342274025937003"].value["account_id"] == "0015g00000InTcHAAV"
    reasons = [i.reason for i in _items("sales_calls", "gong_calls.json", "gong-calls-json")
               if isinstance(i, Unparseable)]
    assert any("7782342274025937999 has no call metadata" in r for r in reasons)


# ---------------------------------------------------------------------------- CRM entities


def test_salesforce_accounts_mapping():
    recs = _parsed("accounts", "salesforce_accounts.csv", "salesforce-accounts-csv")
    acme = recs["0015g00000AbCdEAAV"].value
    assert (acme["arr"], acme["segment"], acme["icp_fit"]) == (184000.0, "enterprise", 0.92)
    assert acme["updated_at"] == "2024-03-01T10:15:00+00:00"
    globex = recs["0015g00000GlBxQAAV"].value
    assert (globex["arr"], globex["segment"], globex["icp_fit"]) == (96500.0, "mid_market", 0.85)
    initech = recs["0015g00000InTcHAAV"].value
    assert (initech["segment"], initech["arr"]) == ("smb", 12000.0)  # derived; AnnualRevenue
    assert recs["0015g00000UmBrLAAV"].value["segment"] == "enterprise"  # 2,300 employees
    assert recs["0015g00000HoOlIAAV"].value["segment"] == "unknown"


def test_hubspot_companies_mapping():
    recs = _parsed("accounts", "hubspot_companies.json", "hubspot-companies-json")
    assert recs["9001001"].value["arr"] == 150000.0
    assert recs["9001002"].value["segment"] == "mid_market"  # 150 employees
    assert recs["9001004"].value["name"] == "contoso.example"


def test_opportunity_stage_mapping():
    sf = _parsed("opportunities", "salesforce_opportunities.csv", "salesforce-opportunities-csv")
    stages = {k: v.value["stage"] for k, v in sf.items()}
    assert stages == {
        "0065g00000AcMeOAAV": "open", "0065g00000GlBxOAAV": "won",
        "0065g00000HoOlIAAV": "lost", "0065g00000InTcHAAV": "open",
        "0065g00000UmBrLAAV": "won",  # StageName 'Closed Won' even with IsWon false
    }
    lost = sf["0065g00000HoOlIAAV"].value
    assert lost["loss_reason"] == "Missing SSO/SCIM" and lost["close_date"] == "2024-03-10"
    assert sf["0065g00000InTcHAAV"].value["amount"] == 0.0
    hs = _parsed("opportunities", "hubspot_deals.json", "hubspot-deals-json")
    assert {k: v.value["stage"] for k, v in hs.items()} == {
        "7700001": "open", "7700002": "lost", "7700003": "won", "7700004": "open",
        "7700005": "won",  # custom pipeline: hs_is_closed_won
    }
    assert hs["7700002"].value["loss_reason"] == "Price: seat tiers too steep"
    assert hs["7700003"].value["account_id"] == "9001003"  # v4 association shape
    assert hs["7700003"].value["close_date"] == "2024-03-01"  # epoch ms


# ---------------------------------------------------------------------------- canonical


def test_canonical_passes_dicts_through_and_keys_by_target():
    items = _items("crm_notes", "canonical_notes.jsonl", "canonical")
    assert items[0].key == "0015g00000AbCdEAAV" and items[1].key is None
    assert items[0].value["metadata"] == {"vendor": "notes-app"}
    assert "not an object" in items[2].reason and items[2].raw == b"[1, 2, 3]"
    assert "not valid JSON" in items[3].reason
    line = b'{"opportunity_id": "O-1", "amount": "lots", "stage": "open"}\n'
    [opp] = connectors.parse("opportunities", "canonical", line)
    assert opp.key == "O-1" and opp.value["amount"] == "lots"  # not validated here


# ---------------------------------------------------------------------------- detection


def test_detection_refuses_unknown_and_ambiguous_with_choices():
    with pytest.raises(ValueError, match=r"canonical, zendesk-tickets-json, intercom"):
        connectors.detect_format("support_tickets", b"id;subject;body\n1;x;y\n", "t.txt")
    with pytest.raises(ValueError, match="does not look like any ideas format"):
        connectors.detect_format("ideas", b'{"tickets": []}', "export.json")
    both = b'{"tickets": [], "conversations": []}'
    with pytest.raises(ValueError, match="zendesk-tickets-json or intercom-conversations-json"):
        connectors.detect_format("support_tickets", both, "export.json")
    # The file name breaks the tie.
    assert connectors.detect_format("support_tickets", both, "intercom_export.json") \
        == "intercom-conversations-json"


def test_parse_refuses_wrong_target_or_format():
    with pytest.raises(ValueError, match="does not carry ideas"):
        connectors.parse("ideas", "gong-calls-json", b"{}")
    with pytest.raises(ValueError, match="unknown format"):
        connectors.parse("ideas", "uservoice", b"{}")
    with pytest.raises(ValueError, match="unknown target"):
        connectors.formats_for("tweets")
    with pytest.raises(ValueError, match="not valid JSON"):
        list(connectors.parse("ideas", "canny-posts-json", b'{\n"posts": [\n'))


def test_timestamps():
    assert parse_timestamp("2024-03-01T10:15:00.000+0000") == datetime.fromisoformat(
        "2024-03-01T10:15:00+00:00")
    assert parse_timestamp(1709892000).isoformat() == "2024-03-08T10:00:00+00:00"
    assert parse_timestamp("1709892000000").isoformat() == "2024-03-08T10:00:00+00:00"
    assert parse_timestamp("2024-03-01 10:15:00").tzinfo is not None
    assert parse_timestamp(None) is None

"""Salesforce and HubSpot export shapes: notes, accounts (companies), opportunities (deals).

Salesforce: Data Loader CSV (quoted, upper-case headers for notes), 18-char ids, timestamps
like ``2025-03-04T10:15:00.000+0000``, percent fields as 0..100. HubSpot: CRM v3 object
pages ({"results": [...], "paging": ...}) with associations, ISO timestamps with ``Z``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from datetime import UTC, datetime
from typing import Any

from demoworld import ids
from demoworld.feedback_formats import intercom_company_id, zendesk_org_id
from demoworld.texts import NoteText
from demoworld.world import Account, Feedback, Opportunity

_SEGMENT_LABEL = {"enterprise": "Enterprise", "mid_market": "Mid-Market", "smb": "SMB"}
_SF_OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
                   "Negotiation/Review")
_HS_OPEN_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                   "decisionmakerboughtin", "contractsent")


def sf_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def hs_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _stable(text: str, mod: int) -> int:
    """A small stable number from a string (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(text)) % mod


def _user_id(name: str) -> str:
    return ids.sfdc18(f"{ids.SF_USER}5g0000{_stable(name, 10**6):06d}")


def _owner_id(name: str) -> str:
    return str(41_200_000 + _stable(name, 10**5))


# ---------------------------------------------------------------------------- Salesforce

NOTE_HEADER = ["ID", "PARENTID", "ACCOUNTID", "TITLE", "BODY", "CONTENT", "TEXTPREVIEW",
               "ISPRIVATE", "CREATEDDATE", "LASTMODIFIEDDATE", "OWNERID", "CREATEDBY.NAME"]


def salesforce_notes_csv(records: list[Feedback]) -> bytes:
    """Classic Notes (plain Body) and Lightning ContentNotes (base64 HTML Content), mixed,
    as a Data Loader export of both objects joined to their parent's account."""
    rows = []
    for r in records:
        c = r.content
        assert isinstance(c, NoteText)
        parent = r.opportunity_id or r.account_id or ""
        account = (r.account_id or "") if r.opportunity_id else ""  # the parent's account
        content_note = r.vendor_id.startswith(ids.SF_CONTENT_NOTE)
        body = "" if content_note else c.body
        content = ""
        if content_note:
            html_body = "".join(f"<p>{html.escape(p)}</p>" for p in c.body.split("\n") if p)
            content = base64.b64encode(html_body.encode()).decode()
        rows.append([
            r.vendor_id, parent, account, c.title, body, content, "",
            "false", sf_time(r.created_at), sf_time(r.updated_at), _user_id(r.staff.name),
            r.staff.name,
        ])
    return _csv(NOTE_HEADER, rows)


ACCOUNT_HEADER = ["Id", "Name", "Type", "Industry", "BillingCountry", "NumberOfEmployees",
                  "AnnualRevenue", "ARR__c", "Segment__c", "ICP_Fit__c", "Plan__c", "Region__c",
                  "Website", "Zendesk_Organization_Id__c", "Intercom_Company_Id__c",
                  "LastModifiedDate"]


def salesforce_accounts_csv(accounts: list[Account]) -> bytes:
    rows = [[
        a.account_id, a.name, "Customer", a.name.split()[1] if " " in a.name else "",
        a.country, str(a.employees), "", f"{a.arr:.2f}", _SEGMENT_LABEL[a.segment],
        str(round(a.icp_fit * 100)), a.plan, a.region, f"https://www.{a.domain}",
        str(zendesk_org_id(a.account_id)), intercom_company_id(a.account_id),
        sf_time(a.updated_at),
    ] for a in accounts]
    return _csv(ACCOUNT_HEADER, rows)


OPP_HEADER = ["Id", "AccountId", "Name", "Type", "Amount", "StageName", "IsClosed", "IsWon",
              "CloseDate", "Loss_Reason__c", "CreatedDate", "LastModifiedDate"]


def salesforce_opportunities_csv(opps: list[Opportunity]) -> bytes:
    rows = []
    for o in opps:
        if o.stage == "open":
            stage = _SF_OPEN_STAGES[_stable(o.opportunity_id, len(_SF_OPEN_STAGES))]
        else:
            stage = "Closed Won" if o.stage == "won" else "Closed Lost"
        rows.append([
            o.opportunity_id, o.account_id, o.name, o.kind, f"{o.amount:.2f}", stage,
            str(o.stage != "open").lower(), str(o.stage == "won").lower(),
            o.close_date.isoformat(), o.loss_reason or "", sf_time(o.created_at),
            sf_time(o.updated_at),
        ])
    return _csv(OPP_HEADER, rows)


# ---------------------------------------------------------------------------- HubSpot


def _assoc(kind: str, ids_: list[str], label: str) -> dict[str, Any]:
    return {kind: {"results": [{"id": i, "type": label} for i in ids_]}}


def hubspot_note(r: Feedback) -> dict[str, Any]:
    c = r.content
    assert isinstance(c, NoteText)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in c.body.split("\n") if p)
    assoc: dict[str, Any] = {}
    if r.account_id:
        assoc.update(_assoc("companies", [r.account_id], "note_to_company"))
    if r.opportunity_id:
        assoc.update(_assoc("deals", [r.opportunity_id], "note_to_deal"))
    return {
        "id": r.vendor_id,
        "properties": {
            "hs_note_body": f"<div>{body}</div>",
            "hs_timestamp": hs_time(r.created_at),
            "hs_createdate": hs_time(r.created_at),
            "hs_lastmodifieddate": hs_time(r.updated_at),
            "hubspot_owner_id": _owner_id(r.staff.name),
            "hs_object_id": r.vendor_id,
        },
        "createdAt": hs_time(r.created_at),
        "updatedAt": hs_time(r.updated_at),
        "archived": False,
        "associations": assoc,
    }


def hubspot_company(a: Account) -> dict[str, Any]:
    return {
        "id": a.account_id,
        "properties": {
            "name": a.name, "domain": a.domain, "numberofemployees": str(a.employees),
            "annualrevenue": None, "arr": f"{a.arr:.0f}", "segment": a.segment,
            "icp_fit": f"{a.icp_fit:.2f}", "plan": a.plan, "region": a.region,
            "country": a.country, "hs_lastmodifieddate": hs_time(a.updated_at),
            "hs_object_id": a.account_id,
            "zendesk_organization_id": str(zendesk_org_id(a.account_id)),
            "intercom_company_id": intercom_company_id(a.account_id),
        },
        "createdAt": hs_time(datetime.combine(a.customer_since, datetime.min.time(), UTC)),
        "updatedAt": hs_time(a.updated_at),
        "archived": False,
    }


def hubspot_deal(o: Opportunity) -> dict[str, Any]:
    if o.stage == "open":
        stage = _HS_OPEN_STAGES[_stable(o.opportunity_id, len(_HS_OPEN_STAGES))]
    else:
        stage = "closedwon" if o.stage == "won" else "closedlost"
    props: dict[str, Any] = {
        "dealname": o.name, "amount": f"{o.amount:.0f}", "dealstage": stage,
        "pipeline": "default", "dealtype": "existingbusiness" if o.kind != "New Business"
        else "newbusiness",
        "closedate": f"{o.close_date.isoformat()}T00:00:00Z",
        "createdate": hs_time(o.created_at), "hs_lastmodifieddate": hs_time(o.updated_at),
        "hubspot_owner_id": _owner_id(o.owner.name), "hs_object_id": o.opportunity_id,
    }
    if o.loss_reason:
        props["closed_lost_reason"] = o.loss_reason
    return {
        "id": o.opportunity_id, "properties": props,
        "createdAt": hs_time(o.created_at), "updatedAt": hs_time(o.updated_at),
        "archived": False,
        "associations": _assoc("companies", [o.account_id], "deal_to_company"),
    }

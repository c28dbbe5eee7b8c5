"""HubSpot CRM v3 objects API pages: notes, companies, deals.

Shape: {"results": [{"id", "properties": {...}, "associations": {"companies":
{"results": [{"id", "type"}]}, ...}, "createdAt", "updatedAt", "archived"}], "paging": ...};
a bare list of such objects, one bare object, or JSON Lines of any of those also work.
Associations in the v4 shape ({"toObjectId", "associationTypes"}) are read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from ingest.connectors._base import (
    Head,
    Item,
    Parsed,
    RecordError,
    clean_str,
    compact,
    iso,
    map_json_records,
    parse_bool,
    parse_date,
    parse_number,
    parse_timestamp,
)
from ingest.connectors.salesforce import (
    domains_of,
    external_ids_of,
    icp_fit_of,
    owner_email_of,
    segment_of,
)
from ingest.normalise import normalise_text

VENDOR = "hubspot"
# Custom company properties holding its id elsewhere: zendesk_organization_id, ...
_EXTERNAL_ID_PROPERTY = re.compile(r"^([a-z][a-z0-9]*)_(?:organization|org|company|account)_id$")
DOMAIN_PROPERTIES = ("domain", "website", "hs_additional_domains")
LIST_KEYS = ("results",)


def _is_object(obj: dict[str, Any]) -> bool:
    return "properties" in obj and "id" in obj


def _map(stream: IO[bytes], mapper, what: str) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    return map_json_records(stream, LIST_KEYS, "HubSpot", _is_object, mapper, what)


def associated_ids(obj: dict[str, Any], kind: str) -> list[str]:
    """Ids of associated objects of one kind ("companies", "deals"), primary first."""
    assoc = (obj.get("associations") or {}).get(kind) or {}
    rows = assoc.get("results", []) if isinstance(assoc, dict) else assoc
    ids: list[tuple[int, str]] = []
    for row in rows or []:
        oid = clean_str(row.get("id") or row.get("toObjectId"))
        if oid is None:
            continue
        labels = [str(row.get("type", ""))] + [
            str(t.get("label") or "") for t in row.get("associationTypes") or []
        ]
        primary = any("primary" in lbl.lower() for lbl in labels) or (
            # v3 marks the primary company as plain "<object>_to_company".
            labels[0].endswith("_to_company")
        )
        ids.append((0 if primary else 1, oid))
    seen: dict[str, None] = {}
    for _, oid in sorted(ids, key=lambda t: t[0]):
        seen.setdefault(oid, None)
    return list(seen)


def _props(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    if not isinstance(props, dict):
        raise RecordError("object has no properties; request the properties you need")
    return props


def _record_id(obj: dict[str, Any], props: dict[str, Any], what: str) -> str:
    rid = clean_str(obj.get("id") or props.get("hs_object_id"))
    if rid is None:
        raise RecordError(f"{what} has no id")
    return rid


# ---------------------------------------------------------------------------- notes


def _note(obj: dict[str, Any]) -> Parsed:
    props = _props(obj)
    note_id = _record_id(obj, props, "note")
    body = props.get("hs_note_body") or ""
    text = normalise_text(str(body)) if body else ""
    if not text:
        raise RecordError(f"note {note_id} has an empty hs_note_body")
    created = parse_timestamp(
        props.get("hs_timestamp") or props.get("hs_createdate") or obj.get("createdAt"),
        "hs_timestamp",
    )
    if created is None:
        raise RecordError(f"note {note_id} has no hs_timestamp/hs_createdate")
    updated = parse_timestamp(
        props.get("hs_lastmodifieddate") or obj.get("updatedAt"), "hs_lastmodifieddate"
    )
    companies = associated_ids(obj, "companies")
    deals = associated_ids(obj, "deals")
    account_id = companies[0] if companies else None
    return Parsed(account_id, compact({
        "source": "crm_notes",
        "source_id": f"hubspot:{note_id}",
        "account_id": account_id,
        "opportunity_id": deals[0] if deals else None,
        "text": text,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "author": clean_str(props.get("hubspot_owner_id")),
        "metadata": {
            "vendor": VENDOR,
            "object": "note",
            "other_companies": companies[1:],
            "contacts": associated_ids(obj, "contacts"),
        },
    }))


def parse_notes(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map(stream, _note, "HubSpot note")


def sniff_notes(head: Head) -> bool:
    return _is_hubspot(head) and "hs_note_body" in head.text


def _is_hubspot(head: Head) -> bool:
    return ('"results"' in head.text or '"properties"' in head.text) \
        and "hs_" in head.text


# ---------------------------------------------------------------------------- companies


def _company(obj: dict[str, Any]) -> Parsed:
    props = _props(obj)
    company_id = _record_id(obj, props, "company")
    name = clean_str(props.get("name")) or clean_str(props.get("domain"))
    if not name:
        raise RecordError(f"company {company_id} has neither name nor domain")
    arr = parse_number(props.get("arr"), "arr")
    if arr is None:
        arr = parse_number(props.get("annualrevenue"), "annualrevenue")
    employees = parse_number(props.get("numberofemployees"), "numberofemployees")
    return Parsed(company_id, compact({
        "account_id": company_id,
        "name": name,
        "segment": segment_of(clean_str(props.get("segment")), employees),
        "arr": arr if arr is not None else 0.0,
        "icp_fit": icp_fit_of(props.get("icp_fit")),
        "region": clean_str(props.get("region")) or clean_str(props.get("country")),
        "plan": clean_str(props.get("plan")),
        "domains": domains_of(props.get(p) for p in DOMAIN_PROPERTIES) or None,
        "external_ids": external_ids_of(props, _EXTERNAL_ID_PROPERTY) or None,
        # the company owner (a property a HubSpot workflow copies from the owner record)
        "owner_email": owner_email_of(clean_str(props.get("hubspot_owner_email"))),
        "owner_slack_id": clean_str(props.get("owner_slack_id")),
        "updated_at": iso(parse_timestamp(
            props.get("hs_lastmodifieddate") or obj.get("updatedAt"), "hs_lastmodifieddate"
        )),
    }))


def parse_companies(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map(stream, _company, "HubSpot company")


def sniff_companies(head: Head) -> bool:
    return _is_hubspot(head) and ('"domain"' in head.text or '"numberofemployees"' in head.text)


# ---------------------------------------------------------------------------- deals

# Default pipeline stage ids; custom pipelines use numeric ids, hence hs_is_closed_won first.
WON_STAGES, LOST_STAGES = {"closedwon"}, {"closedlost"}


def _deal(obj: dict[str, Any]) -> Parsed:
    props = _props(obj)
    deal_id = _record_id(obj, props, "deal")
    stage_id = (clean_str(props.get("dealstage")) or "").lower()
    if props.get("hs_is_closed_won") not in (None, ""):
        won = parse_bool(props.get("hs_is_closed_won"))
        lost = not won and parse_bool(props.get("hs_is_closed"))
    else:
        won, lost = stage_id in WON_STAGES, stage_id in LOST_STAGES
    stage = "won" if won else "lost" if lost else "open"
    amount = parse_number(props.get("amount"), "amount")
    companies = associated_ids(obj, "companies")
    return Parsed(deal_id, compact({
        "opportunity_id": deal_id,
        "account_id": companies[0] if companies else None,
        "amount": amount if amount is not None else 0.0,
        "stage": stage,
        "close_date": parse_date(props.get("closedate"), "closedate"),
        "loss_reason": clean_str(props.get("closed_lost_reason")) if stage == "lost" else None,
        "name": clean_str(props.get("dealname")),
        "updated_at": iso(parse_timestamp(
            props.get("hs_lastmodifieddate") or obj.get("updatedAt"), "hs_lastmodifieddate"
        )),
    }))


def parse_deals(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map(stream, _deal, "HubSpot deal")


def sniff_deals(head: Head) -> bool:
    return _is_hubspot(head) and ('"dealstage"' in head.text or '"dealname"' in head.text)

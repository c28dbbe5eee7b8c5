"""Salesforce Data Loader / report CSV exports: Note + ContentNote, Account, Opportunity.

Header names are matched case-insensitively (Data Loader upper-cases them). Ids are
normalised to the 18-character form so they join with Gong's CRM context and with each
other. Custom fields use the names in the brief: ARR__c, Segment__c, ICP_Fit__c, Plan__c,
Region__c, Loss_Reason__c.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ingest.connectors._base import (
    Head,
    Item,
    Parsed,
    RecordError,
    clean_str,
    compact,
    iso,
    iter_csv,
    parse_bool,
    parse_date,
    parse_number,
    parse_timestamp,
    safe_map,
    sfdc_id,
)
from ingest.normalise import normalise_text

VENDOR = "salesforce"
ACCOUNT_PREFIX, OPPORTUNITY_PREFIX, CONTACT_PREFIX = "001", "006", "003"


def _get(row: dict[str, str], *names: str) -> str | None:
    """First non-blank of several candidate columns (lower-cased names)."""
    for name in names:
        value = clean_str(row.get(name))
        if value is not None:
            return value
    return None


# ---------------------------------------------------------------------------- notes

NOTE_TEXT_COLUMNS = ("body", "content", "textpreview")
NOTE_PARENT_COLUMNS = ("parentid", "linkedentityid", "contentdocumentlink.linkedentityid")
_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}$")


def _decode_content(value: str) -> str:
    """ContentNote.Content is base64 of HTML in API exports; some tools export it decoded."""
    compacted = value.strip()
    if len(compacted) >= 8 and len(compacted.replace("\n", "")) % 4 == 0 \
            and _BASE64.match(compacted):
        try:
            decoded = base64.b64decode(compacted, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return value
        if decoded.isprintable() or "<" in decoded or "\n" in decoded:
            return decoded
    return value


def _note(row: dict[str, str]) -> Parsed:
    note_id = sfdc_id(_get(row, "id"))
    if not note_id:
        raise RecordError("no Id column value; export Note.Id / ContentNote.Id")
    title = _get(row, "title") or ""
    body = _get(row, "body")
    if body is None and (content := _get(row, "content")):
        body = _decode_content(content)
    if body is None:
        body = _get(row, "textpreview")
    text = normalise_text("\n\n".join(p for p in (title, body or "") if p))
    if not text:
        raise RecordError(f"note {note_id} has no Title/Body/Content text")
    created = parse_timestamp(_get(row, "createddate"), "CreatedDate")
    if created is None:
        raise RecordError(f"note {note_id} has no CreatedDate")
    updated = parse_timestamp(_get(row, "lastmodifieddate"), "LastModifiedDate")

    parent = sfdc_id(_get(row, *NOTE_PARENT_COLUMNS))
    account_id = sfdc_id(_get(row, "accountid", "parent.accountid", "account.id"))
    opportunity_id = sfdc_id(_get(row, "opportunityid"))
    if parent and parent.startswith(ACCOUNT_PREFIX):
        account_id = account_id or parent
    elif parent and parent.startswith(OPPORTUNITY_PREFIX):
        opportunity_id = opportunity_id or parent
    return Parsed(account_id, compact({
        "source": "crm_notes",
        "source_id": f"sfdc:{note_id}",
        "account_id": account_id,
        "opportunity_id": opportunity_id,
        "text": text,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "author": _get(row, "createdby.name", "owner.name", "ownerid", "createdbyid"),
        "metadata": {
            "vendor": VENDOR,
            "object": "ContentNote" if note_id.startswith("069") else "Note",
            "parent_id": parent,
            "title": title or None,
            "is_private": parse_bool(row["isprivate"]) if _get(row, "isprivate") else None,
        },
    }))


def _map_rows(
    stream: IO[bytes], mapper: Callable[[dict[str, str]], Parsed], what: str
) -> Iterator[Item]:
    for line, row, raw in iter_csv(stream):
        yield safe_map(raw, lambda row=row: mapper(row),
                       f"Salesforce {what} CSV row ending line {line}")


def parse_notes(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map_rows(stream, _note, "note")


def sniff_notes(head: Head) -> bool:
    cols = head.columns
    return "id" in cols and bool(cols & set(NOTE_TEXT_COLUMNS)) and (
        bool(cols & set(NOTE_PARENT_COLUMNS)) or "title" in cols
    )


# ---------------------------------------------------------------------------- accounts

_SEGMENT_ALIASES = {
    "ent": "enterprise", "enterprise": "enterprise", "strategic": "enterprise",
    "mm": "mid_market", "mid_market": "mid_market", "midmarket": "mid_market",
    "mid": "mid_market", "commercial": "mid_market",
    "smb": "smb", "small_business": "smb", "small": "smb", "sb": "smb",
}


def segment_of(segment: str | None, employees: float | None) -> str:
    """Segment field when filled (aliases mapped), else from head count, else "unknown"."""
    if segment:
        key = segment.strip().lower().replace("-", "_").replace(" ", "_")
        return _SEGMENT_ALIASES.get(key, key)
    if employees is None:
        return "unknown"
    if employees >= 1000:
        return "enterprise"
    return "mid_market" if employees >= 100 else "smb"


def icp_fit_of(value: Any) -> float | None:
    """0..1 score; Salesforce percent fields export 0..100 ("85" or "85%")."""
    text = clean_str(value)
    if text is None:
        return None
    fit = parse_number(text.rstrip("%"), "ICP fit")
    if fit is not None and (text.endswith("%") or 1 < fit <= 100):
        fit /= 100
    if fit is not None and not 0 <= fit <= 1:
        raise RecordError(f"ICP fit {value!r} is outside 0..1 (or 0..100%)")
    return fit


# Custom fields holding the account's id in another system: Zendesk_Organization_Id__c,
# Intercom_Company_Id__c, Canny_Company_Id__c, ... (system = the first word).
_EXTERNAL_ID_FIELD = re.compile(
    r"^([a-z][a-z0-9]*)_(?:organization_|org_|company_|account_)?id__c$"
)
DOMAIN_COLUMNS = ("website", "domain__c", "domains__c", "email_domains__c", "email_domain__c")


def external_ids_of(row: dict[str, Any], pattern: re.Pattern[str]) -> dict[str, str]:
    """{system: id} from the columns/properties named like `pattern` (group 1: system)."""
    out: dict[str, str] = {}
    for name, value in row.items():
        m = pattern.match(name)
        text = clean_str(value) if m else None
        if m and text and m.group(1) not in ("parent", "owner", "master", "record"):
            out[m.group(1)] = text
    return out


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def owner_email_of(value: str | None) -> str | None:
    """An owner's e-mail, lower case; None for anything else (a malformed owner field never
    rejects the account: its owner is then not told)."""
    return value.lower() if value and _EMAIL.fullmatch(value) else None


def domains_of(values: Iterable[Any]) -> list[str]:
    """Company domains from website/domain fields (several may share one, comma- or
    semicolon-separated)."""
    out: list[str] = []
    for value in values:
        for part in re.split(r"[,;\s]+", clean_str(value) or ""):
            if part and part not in out:
                out.append(part)
    return out


def _account(row: dict[str, str]) -> Parsed:
    account_id = sfdc_id(_get(row, "id"))
    if not account_id:
        raise RecordError("no Id column value; export Account.Id")
    name = _get(row, "name")
    if not name:
        raise RecordError(f"account {account_id} has no Name")
    arr = parse_number(_get(row, "arr__c"), "ARR__c")
    if arr is None:
        arr = parse_number(_get(row, "annualrevenue"), "AnnualRevenue")
    employees = parse_number(_get(row, "numberofemployees"), "NumberOfEmployees")
    return Parsed(account_id, compact({
        "account_id": account_id,
        "name": name,
        "segment": segment_of(_get(row, "segment__c"), employees),
        "arr": arr if arr is not None else 0.0,  # no revenue recorded: a prospect
        "icp_fit": icp_fit_of(_get(row, "icp_fit__c")),
        "region": _get(row, "region__c", "billingcountry"),
        "plan": _get(row, "plan__c"),
        "domains": domains_of(row.get(c) for c in DOMAIN_COLUMNS) or None,
        "external_ids": external_ids_of(row, _EXTERNAL_ID_FIELD) or None,
        # the account owner, told of decisions (docs/alerts.md): Owner.Email in the export
        "owner_email": owner_email_of(_get(row, "owner.email", "owneremail")),
        "owner_slack_id": _get(row, "owner_slack_id__c"),
        "updated_at": iso(parse_timestamp(_get(row, "lastmodifieddate"), "LastModifiedDate")),
    }))


def parse_accounts(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map_rows(stream, _account, "account")


def sniff_accounts(head: Head) -> bool:
    cols = head.columns
    return {"id", "name"} <= cols and bool(
        cols & {"numberofemployees", "annualrevenue", "arr__c", "industry", "billingcountry",
                "segment__c", "type"}
    ) and "stagename" not in cols


# ---------------------------------------------------------------------------- opportunities


def _opportunity(row: dict[str, str]) -> Parsed:
    opp_id = sfdc_id(_get(row, "id"))
    if not opp_id:
        raise RecordError("no Id column value; export Opportunity.Id")
    stage_name = _get(row, "stagename") or ""
    won = parse_bool(row.get("iswon")) or stage_name.lower() == "closed won"
    closed = parse_bool(row.get("isclosed")) or stage_name.lower().startswith("closed")
    stage = "won" if won else "lost" if closed else "open"
    amount = parse_number(_get(row, "amount"), "Amount")
    return Parsed(opp_id, compact({
        "opportunity_id": opp_id,
        "account_id": sfdc_id(_get(row, "accountid")),
        "amount": amount if amount is not None else 0.0,  # early-stage deals have no amount
        "stage": stage,
        "close_date": parse_date(_get(row, "closedate"), "CloseDate"),
        "loss_reason": _get(row, "loss_reason__c") if stage == "lost" else None,
        "name": _get(row, "name"),
        "updated_at": iso(parse_timestamp(_get(row, "lastmodifieddate"), "LastModifiedDate")),
    }))


def parse_opportunities(target: str, stream: IO[bytes]) -> Iterator[Item]:
    return _map_rows(stream, _opportunity, "opportunity")


def sniff_opportunities(head: Head) -> bool:
    cols = head.columns
    return "id" in cols and bool(cols & {"stagename", "iswon"})

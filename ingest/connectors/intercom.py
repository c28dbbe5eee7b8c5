"""Intercom Conversations API: {"type": "conversation.list", "conversations": [...]}, a
single conversation ({"type": "conversation", ...}, as from GET /conversations/{id} with
its parts), search results, or JSON Lines of conversations.

Only what customers wrote is feedback: the opening message when a user/lead/contact sent
it, plus their later comment parts. Admin and bot replies are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ingest.connectors._base import (
    Head,
    Item,
    Parsed,
    RecordError,
    account_ref,
    clean_str,
    compact,
    iso,
    map_json_records,
    parse_timestamp,
)
from ingest.normalise import normalise_text

VENDOR = "intercom"
LIST_KEYS = ("conversations",)
CUSTOMER_AUTHORS = {"user", "lead", "contact"}
# Part types that carry a message body; assignment/close/snooze parts are workflow noise.
MESSAGE_PARTS = {"comment", "open", "reply", "conversation_rating_changed"}
# Custom attributes that hold the CRM account id itself, and ones that hold a company id.
CRM_ATTRIBUTES = ("account_id", "Account ID", "salesforce_account_id", "hubspot_company_id",
                  "crm_account_id")
COMPANY_ATTRIBUTES = ("company_id", "Company ID", "company")


def _is_conversation(obj: dict[str, Any]) -> bool:
    return obj.get("type") == "conversation" or ("source" in obj and "id" in obj)


def crm_account_of(conv: dict[str, Any]) -> str | None:
    """The CRM account id when a custom attribute carries it by name."""
    attrs = conv.get("custom_attributes") or {}
    for key in CRM_ATTRIBUTES:
        value = attrs.get(key)
        if isinstance(value, str | int) and clean_str(value):
            return clean_str(value)
    return None


def company_of(conv: dict[str, Any]) -> tuple[str | None, str | None]:
    """(company id, company name): conversation `company`/`companies`, else a custom
    attribute. Intercom's own `company_id` (the id you gave it) wins over its internal id;
    it is matched to the CRM account at ingest (it is not the CRM id unless mapped)."""
    company = conv.get("company")
    companies = conv.get("companies")
    if isinstance(companies, dict):  # {"type": "company.list", "companies": [...]}
        companies = companies.get("companies") or companies.get("data")
    if not isinstance(company, dict) and isinstance(companies, list) and companies:
        company = companies[0]
    if isinstance(company, dict):
        cid = clean_str(company.get("company_id")) or clean_str(company.get("id"))
        if cid:
            return cid, clean_str(company.get("name"))
    elif clean_str(company):
        return clean_str(company), None
    attrs = conv.get("custom_attributes") or {}
    for key in COMPANY_ATTRIBUTES:
        value = attrs.get(key)
        if isinstance(value, str | int) and clean_str(value):
            return clean_str(value), None
    return None, None


def _conversation(conv: dict[str, Any]) -> Parsed:
    conv_id = clean_str(conv.get("id"))
    if conv_id is None:
        raise RecordError("conversation has no id")
    source = conv.get("source") or {}
    author = source.get("author") or {}
    chunks: list[str] = []
    if author.get("type") in CUSTOMER_AUTHORS:
        subject = normalise_text(source.get("subject") or "")
        body = normalise_text(source.get("body") or "")
        chunks.extend(p for p in (subject, body) if p)
    parts_box = conv.get("conversation_parts") or {}
    parts = parts_box.get("conversation_parts", []) if isinstance(parts_box, dict) else parts_box
    for part in parts or []:
        if (part.get("author") or {}).get("type") in CUSTOMER_AUTHORS \
                and part.get("part_type", "comment") in MESSAGE_PARTS and part.get("body"):
            body = normalise_text(part["body"])
            if body:
                chunks.append(body)
    if not chunks:
        raise RecordError(f"conversation {conv_id} has no customer-written text "
                          "(only admin/bot messages, or parts were not fetched)")
    created = parse_timestamp(conv.get("created_at"), "created_at")
    if created is None:
        raise RecordError(f"conversation {conv_id} has no created_at")
    company_id, company_name = company_of(conv)
    account_id = crm_account_of(conv)
    tags_box = conv.get("tags") or {}
    tags = tags_box.get("tags", []) if isinstance(tags_box, dict) else tags_box
    contacts_box = conv.get("contacts") or {}
    contacts = contacts_box.get("contacts", []) if isinstance(contacts_box, dict) else []
    return Parsed(account_id or company_id, compact({
        "source": "support_tickets",
        "source_id": f"intercom:{conv_id}",
        "account_id": account_id,
        "account_ref": account_ref(VENDOR, company_id, company_name),
        "author_email": clean_str(author.get("email"))
        if author.get("type") in CUSTOMER_AUTHORS else None,
        "text": "\n\n".join(chunks),
        "created_at": iso(created),
        "updated_at": iso(parse_timestamp(conv.get("updated_at"), "updated_at")),
        "author": clean_str(author.get("name")) if author.get("type") in CUSTOMER_AUTHORS
        else None,
        "metadata": {
            "vendor": VENDOR,
            "state": conv.get("state"),
            "priority": conv.get("priority"),
            "channel": source.get("delivered_as") or source.get("type"),
            "tags": [t.get("name") for t in tags if isinstance(t, dict)] or None,
            "company_name": company_name,
            "contact_ids": [c.get("id") for c in contacts if isinstance(c, dict)] or None,
            "custom_attributes": conv.get("custom_attributes") or None,
        },
    }))


def parse(target: str, stream: IO[bytes]) -> Iterator[Item]:
    yield from map_json_records(
        stream, LIST_KEYS, "Intercom", _is_conversation, _conversation, "Intercom conversation"
    )


def sniff(head: Head) -> bool:
    text = head.text
    if head.kind == "json":
        return "conversation.list" in text or '"conversations"' in text or (
            '"type": "conversation"' in text or '"type":"conversation"' in text
        )
    if head.kind == "jsonl":
        return "conversation_parts" in head.first_keys or '"type":"conversation"' in text \
            or '"type": "conversation"' in text
    return False

"""Zendesk Support tickets: the Tickets API ({"tickets": [...]}, {"ticket": {...}}), the
incremental export ({"tickets", "after_cursor", "end_of_stream"}) and JSON Lines of ticket
objects. Sideloaded "users" / "organizations" (?include=users,organizations) name the
requester and the organization when present.
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
    account_ref,
    clean_str,
    compact,
    iso,
    iter_json_records,
    parse_timestamp,
    safe_map,
)
from ingest.normalise import normalise_text

VENDOR = "zendesk"
LIST_KEYS = ("tickets", "ticket", "results")  # results: the Search API
_API_URL = re.compile(r"^(https?://[^/]+)/api/v2/tickets/(\d+)(?:\.json)?$")


def _is_ticket(obj: dict[str, Any]) -> bool:
    return "id" in obj and ("subject" in obj or "description" in obj or "requester_id" in obj)


def agent_url(api_url: str | None, ticket_id: str) -> str | None:
    """API url https://acme.zendesk.com/api/v2/tickets/1.json -> the agent UI link."""
    m = _API_URL.match(api_url or "")
    return f"{m.group(1)}/agent/tickets/{ticket_id}" if m else None


def _ticket(t: dict[str, Any], users: dict[str, Any], orgs: dict[str, Any]) -> Parsed:
    ticket_id = clean_str(t.get("id"))
    if ticket_id is None:
        raise RecordError("ticket has no id")
    subject = clean_str(t.get("subject") or t.get("raw_subject")) or ""
    description = normalise_text(t.get("description") or "")
    text = "\n\n".join(p for p in (subject, description) if p)
    if not text:
        raise RecordError(f"ticket {ticket_id} has neither subject nor description")
    created = parse_timestamp(t.get("created_at"), "created_at")
    if created is None:
        raise RecordError(f"ticket {ticket_id} has no created_at")
    org_id = clean_str(t.get("organization_id"))
    org = orgs.get(org_id or "", {})
    requester = users.get(str(t.get("requester_id")), {})
    via = t.get("via") or {}
    custom = {
        str(f["id"]): f["value"]
        for f in t.get("custom_fields") or []
        if isinstance(f, dict) and f.get("value") not in (None, "", [])
    }
    domains = org.get("domain_names") or []
    return Parsed(org_id, compact({
        "source": "support_tickets",
        "source_id": f"zendesk:{ticket_id}",
        # A Zendesk organization id is Zendesk's own: matched to the CRM account at ingest.
        "account_ref": account_ref(
            VENDOR, org_id, org.get("name"), domains[0] if isinstance(domains, list) and domains
            else None,
        ),
        "author_email": clean_str(requester.get("email")),
        "text": text,
        "created_at": iso(created),
        "updated_at": iso(parse_timestamp(t.get("updated_at"), "updated_at")),
        "author": clean_str(requester.get("name")) or clean_str(t.get("requester_id")),
        "url": agent_url(t.get("url"), ticket_id),
        "metadata": {
            "vendor": VENDOR,
            "status": t.get("status"),
            "priority": t.get("priority"),
            "type": t.get("type"),
            "tags": t.get("tags") or None,
            "channel": via.get("channel") if isinstance(via, dict) else None,
            "organization_name": org.get("name"),
            "organization_external_id": org.get("external_id"),
            "external_id": t.get("external_id"),
            "custom_fields": custom or None,
        },
    }))


def parse(target: str, stream: IO[bytes]) -> Iterator[Item]:
    users: dict[str, Any] = {}
    orgs: dict[str, Any] = {}

    def sideloads(doc: dict[str, Any]) -> None:
        for u in doc.get("users") or []:
            users[str(u.get("id"))] = u
        for o in doc.get("organizations") or []:
            orgs[str(o.get("id"))] = o

    for item in iter_json_records(stream, LIST_KEYS, "Zendesk", _is_ticket, sideloads):
        if isinstance(item, tuple):
            _, ticket, raw = item
            yield safe_map(raw, lambda t=ticket: _ticket(t, users, orgs), "Zendesk ticket")
        else:
            yield item


def sniff(head: Head) -> bool:
    text = head.text
    if head.kind == "json":
        return '"tickets"' in text or '"ticket"' in text or "zendesk.com/api" in text
    if head.kind == "jsonl":
        return "requester_id" in head.first_keys or "zendesk.com/api" in text
    return False

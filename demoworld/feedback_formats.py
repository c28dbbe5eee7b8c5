"""Zendesk, Intercom, Canny and Gong export shapes for feedback records.

Shapes follow the vendors' APIs: Zendesk incremental-export pages with sideloaded users and
organizations, Intercom conversations with their parts, Canny posts/list, Gong
/v2/calls/extensive with /v2/calls/transcript merged into the same document.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from demoworld.texts import VENDOR_DOMAIN, CallText, IdeaText, Person, TicketText
from demoworld.world import Feedback

ZENDESK_HOST = "https://brightwave.zendesk.com"
CANNY_HOST = "https://brightwave.canny.io"
GONG_HOST = "https://us-48211.app.gong.io"
_GONG_TZ = {"NA": timezone(timedelta(hours=-7)), "EMEA": timezone(timedelta(hours=2)),
            "APAC": timezone(timedelta(hours=10)), "LATAM": timezone(timedelta(hours=-3))}


def digest(text: str, n: int) -> str:
    """n hex characters derived from `text`: stable ids for people and objects."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:n]


def number(text: str, digits: int) -> int:
    return int(digest(text, 15), 16) % 10 ** (digits - 1) + 10 ** (digits - 1)


def _z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())


# Each vendor has its own id for a customer's company; the CRM exports carry the mapping
# (crm_formats: Salesforce custom fields, HubSpot properties), so ingest has to resolve them.


def zendesk_org_id(account_id: str) -> int:
    """The Zendesk organization id of an account (Zendesk's own number)."""
    return number("zendesk-org:" + account_id, 12)


def intercom_company_id(account_id: str) -> str:
    """The company_id Intercom holds for an account (set by the product's own code)."""
    return "cmp_" + digest("intercom-company:" + account_id, 12)


# ---------------------------------------------------------------------------- Zendesk


def zendesk_user(p: Person, account_id: str | None) -> dict[str, Any]:
    return {"id": number(p.email, 9), "name": p.name, "email": p.email, "role": "end-user",
            "organization_id": zendesk_org_id(account_id) if account_id else None}


def zendesk_org(account_id: str, name: str, domain: str) -> dict[str, Any]:
    return {"id": zendesk_org_id(account_id), "name": name, "external_id": None,
            "domain_names": [domain]}


def zendesk_ticket(r: Feedback) -> dict[str, Any]:
    c = r.content
    assert isinstance(c, TicketText) and r.contact is not None
    requester = number(r.contact.email, 9)
    return {
        "url": f"{ZENDESK_HOST}/api/v2/tickets/{r.vendor_id}.json",
        "id": int(r.vendor_id),
        "external_id": None,
        "via": {"channel": r.extra["channel"], "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": _z(r.created_at),
        "updated_at": _z(r.updated_at),
        "type": r.extra["type"],
        "subject": c.subject,
        "raw_subject": c.subject,
        "description": c.body,
        "priority": r.extra["priority"],
        "status": r.extra["status"],
        "recipient": f"support@{VENDOR_DOMAIN}",
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": number(r.staff.email, 9),
        "organization_id": zendesk_org_id(r.account_id) if r.account_id else None,
        "group_id": 114001,
        "collaborator_ids": [],
        "follower_ids": [],
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": r.extra["tags"],
        "custom_fields": [{"id": 360011, "value": r.extra.get("plan")},
                          {"id": 360012, "value": None}],
        "satisfaction_rating": None,
        "brand_id": 360001,
        "allow_attachments": True,
    }


# ---------------------------------------------------------------------------- Intercom


def _part(pid: str, kind: str, body: str | None, when: datetime, author: dict[str, Any]
          ) -> dict[str, Any]:
    ts = int(when.timestamp())
    return {"type": "conversation_part", "id": pid, "part_type": kind, "body": body,
            "created_at": ts, "updated_at": ts, "notified_at": ts, "assigned_to": None,
            "author": author, "attachments": [], "external_id": None, "redacted": False}


def intercom_conversation(r: Feedback) -> dict[str, Any]:
    c = r.content
    assert isinstance(c, TicketText) and r.contact is not None
    admin = {"type": "admin", "id": str(number(r.staff.email, 7)), "name": r.staff.name,
             "email": r.staff.email}
    user = {"type": "user" if r.account_id else "lead", "id": digest(r.contact.email, 24),
            "name": r.contact.name, "email": r.contact.email}
    parts = []
    step = (r.updated_at - r.created_at) / 4
    if c.reply:
        parts.append(_part(f"{r.vendor_id}01", "comment", f"<p>{html.escape(c.reply)}</p>",
                           r.created_at + step, admin))
    if r.extra.get("followup"):
        parts.append(_part(f"{r.vendor_id}02", "comment",
                           f"<p>{html.escape(r.extra['followup'])}</p>", r.updated_at, user))
    elif r.extra["state"] == "closed":
        parts.append(_part(f"{r.vendor_id}03", "close", None, r.updated_at, admin))
    conv: dict[str, Any] = {
        "type": "conversation",
        "id": r.vendor_id,
        "title": None,
        "created_at": int(r.created_at.timestamp()),
        "updated_at": int(r.updated_at.timestamp()),
        "waiting_since": None,
        "snoozed_until": None,
        "open": r.extra["state"] != "closed",
        "state": r.extra["state"],
        "read": True,
        "priority": "not_priority",
        "admin_assignee_id": int(admin["id"]),
        "team_assignee_id": None,
        "tags": {"type": "tag.list", "tags": []},
        "conversation_rating": None,
        "source": {
            "type": "conversation", "id": str(number(r.vendor_id, 10)),
            "delivered_as": r.extra["delivered_as"], "subject": c.subject,
            "body": _paragraphs(c.body), "author": user, "attachments": [],
            "url": f"https://app.{VENDOR_DOMAIN}/", "redacted": False,
        },
        "contacts": {"type": "contact.list", "contacts": [
            {"type": "contact", "id": user["id"], "external_id": None}]},
        "teammates": {"type": "admin.list", "admins": [{"type": "admin", "id": admin["id"]}]},
        "custom_attributes": {},
        "statistics": None,
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts,
                               "total_count": len(parts)},
    }
    if r.account_id:
        conv["company"] = {"type": "company", "id": digest(r.account_id, 24),
                           "company_id": intercom_company_id(r.account_id), "name": r.company}
    return conv


# ---------------------------------------------------------------------------- Canny


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def canny_post(r: Feedback, arr: float | None) -> dict[str, Any]:
    c = r.content
    assert isinstance(c, IdeaText) and r.contact is not None
    board = r.extra["board"]
    author: dict[str, Any] = {
        "id": digest(r.contact.email, 24), "created": "2023-01-09T10:00:00.000Z",
        "email": r.contact.email, "isAdmin": False, "name": r.contact.name,
        "url": f"{CANNY_HOST}/admin/users/{digest(r.contact.email, 24)}",
        "userID": f"u-{digest(r.contact.email, 8)}",
    }
    if r.account_id:
        # Canny's company id is its own; the name is what identifies it across systems.
        author["companies"] = [{
            "id": digest("canny-company:" + r.account_id, 24),
            "created": "2023-01-09T10:00:00.000Z", "customFields": {},
            "monthlySpend": round((arr or 0) / 12), "name": r.company,
        }]
    return {
        "id": r.vendor_id,
        "author": author,
        "board": {"id": digest(board, 24), "created": "2021-06-01T00:00:00.000Z", "name": board,
                  "postCount": 0, "url": f"{CANNY_HOST}/admin/board/{_slug(board)}"},
        "by": None,
        "category": None,
        "commentCount": r.extra["comments"],
        "created": _ms(r.created_at),
        "details": c.details,
        "eta": None,
        "imageURLs": [],
        "jira": {"linkedIssues": []},
        "owner": None,
        "score": r.votes,
        "status": r.extra["status"],
        "tags": [],
        "title": c.title,
        "url": f"{CANNY_HOST}/{_slug(board)}/p/{_slug(c.title)}-{r.vendor_id[-4:]}",
    }


# ---------------------------------------------------------------------------- Gong


def _speaker(p: Person) -> str:
    return str(number("speaker:" + p.email, 19))


def _gong_party(p: Person, internal: bool, user_id: str | None) -> dict[str, Any]:
    return {"id": str(number("party:" + p.email, 10)), "emailAddress": p.email,
            "name": p.name, "title": p.title, "userId": user_id, "speakerId": _speaker(p),
            "context": [], "affiliation": "Internal" if internal else "External",
            "phoneNumber": None, "methods": ["Invitee"]}


def gong_call(r: Feedback, crm: str | None, region: str) -> dict[str, Any]:
    c = r.content
    assert isinstance(c, CallText) and r.contact is not None
    rep_user = str(number("user:" + r.staff.email, 15))
    started = r.created_at.astimezone(_GONG_TZ.get(region, UTC)).isoformat()
    # The deal is linked in the CRM context; the account is known only from the customer
    # participants' e-mail domain.
    context = []
    if r.opportunity_id and crm:
        sf = crm == "salesforce"
        context.append({"system": "Salesforce" if sf else "HubSpot", "objects": [
            {"objectType": "Opportunity" if sf else "Deal", "objectId": r.opportunity_id,
             "fields": []}]})
    return {
        "metaData": {
            "id": r.vendor_id, "url": f"{GONG_HOST}/call?id={r.vendor_id}", "title": c.title,
            "scheduled": started, "started": started, "duration": r.extra["duration"],
            "primaryUserId": rep_user, "direction": r.extra["direction"],
            "system": r.extra["system"], "scope": r.extra["scope"], "media": "Video",
            "language": "eng", "workspaceId": "623457276584334", "sdrDisposition": None,
            "clientUniqueId": None, "customData": None, "purpose": None,
            "meetingUrl": f"https://zoom.us/j/{number(r.vendor_id, 10)}", "isPrivate": False,
            "calendarEventId": None,
        },
        "context": context,
        "parties": [_gong_party(r.staff, True, rep_user), _gong_party(r.contact, False, None)],
        "content": {
            "trackers": [], "topics": [{"name": c.call_type, "duration": r.extra["duration"]}],
            "pointsOfInterest": {"actionItems": []}, "brief": c.brief, "outline": [],
            "highlights": [], "callOutcome": None,
            "keyPoints": [{"text": k} for k in c.key_points],
        },
    }


def gong_transcript(r: Feedback) -> dict[str, Any] | None:
    c = r.content
    assert isinstance(c, CallText) and r.contact is not None
    if not c.turns:
        return None
    speakers = {True: _speaker(r.staff), False: _speaker(r.contact)}
    clock, monologues = 0, []
    for turn in c.turns:
        sentences = []
        for s in re.split(r"(?<=[.?!])\s+", turn.text):
            length = 400 + 60 * len(s.split())
            sentences.append({"start": clock, "end": clock + length, "text": s})
            clock += length + 250
        monologues.append({"speakerId": speakers[turn.internal], "topic": None,
                           "sentences": sentences})
    return {"callId": r.vendor_id, "transcript": monologues}

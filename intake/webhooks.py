"""Vendor webhook payloads -> the documents the `ingest.connectors` already read.

Each adapter unwraps the vendor's envelope (Zendesk event `detail`, Intercom notification
`data.item`, Canny `object`, Gong `callData`, Salesforce SOAP `sObject`) into the export shape
of the matching connector, so a webhook record and an exported record become the same
canonical event. A payload that is not JSON (XML for Salesforce), or nested too deeply to
parse, is `Malformed` (400); one with more than `max_events` events is `Malformed` (413); a
record inside it that the connector cannot map goes to the DLQ; an event kind trendmine does
not use (an Intercom ping, a Canny comment) is counted as ignored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml

from ingest import connectors
from schemas.names import Source

Item = connectors.Parsed | connectors.Unparseable


class Malformed(Exception):
    """The body is not what this endpoint reads: answer 400 (422 for an event posted to
    another source's endpoint), publish nothing."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Payload:
    """The records of one request, and how many events in it were of no use to trendmine."""

    items: list[Item]
    ignored: int = 0
    format: str = "canonical"
    ack: dict[str, Any] = field(default_factory=dict)


def _json(body: bytes, max_events: int) -> Any:
    """The parsed body, refused before any mapping when it carries more than `max_events`
    events (a list, or the largest list among an object's values: {"tickets": [...]})."""
    doc = _load(body)
    check_count(_count(doc), max_events)
    return doc


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Malformed(f"body is not valid JSON ({exc})") from None
    except RecursionError:
        raise Malformed("body is JSON nested too deeply") from None


def _count(doc: Any) -> int:
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        return max((len(v) for v in doc.values() if isinstance(v, list)), default=1)
    return 1


def check_count(events: int, max_events: int) -> None:
    if events > max_events:
        raise Malformed(f"{events} events in one request; at most {max_events} "
                        "(TRENDMINE_INTAKE_MAX_EVENTS): send them in smaller requests",
                        status=413)


def _parse(target: str, fmt: str, doc: Any) -> list[Item]:
    try:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return list(connectors.parse(target, fmt, data))
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    except RecursionError:
        raise Malformed("a record is nested too deeply") from None


# ---------------------------------------------------------------------------- canonical


def canonical(source: str, body: bytes, *, max_events: int) -> Payload:
    """One canonical event or a JSON array of them; `source` is filled in when absent and
    must match the path when present. Field contents are validated by the consumer, which
    dead-letters what fails (one validator, one place)."""
    doc = _json(body, max_events)
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise Malformed("empty array: send one event or a non-empty array")
    items: list[Item] = []
    for n, event in enumerate(events):
        if not isinstance(event, dict):
            raise Malformed(f"element {n} is a JSON {type(event).__name__}, not an object")
        given = event.setdefault("source", source)
        if given != source:
            raise Malformed(
                f"element {n} has source {given!r} but was posted to {source!r}", status=422
            )
        key = event.get("account_id")
        items.append(connectors.Parsed(str(key) if key is not None else None, event))
    return Payload(items)


# ---------------------------------------------------------------------------- vendors


def zendesk(body: bytes, *, max_events: int) -> Payload:
    """Event webhooks ({"type": "zen:event-type:ticket.*", "detail": {ticket}}) or trigger
    webhooks whose JSON body is a ticket, {"ticket": {...}} or {"tickets": [...]}."""
    doc = _json(body, max_events)
    if isinstance(doc, dict) and str(doc.get("type", "")).startswith("zen:event-type:"):
        if not str(doc["type"]).startswith("zen:event-type:ticket"):
            return Payload([], ignored=1, format="zendesk-tickets-json")
        doc = {"ticket": doc.get("detail") or {}}
    fmt = "zendesk-tickets-json"
    return Payload(_parse(Source.SUPPORT_TICKETS, fmt, doc), format=fmt)


def intercom(body: bytes, *, max_events: int) -> Payload:
    """Notifications ({"type": "notification_event", "topic", "data": {"item"}}): the
    conversation topics carry the conversation; ping and other topics are ignored."""
    doc = _json(body, max_events)
    fmt = "intercom-conversations-json"
    if not isinstance(doc, dict) or doc.get("type") != "notification_event":
        return Payload(_parse(Source.SUPPORT_TICKETS, fmt, doc), format=fmt)
    item = (doc.get("data") or {}).get("item")
    if not str(doc.get("topic", "")).startswith("conversation") or not isinstance(item, dict):
        return Payload([], ignored=1, format=fmt)
    page = {"type": "conversation.list", "conversations": [item]}
    return Payload(_parse(Source.SUPPORT_TICKETS, fmt, page), format=fmt)


CANNY_FORMAT = "canny-posts-json"
_CANNY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def canny_post_id(body: bytes) -> str | None:
    """The id of the post a Canny event is about: {"type": "post.created" | "vote.created"
    | ..., "objectType", "object"}; a post event carries the post, a vote event the post it
    counts for. None for an event trendmine does not use (comments, deletions, ...). The
    body is not signed: only the id is read from it, the post comes from Canny's API."""
    doc = _load(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("object"), dict):
        raise Malformed("not a Canny webhook event (no object)")
    if str(doc.get("type", "")).endswith(".deleted"):
        return None
    obj = doc["object"]
    post = obj if doc.get("objectType") == "post" else obj.get("post")
    if doc.get("objectType") not in ("post", "vote") or not isinstance(post, dict):
        return None
    if not isinstance(post.get("id"), str) or not _CANNY_ID.fullmatch(post["id"]):
        raise Malformed("Canny post without a valid id")
    return post["id"]


def canny(posts: list[dict[str, Any]]) -> Payload:
    """Posts as Canny's API returns them (posts/retrieve), mapped like a posts/list page."""
    return Payload(_parse(Source.IDEAS, CANNY_FORMAT, {"posts": posts}), format=CANNY_FORMAT)


def gong(body: bytes, *, max_events: int) -> Payload:
    """Automation-rule webhooks: {"callData": {metaData, context, parties, content}, "isTest"}
    (the call data has the /v2/calls/extensive shape)."""
    doc = _json(body, max_events)
    fmt = "gong-calls-json"
    if isinstance(doc, dict) and isinstance(doc.get("callData"), dict):
        doc = {"calls": [doc["callData"]]}
    return Payload(_parse(Source.SALES_CALLS, fmt, doc), format=fmt)


HUBSPOT_FORMATS = {
    "crm_notes": "hubspot-notes-json",
    "accounts": "hubspot-companies-json",
    "opportunities": "hubspot-deals-json",
}


def hubspot(target: str, body: bytes, *, max_events: int) -> Payload:
    """CRM v3 objects (a workflow's "Send a webhook" action, or a relay): one object, a list
    or a page. Subscription events (ids only, no properties) are ignored: they carry no text."""
    doc = _json(body, max_events)
    fmt = HUBSPOT_FORMATS[target]
    if isinstance(doc, list) and doc and all(
        isinstance(e, dict) and "subscriptionType" in e for e in doc
    ):
        return Payload([], ignored=len(doc), format=fmt)
    return Payload(_parse(target, fmt, doc), format=fmt)


# ---------------------------------------------------------------------------- salesforce

SALESFORCE_FORMATS = {
    "crm_notes": "salesforce-notes-csv",
    "accounts": "salesforce-accounts-csv",
    "opportunities": "salesforce-opportunities-csv",
}
SOAP_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class OutboundMessage:
    organization_id: str | None
    objects: list[dict[str, str]]


def parse_outbound(body: bytes) -> OutboundMessage:
    """The SOAP notifications of a Salesforce outbound message: org id and each sObject's
    fields. defusedxml refuses any DTD (so no entity can expand, in whatever encoding the
    body declares); the body size is bounded before we get here."""
    try:
        root = parse_xml(body, forbid_dtd=True)
    except DefusedXmlException:
        raise Malformed("DOCTYPE/ENTITY declarations are not accepted") from None
    except ParseError as exc:
        raise Malformed(f"body is not XML ({exc})") from None
    org = next((e.text for e in root.iter() if _local(e.tag) == "OrganizationId"), None)
    objects = []
    for element in root.iter():
        if _local(element.tag) == "sObject":
            objects.append({_local(f.tag): (f.text or "") for f in element})
    if not any(_local(e.tag) == "notifications" for e in root.iter()):
        raise Malformed("not a Salesforce outbound message (no notifications element)")
    return OutboundMessage(org, objects)


def salesforce(target: str, message: OutboundMessage, *, max_events: int) -> Payload:
    """Each sObject becomes a one-row CSV for the Salesforce CSV connector (the same column
    names as a Data Loader export), so both roads map fields the same way."""
    check_count(len(message.objects), max_events)
    fmt = SALESFORCE_FORMATS[target]
    items: list[Item] = []
    for obj in message.objects:
        items.extend(_parse(target, fmt, _one_row_csv(obj)))
    return Payload(items, format=fmt)


def _one_row_csv(fields: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(fields))
    writer.writerow(list(fields.values()))
    return out.getvalue().encode()

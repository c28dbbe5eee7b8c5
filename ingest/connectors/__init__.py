"""Source connectors: vendor export files -> canonical records for Kafka.

    formats_for("support_tickets")      -> ["canonical", "zendesk-tickets-json", ...]
    detect_format(target, head, name)   -> a format name, or ValueError listing the choices
    parse(target, fmt, data)            -> Parsed(key, value) | Unparseable(raw, reason)

A vendor record that cannot be mapped is yielded as Unparseable (it goes to the DLQ with
its reason), never dropped. Canonical values use the field names of schemas/events.py;
the consumer validates them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO

from ingest.connectors import canny, canonical, gong, hubspot, intercom, salesforce, zendesk
from ingest.connectors._base import FEEDBACK_TARGETS, Format, Head, Parsed, Unparseable, as_stream
from schemas.names import TARGETS, Source

__all__ = [
    "FORMATS", "TARGETS", "Format", "Parsed", "Unparseable", "detect_format", "formats_for",
    "parse",
]

assert set(FEEDBACK_TARGETS) == {s.value for s in Source}

_FORMAT_LIST = (
    Format("canonical", TARGETS,
           "JSON Lines, one canonical object per line (schemas/events.py field names)",
           canonical.parse, canonical.sniff),
    Format("salesforce-notes-csv", ("crm_notes",),
           "Salesforce Data Loader CSV of Note and/or ContentNote",
           salesforce.parse_notes, salesforce.sniff_notes),
    Format("hubspot-notes-json", ("crm_notes",),
           "HubSpot CRM v3 notes objects page ({results: [...]}) or list",
           hubspot.parse_notes, hubspot.sniff_notes),
    Format("zendesk-tickets-json", ("support_tickets",),
           "Zendesk tickets API / incremental export JSON, or JSON Lines of tickets",
           zendesk.parse, zendesk.sniff),
    Format("intercom-conversations-json", ("support_tickets",),
           "Intercom Conversations API JSON (conversation.list or single conversations)",
           intercom.parse, intercom.sniff),
    Format("canny-posts-json", ("ideas",),
           "Canny posts/list JSON ({posts: [...]}) or JSON Lines of posts",
           canny.parse, canny.sniff),
    Format("gong-calls-json", ("sales_calls",),
           "Gong /v2/calls/extensive JSON, optionally with /v2/calls/transcript data",
           gong.parse, gong.sniff),
    Format("salesforce-accounts-csv", ("accounts",),
           "Salesforce Account CSV export (ARR__c, Segment__c, ICP_Fit__c, Plan__c, Region__c)",
           salesforce.parse_accounts, salesforce.sniff_accounts),
    Format("hubspot-companies-json", ("accounts",),
           "HubSpot CRM v3 companies objects page ({results: [...]}) or list",
           hubspot.parse_companies, hubspot.sniff_companies),
    Format("salesforce-opportunities-csv", ("opportunities",),
           "Salesforce Opportunity CSV export",
           salesforce.parse_opportunities, salesforce.sniff_opportunities),
    Format("hubspot-deals-json", ("opportunities",),
           "HubSpot CRM v3 deals objects page ({results: [...]}) or list",
           hubspot.parse_deals, hubspot.sniff_deals),
)
FORMATS: dict[str, Format] = {f.name: f for f in _FORMAT_LIST}

# File-name words that point at one vendor, used only to break ties between candidates.
_NAME_HINTS = {
    "salesforce": "salesforce", "sfdc": "salesforce", "hubspot": "hubspot",
    "zendesk": "zendesk", "intercom": "intercom", "canny": "canny", "gong": "gong",
    "canonical": "canonical",
}


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of: {', '.join(TARGETS)}")


def formats_for(target: str) -> list[str]:
    """Format names that can carry `target`, canonical first."""
    _check_target(target)
    return [f.name for f in _FORMAT_LIST if target in f.targets]


def _head(target: str, head: bytes, filename: str | None) -> Head:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    name = (filename or "").lower()
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        first, _, rest = stripped.partition("\n")
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return Head(target, text, name, "json")
        # A canonical record may hold lists too (an account's domains): its fields say so.
        is_page = isinstance(obj, dict) and any(isinstance(v, list) for v in obj.values()) \
            and not any(shape <= obj.keys() for shape in canonical.SHAPE_FIELDS.values())
        if isinstance(obj, dict) and (rest.strip() or not is_page):
            return Head(target, text, name, "jsonl", first_keys=frozenset(obj))
        return Head(target, text, name, "json")
    if name.endswith(".csv") or "," in stripped.partition("\n")[0]:
        header = next(csv.reader(io.StringIO(stripped.partition("\n")[0])), [])
        return Head(target, text, name, "csv",
                    columns=frozenset(h.strip().lower() for h in header))
    return Head(target, text, name, "unknown")


def _describe(h: Head) -> str:
    if h.kind == "csv":
        cols = sorted(h.columns)
        return f"a CSV with columns {', '.join(cols[:10])}{', ...' if len(cols) > 10 else ''}"
    if h.kind == "jsonl":
        return f"JSON Lines whose first object has keys {', '.join(sorted(h.first_keys)[:10])}"
    return {"json": "a JSON document", "unknown": "neither CSV nor JSON"}[h.kind]


def detect_format(target: str, head: bytes, filename: str | None = None) -> str:
    """The format of a file from its first bytes (and name); ValueError when unsure."""
    choices = formats_for(target)
    h = _head(target, head, filename)
    matches = [n for n in choices if FORMATS[n].sniff and FORMATS[n].sniff(h)]  # type: ignore[misc]
    if len(matches) > 1 and h.filename:
        hinted = [n for n in matches
                  if any(word in h.filename and n.startswith(vendor)
                         for word, vendor in _NAME_HINTS.items())]
        matches = hinted or matches
    if len(matches) == 1:
        return matches[0]
    label = repr(filename) if filename else "the input"
    if matches:
        raise ValueError(
            f"cannot tell the format of {label} for {target}: it could be "
            f"{' or '.join(matches)}; pass --format, one of: {', '.join(choices)}"
        )
    raise ValueError(
        f"{label} does not look like any {target} format (it is {_describe(h)}); "
        f"pass --format, one of: {', '.join(choices)}"
    )


def parse(target: str, fmt: str, data: bytes | IO[bytes]) -> Iterator[Parsed | Unparseable]:
    """Records of one file. ValueError when the format does not carry the target or the
    whole file is unreadable as that format (wrong --format)."""
    _check_target(target)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats for {target}: "
                         f"{', '.join(formats_for(target))}")
    spec = FORMATS[fmt]
    if target not in spec.targets:
        raise ValueError(f"format {fmt!r} does not carry {target}; use one of: "
                         f"{', '.join(formats_for(target))}")
    return spec.parse(target, as_stream(data))

"""Gong calls: POST /v2/calls/extensive ({"calls": [{"metaData", "context", "parties",
"content"}], "records"}) with contentSelector exposing brief/keyPoints/outline, optionally
with transcripts from POST /v2/calls/transcript ({"callTranscripts": [...]}) in the same
file (top level, or a "transcript" inside each call).

Text = brief + key points + what EXTERNAL (customer) speakers said in the transcript. The
account and the deal come from the CRM context objects (Salesforce Account/Opportunity,
HubSpot Company/Deal).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from ingest.connectors._base import (
    Head,
    Item,
    Parsed,
    RecordError,
    Unparseable,
    account_ref,
    clean_str,
    compact,
    iso,
    iter_json_records,
    parse_timestamp,
    record_json,
    safe_map,
    sfdc_id,
)
from ingest.normalise import email_domain, normalise_text

VENDOR = "gong"
LIST_KEYS = ("calls",)
ACCOUNT_TYPES = {"account", "company"}
DEAL_TYPES = {"opportunity", "deal"}


def _is_call(obj: dict[str, Any]) -> bool:
    return "metaData" in obj or "callTranscripts" in obj


def crm_ids(call: dict[str, Any]) -> tuple[str | None, str | None]:
    """(account id, opportunity id) from the call's CRM context."""
    account = opportunity = None
    for ctx in call.get("context") or []:
        is_sfdc = str(ctx.get("system", "")).lower() == "salesforce"
        for obj in ctx.get("objects") or []:
            kind = str(obj.get("objectType", "")).lower()
            oid = sfdc_id(obj.get("objectId")) if is_sfdc else clean_str(obj.get("objectId"))
            if kind in ACCOUNT_TYPES and account is None:
                account = oid
            elif kind in DEAL_TYPES and opportunity is None:
                opportunity = oid
    return account, opportunity


def customer_domain(call: dict[str, Any]) -> str | None:
    """The company e-mail domain of the call's external participants (the first one that is
    not a free-mail domain)."""
    for p in call.get("parties") or []:
        if str(p.get("affiliation", "")).lower() == "external":
            domain = email_domain(clean_str(p.get("emailAddress")))
            if domain:
                return domain
    return None


def _monologues(call: dict[str, Any], transcripts: dict[str, list[Any]]) -> list[Any]:
    inline = call.get("transcript")
    if isinstance(inline, dict):
        inline = inline.get("transcript")
    if isinstance(inline, list):
        return inline
    return transcripts.get(str((call.get("metaData") or {}).get("id")), [])


def customer_speech(call: dict[str, Any], monologues: list[Any]) -> str:
    """Sentences spoken by parties whose affiliation is External, one line per turn."""
    external = {
        str(p.get("speakerId")) for p in call.get("parties") or []
        if p.get("speakerId") is not None and str(p.get("affiliation", "")).lower() == "external"
    }
    turns = []
    for mono in monologues:
        if str(mono.get("speakerId")) in external:
            said = " ".join(
                s.get("text", "").strip() for s in mono.get("sentences") or [] if s.get("text")
            )
            if said:
                turns.append(said)
    return "\n".join(turns)


def _call_text(call: dict[str, Any], monologues: list[Any]) -> str:
    content = call.get("content") or {}
    chunks = []
    if brief := normalise_text(content.get("brief") or ""):
        chunks.append(brief)
    points = [clean_str(k.get("text")) for k in content.get("keyPoints") or []]
    if points := [p for p in points if p]:
        chunks.append("Key points:\n" + "\n".join(f"- {p}" for p in points))
    if speech := customer_speech(call, monologues):
        chunks.append("Customer said:\n" + speech)
    if not chunks:  # older exports without brief/keyPoints: fall back to the outline
        items = [
            clean_str(i.get("text"))
            for section in content.get("outline") or [] for i in section.get("items") or []
        ]
        if items := [i for i in items if i]:
            chunks.append("\n".join(f"- {i}" for i in items))
    return "\n\n".join(chunks)


def _call(call: dict[str, Any], transcripts: dict[str, list[Any]]) -> Parsed:
    meta = call.get("metaData") or {}
    call_id = clean_str(meta.get("id"))
    if call_id is None:
        raise RecordError("call has no metaData.id")
    monologues = _monologues(call, transcripts)
    text = _call_text(call, monologues)
    if not text:
        raise RecordError(f"call {call_id} has no brief, key points, outline or customer "
                          "transcript; request contentSelector.exposedFields.content")
    created = parse_timestamp(meta.get("started") or meta.get("scheduled"), "started")
    if created is None:
        raise RecordError(f"call {call_id} has neither metaData.started nor scheduled")
    account_id, opportunity_id = crm_ids(call)
    parties = call.get("parties") or []
    rep = next((p for p in parties if p.get("userId") and
                str(p.get("userId")) == str(meta.get("primaryUserId"))), {})
    return Parsed(account_id, compact({
        "source": "sales_calls",
        "source_id": f"gong:{call_id}",
        "account_id": account_id,
        "account_ref": account_ref(VENDOR, domain=customer_domain(call)),
        "opportunity_id": opportunity_id,
        "text": text,
        "created_at": iso(created),
        "author": clean_str(rep.get("name")) or clean_str(meta.get("primaryUserId")),
        "url": clean_str(meta.get("url")),
        "metadata": {
            "vendor": VENDOR,
            "title": meta.get("title"),
            "duration_s": meta.get("duration"),
            "direction": meta.get("direction"),
            "scope": meta.get("scope"),
            "system": meta.get("system"),
            "media": meta.get("media"),
            "language": meta.get("language"),
            "external_parties": sum(
                1 for p in parties if str(p.get("affiliation", "")).lower() == "external"
            ),
            "has_transcript": bool(monologues),
        },
    }))


def parse(target: str, stream: IO[bytes]) -> Iterator[Item]:
    transcripts: dict[str, list[Any]] = {}
    raw_transcripts: dict[str, Any] = {}
    used: set[str] = set()

    def collect(doc: dict[str, Any]) -> None:
        for t in doc.get("callTranscripts") or []:
            cid = str(t.get("callId"))
            transcripts[cid] = t.get("transcript") or []
            raw_transcripts[cid] = t

    for item in iter_json_records(stream, LIST_KEYS, "Gong", _is_call, collect):
        if isinstance(item, Unparseable):
            yield item
            continue
        _, call, raw = item
        if isinstance(call, dict) and "callTranscripts" in call and "metaData" not in call:
            continue  # a transcript page: collected above, matched to calls below
        if isinstance(call, dict):
            used.add(str((call.get("metaData") or {}).get("id")))
        yield safe_map(raw, lambda c=call: _call(c, transcripts), "Gong call")
    for cid in sorted(raw_transcripts.keys() - used):
        yield Unparseable(
            record_json(raw_transcripts[cid]),
            f"transcript of Gong call {cid} has no call metadata in this file; export "
            "/v2/calls/extensive and /v2/calls/transcript for the same calls together",
        )


def sniff(head: Head) -> bool:
    if head.kind == "json":
        return '"calls"' in head.text or '"callTranscripts"' in head.text \
            or '"metaData"' in head.text
    if head.kind == "jsonl":
        return "metaData" in head.first_keys or "callTranscripts" in head.first_keys
    return False

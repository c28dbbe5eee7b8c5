"""Write a World as the vendors' own export files, one folder per ingest target.

    out_dir/
      accounts/        salesforce_accounts_<date>.csv, hubspot_companies_<date>.json
      opportunities/   salesforce_opportunities_<date>.csv, hubspot_deals_<date>.json
      crm_notes/       salesforce_notes_<date>.csv, hubspot_notes_<date>.jsonl (API pages)
      support_tickets/ zendesk_tickets_<date>.jsonl (incremental-export pages),
                       intercom_conversations_<date>.jsonl (one conversation a line)
      ideas/           canny_posts_<date>.json
      sales_calls/     gong_calls_<date>.json (calls + transcripts)
      bad/             <target>_legacy_import.jsonl: canonical lines broken on purpose

Feedback is cut into 4-week export windows by last modification, as incremental exports
are; a re-exported record lands in a later window (or twice in the same one). Every file
is deterministic: the same world gives the same bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from demoworld import crm_formats as crm
from demoworld import feedback_formats as fb
from demoworld.feedback import (
    FMT_CANNY,
    FMT_GONG,
    FMT_HS_NOTES,
    FMT_INTERCOM,
    FMT_SF_NOTES,
    FMT_ZENDESK,
)
from demoworld.world import CRM_SALESFORCE, Account, Feedback, World
from schemas.names import TARGETS

WINDOW = timedelta(weeks=4)
HUBSPOT_PAGE = 100
ZENDESK_PAGE = 1000
BAD_DIR = "bad"


def _dumps(obj: Any, indent: int | None = None) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=indent).encode()


def _jsonl(objs: list[Any]) -> bytes:
    return b"".join(_dumps(o) + b"\n" for o in objs)


class _Out:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[str, list[Path]] = {t: [] for t in TARGETS}

    def write(self, target: str, name: str, data: bytes, folder: str | None = None) -> None:
        path = self.root / (folder or target) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.paths[target].append(path)


def write_world(world: World, out_dir: Path) -> dict[str, list[Path]]:
    """Write every file; returns target -> paths (bad/ files listed last under their target)."""
    out = _Out(Path(out_dir))
    _write_accounts(world, out)
    _write_opportunities(world, out)
    windows = _windows(world)
    for fmt, batches in _by_window(world, windows).items():
        for start, records in sorted(batches.items()):
            _FEEDBACK_WRITERS[fmt](world, out, start.date().isoformat(), records)
    for target in TARGETS:
        lines = [b.line for b in world.bad_records if b.target == target]
        if lines:
            out.write(target, f"{target}_legacy_import.jsonl", b"".join(x + b"\n" for x in lines),
                      folder=BAD_DIR)
    return out.paths


# ---------------------------------------------------------------------------- windows


def _windows(world: World) -> list[datetime]:
    starts, t = [], world.start
    while t < world.end:
        starts.append(t)
        t += WINDOW
    return starts


def _window_of(windows: list[datetime], when: datetime) -> datetime:
    return max((w for w in windows if w <= when), default=windows[0])


def _by_window(world: World, windows: list[datetime]) -> dict[str, dict[datetime,
                                                                          list[Feedback]]]:
    out: dict[str, dict[datetime, list[Feedback]]] = defaultdict(lambda: defaultdict(list))
    for records in world.feedback.values():
        for r in records:
            out[r.fmt][_window_of(windows, r.updated_at)].append(r)
    original = {r.source_id: r.updated_at for rs in world.feedback.values() for r in rs}
    for r in world.reexports:
        w = windows.index(_window_of(windows, r.updated_at))
        # An unchanged copy comes from an overlapping later export (same file if none left).
        if r.updated_at == original[r.source_id]:
            w = min(w + 1, len(windows) - 1)
        out[r.fmt][windows[w]].append(r)
    for batches in out.values():
        for records in batches.values():
            records.sort(key=lambda r: (r.updated_at, r.source_id, r.revision))
    return {fmt: out[fmt] for fmt in sorted(out)}


# ---------------------------------------------------------------------------- CRM


def _write_accounts(world: World, out: _Out) -> None:
    first = {}
    changes: list[Account] = []
    for snap in world.account_snapshots:
        if snap.account_id in first:
            changes.append(snap)
        else:
            first[snap.account_id] = snap
    full_day = world.start.date().isoformat()
    groups = [(f"{full_day}_full", list(first.values()))]
    if changes:
        groups.append((f"{world.end.date().isoformat()}_changes", changes))
    for label, snaps in groups:
        sf = [a for a in snaps if a.crm == CRM_SALESFORCE]
        hs = [a for a in snaps if a.crm != CRM_SALESFORCE]
        if sf:
            out.write("accounts", f"salesforce_accounts_{label}.csv",
                      crm.salesforce_accounts_csv(sf))
        if hs:
            page = {"results": [crm.hubspot_company(a) for a in hs], "paging": None}
            out.write("accounts", f"hubspot_companies_{label}.json", _dumps(page, indent=2))


def _write_opportunities(world: World, out: _Out) -> None:
    day = world.end.date().isoformat()
    sf = [o for o in world.opportunities if o.crm == CRM_SALESFORCE]
    hs = [o for o in world.opportunities if o.crm != CRM_SALESFORCE]
    out.write("opportunities", f"salesforce_opportunities_{day}.csv",
              crm.salesforce_opportunities_csv(sf))
    page = {"results": [crm.hubspot_deal(o) for o in hs], "paging": None}
    out.write("opportunities", f"hubspot_deals_{day}.json", _dumps(page, indent=2))


# ---------------------------------------------------------------------------- feedback


def _sf_notes(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    out.write("crm_notes", f"salesforce_notes_{day}.csv", crm.salesforce_notes_csv(records))


def _hs_notes(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    pages = []
    for i in range(0, len(records), HUBSPOT_PAGE):
        chunk = records[i:i + HUBSPOT_PAGE]
        more = i + HUBSPOT_PAGE < len(records)
        pages.append({"results": [crm.hubspot_note(r) for r in chunk],
                      "paging": {"next": {"after": str(i + HUBSPOT_PAGE)}} if more else None})
    out.write("crm_notes", f"hubspot_notes_{day}.jsonl", _jsonl(pages))


def _zendesk(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    accounts = {a.account_id: a for a in world.accounts}
    pages = []
    for i in range(0, len(records), ZENDESK_PAGE):
        chunk = records[i:i + ZENDESK_PAGE]
        users: dict[int, dict[str, Any]] = {}
        orgs: dict[str, dict[str, Any]] = {}
        for r in chunk:
            assert r.contact is not None
            user = fb.zendesk_user(r.contact, r.account_id)
            users.setdefault(user["id"], user)
            if r.account_id and r.account_id not in orgs:
                a = accounts[r.account_id]
                orgs[r.account_id] = fb.zendesk_org(a.account_id, a.name, a.domain)
        last = int(chunk[-1].updated_at.timestamp())
        pages.append({
            "tickets": [fb.zendesk_ticket(r) for r in chunk],
            "users": list(users.values()), "organizations": list(orgs.values()),
            "after_cursor": fb.digest(f"{day}:{i}", 32), "before_cursor": None,
            "end_time": last, "end_of_stream": i + ZENDESK_PAGE >= len(records),
            "count": len(chunk),
        })
    out.write("support_tickets", f"zendesk_tickets_{day}.jsonl", _jsonl(pages))


def _intercom(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    out.write("support_tickets", f"intercom_conversations_{day}.jsonl",
              _jsonl([fb.intercom_conversation(r) for r in records]))


def _canny(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    arr = {a.account_id: a.arr for a in world.accounts}
    doc = {"hasMore": False,
           "posts": [fb.canny_post(r, arr.get(r.account_id or "")) for r in records]}
    out.write("ideas", f"canny_posts_{day}.json", _dumps(doc, indent=2))


def _gong(world: World, out: _Out, day: str, records: list[Feedback]) -> None:
    accounts = {a.account_id: a for a in world.accounts}

    def call(r: Feedback) -> dict[str, Any]:
        a = accounts.get(r.account_id or "")
        return fb.gong_call(r, a.crm if a else None, a.region if a else "NA")

    transcripts = [t for r in records if (t := fb.gong_transcript(r)) is not None]
    doc = {
        "requestId": fb.digest(f"gong:{day}", 19),
        "records": {"totalRecords": len(records), "currentPageSize": len(records),
                    "currentPageNumber": 0},
        "calls": [call(r) for r in records],
        "callTranscripts": transcripts,
    }
    out.write("sales_calls", f"gong_calls_{day}.json", _dumps(doc, indent=2))


_FEEDBACK_WRITERS: dict[str, Callable[[World, _Out, str, list[Feedback]], None]] = {
    FMT_SF_NOTES: _sf_notes, FMT_HS_NOTES: _hs_notes, FMT_ZENDESK: _zendesk,
    FMT_INTERCOM: _intercom, FMT_CANNY: _canny, FMT_GONG: _gong,
}

"""Jira/Linear links: `trendmine theme link`, and the issue events that move linked themes.

`apply_events` consumes the trackers.issues topic (intake.trackers publishes it) in the
consumer group `trendmine-trackers`: each event updates its link's state (an event older than
the one applied is skipped), then the theme's status follows ALL its linked issues:
shipped once every one is done (or canceled, one at least done), planned while any is started
or done. The move is an ordinary decision (warehouse.loop.decide, by "<tracker>:<actor>"), so
the feedback.loop events and the owners' messages follow as for `theme status`. Offsets are
committed after the database commit: an event is applied at least once, and applying it
again changes nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest.kafka import consumer
from schemas.names import CURRENT_DECISIONS_VIEW, THEME_LINKS_TABLE, TRACKER_TOPIC, TRACKERS
from warehouse.loop import decide

GROUP = "trendmine-trackers"
JOIN_TIMEOUT_S = 30.0
KEY_FORMS = {"jira": re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]*"),
             "linear": re.compile(r"[A-Z0-9]{1,10}-[1-9][0-9]*")}
KEY_EXAMPLES = {"jira": "PROJ-123", "linear": "ENG-12"}


@dataclass
class Link:
    theme_id: int
    tracker: str
    issue_key: str
    url: str | None
    issue_state: str | None
    state_kind: str | None
    decision: str | None = None


def check_key(tracker: str, key: str) -> str:
    if tracker not in TRACKERS:
        raise TrendmineError(f"unknown tracker {tracker!r}", f"use one of {', '.join(TRACKERS)}")
    key = key.strip().upper()
    if not KEY_FORMS[tracker].fullmatch(key):
        raise TrendmineError(f"{key!r} is not a {tracker} issue key",
                             f"give the key as the tracker shows it, e.g. {KEY_EXAMPLES[tracker]}")
    return key


def link(conn: psycopg.Connection, theme_id: int, tracker: str, key: str, who: str) -> bool:
    """Link an issue to a theme (an issue links to one theme: linking it again moves it);
    False when it was linked to this theme already."""
    key = check_key(tracker, key)
    with conn.transaction():
        theme = conn.execute("SELECT status, merged_into FROM trendmine.themes "
                             "WHERE theme_id = %s", (theme_id,)).fetchone()
        if theme is None:
            raise TrendmineError(f"no theme {theme_id}",
                                 "see `trendmine trends` or trends.themes for theme ids")
        if theme[0] == "merged":
            raise TrendmineError(f"theme {theme_id} was merged into theme {theme[1]}",
                                 f"link the issue to theme {theme[1]}")
        return conn.execute(
            f"INSERT INTO {THEME_LINKS_TABLE} (theme_id, tracker, issue_key, linked_by) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tracker, issue_key) DO UPDATE "
            "SET theme_id = EXCLUDED.theme_id, linked_by = EXCLUDED.linked_by, "
            "linked_at = now() WHERE theme_links.theme_id <> EXCLUDED.theme_id",
            (theme_id, tracker, key, who)).rowcount > 0


def unlink(conn: psycopg.Connection, tracker: str, key: str) -> bool:
    key = check_key(tracker, key)
    return conn.execute(f"DELETE FROM {THEME_LINKS_TABLE} WHERE tracker = %s AND issue_key = %s",
                        (tracker, key)).rowcount > 0


def theme_links(conn: psycopg.Connection, theme_ids: list[int]) -> dict[int, list[Link]]:
    """{theme: its links with the issue's last state and the decision in force}."""
    out: dict[int, list[Link]] = {}
    rows = conn.execute(
        "SELECT l.theme_id, l.tracker, l.issue_key, l.url, l.issue_state, l.state_kind, "
        f"d.decision FROM {THEME_LINKS_TABLE} l "
        f"LEFT JOIN {CURRENT_DECISIONS_VIEW} d USING (theme_id) "
        "WHERE l.theme_id = ANY(%s) ORDER BY l.theme_id, l.tracker, l.issue_key",
        (theme_ids,)).fetchall()
    for r in rows:
        out.setdefault(r[0], []).append(Link(*r))
    return out


@dataclass
class Applied:
    events: int = 0
    unlinked: int = 0  # events about issues no theme is linked to
    moved: list[str] = field(default_factory=list)  # "theme 7 -> planned (jira PROJ-1 ...)"
    skipped: list[str] = field(default_factory=list)


def target_decision(kinds: list[str | None]) -> str | None:
    """What a theme's linked issues say: shipped when all are done (canceled ones aside, one
    done at least), planned while any is started or done, else nothing."""
    live = [k for k in kinds if k != "canceled"]
    if live and all(k == "done" for k in live):
        return "shipped"
    if any(k in ("started", "done") for k in live):
        return "planned"
    return None


def apply_event(conn: psycopg.Connection, settings: Settings, event: dict[str, Any],
                applied: Applied) -> None:
    applied.events += 1
    at = datetime.fromisoformat(event["at"])
    with conn.transaction():
        row = conn.execute(
            f"UPDATE {THEME_LINKS_TABLE} SET issue_state = %s, state_kind = %s, "
            "url = coalesce(%s, url), updated_at = %s "
            "WHERE tracker = %s AND issue_key = %s "
            "AND (updated_at IS NULL OR updated_at <= %s) RETURNING theme_id",
            (event.get("state"), event.get("state_kind"), event.get("url"), at,
             event["tracker"], event["key"], at)).fetchone()
        if row is None:
            applied.unlinked += 1
            return
        theme_id = row[0]
        kinds = [k for (k,) in conn.execute(
            f"SELECT state_kind FROM {THEME_LINKS_TABLE} WHERE theme_id = %s",
            (theme_id,)).fetchall()]
        target = target_decision(kinds)
        if target is None:
            return
        issue = f"{event['tracker'].title()} {event['key']}"
        note = f"{issue} is {event.get('state') or event.get('state_kind')}"
        who = f"{event['tracker']}:{event.get('actor') or 'webhook'}"
        try:
            d = decide(conn, settings, theme_id, target, note, who)
        except TrendmineError as exc:
            applied.skipped.append(f"{issue}: {exc.message}")
            return
        if d.changed:
            applied.moved.append(f"theme {theme_id} -> {target} ({note})")


def apply_pending(conn: psycopg.Connection, settings: Settings) -> Applied:
    """Consume the tracker events not yet applied (until none came for idle_seconds)."""
    applied = Applied()
    c = consumer(settings, settings.topic(TRACKER_TOPIC), group_id=GROUP)
    try:
        joined = time.monotonic() + JOIN_TIMEOUT_S
        while not c.assignment() and time.monotonic() < joined:  # a group join takes seconds
            for part in c.poll(timeout_ms=300).values():
                for m in part:  # records of the join's first fetch: apply them too
                    _apply_message(conn, settings, m, applied)
        c.commit()
        last = time.monotonic()
        while time.monotonic() - last < settings.idle_seconds:
            batch = c.poll(timeout_ms=300)
            msgs = [m for part in batch.values() for m in part]
            if not msgs:
                continue
            last = time.monotonic()
            for m in msgs:
                _apply_message(conn, settings, m, applied)
            c.commit()  # after every event of the batch is committed in Postgres
    finally:
        c.close()
    return applied


def _apply_message(conn: psycopg.Connection, settings: Settings, m: Any,
                   applied: Applied) -> None:
    try:
        event = json.loads(m.value)
        apply_event(conn, settings, event, applied)
    except (ValueError, KeyError, TypeError) as exc:  # not an event of ours: never blocks
        applied.skipped.append(f"offset {m.offset}: unreadable event ({exc})")


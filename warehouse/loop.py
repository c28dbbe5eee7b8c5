"""Closing the loop: a decision on a theme becomes one feedback.loop event per requesting account.

Delivery, at least once and never lost:

1. `decide` records the decision AND one pending row per requesting account
   (trendmine.loop_notifications) in the same transaction: a decision is never recorded
   without the list of whom to tell.
2. `publish_pending` locks the pending rows (FOR UPDATE SKIP LOCKED: two publishers never
   take the same rows), produces one event per row with acks=all, waits for every future,
   and only then marks the rows notified, in the same transaction as the lock. A crash
   between producing and marking leaves the rows pending, so the next run produces them again
   with the SAME event id (`decision_id:account_id`, in the value and the
   `trendmine.event_id` header): consumers drop what they have already seen.
3. `notify_new_requesters` (a pipeline task) adds pending rows for accounts that asked for a
   decided theme after the decision, so they are told on the next run.

Recording the same decision again is a no-op: nothing new is pending, nothing is published
twice. Every decision records who made it (`--by`, else TRENDMINE_USER, else the login name,
as curation does), and follows its theme: a merge moves it to the surviving theme, a split
carries it to each part (warehouse.curation; `theme_decisions` reads them back with whom
they told).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from kafka.errors import KafkaError
from psycopg.rows import class_row

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest.kafka import producer as kafka_producer
from schemas.names import (
    CURRENT_DECISIONS_VIEW,
    DECISIONS,
    LOOP_HEADER_EVENT_ID,
    LOOP_NOTIFICATIONS_TABLE,
    LOOP_TOPIC,
    THEME_DECISIONS_TABLE,
    THEME_RECORDS_VIEW,
)


@dataclass
class Decision:
    decision_id: int
    theme_id: int
    label: str
    decision: str
    changed: bool  # False: the theme already had this decision, nothing new to tell
    requesters: int  # pending notifications this call added


@dataclass
class LoopEvent:
    """One pending notification with everything its event carries."""

    event_id: str
    decision_id: int
    theme_id: int
    label: str
    decision: str
    note: str | None
    decided_by: str | None
    decided_at: datetime
    account_id: str
    account_name: str | None
    owner: str | None
    records: list[list[str]]

    def value(self) -> bytes:
        body = {
            "event_id": self.event_id, "theme_id": self.theme_id, "label": self.label,
            "decision": self.decision, "note": self.note, "account_id": self.account_id,
            "account_name": self.account_name, "owner": self.owner,
            "decided_at": self.decided_at.isoformat(), "decided_by": self.decided_by,
            "records": self.records,
        }
        return json.dumps(body, ensure_ascii=False).encode()


_ADD_PENDING = f"""
INSERT INTO {LOOP_NOTIFICATIONS_TABLE} (decision_id, account_id)
SELECT DISTINCT d.decision_id, r.account_id
FROM {CURRENT_DECISIONS_VIEW} d
JOIN {THEME_RECORDS_VIEW} r ON r.theme_id = d.theme_id
WHERE r.account_id IS NOT NULL AND (%(decision_id)s::bigint IS NULL
                                    OR d.decision_id = %(decision_id)s::bigint)
ON CONFLICT DO NOTHING
"""


def current_user() -> str:
    """Who is deciding: TRENDMINE_USER, else the login name (curation records the same)."""
    return os.environ.get("TRENDMINE_USER") or getpass.getuser()


def decide(conn: psycopg.Connection, settings: Settings, theme_id: int, decision: str,
           note: str | None = None, who: str | None = None) -> Decision:
    """Record a decision on a theme (by `who`, default `current_user()`) and, in the same
    transaction, whom to tell."""
    who = who or current_user()
    if decision not in DECISIONS:
        raise TrendmineError(f"unknown decision {decision!r}",
                             f"use one of {', '.join(DECISIONS)}")
    with conn.transaction():
        theme = conn.execute(
            "SELECT label, status, merged_into FROM trendmine.themes WHERE theme_id = %s "
            "FOR UPDATE", (theme_id,)).fetchone()  # one decision at a time per theme
        if theme is None:
            raise TrendmineError(f"no theme {theme_id}",
                                 "see `trendmine trends` or trends.themes for theme ids")
        label, status, merged_into = theme
        if status == "merged":
            raise TrendmineError(f"theme {theme_id} was merged into theme {merged_into}",
                                 f"record the decision on theme {merged_into}")
        current = conn.execute(
            f"SELECT decision_id, decision FROM {CURRENT_DECISIONS_VIEW} WHERE theme_id = %s",
            (theme_id,)).fetchone()
        if current is not None and current[1] == decision:
            return Decision(current[0], theme_id, label, decision, False, 0)
        decision_id = conn.execute(
            f"INSERT INTO {THEME_DECISIONS_TABLE} (theme_id, decided_on, decision, note, "
            "decided_by) VALUES (%s, %s, %s, %s, %s) RETURNING decision_id",
            (theme_id, theme_id, decision, note, who)).fetchone()[0]
        added = conn.execute(_ADD_PENDING, {"decision_id": decision_id}).rowcount
    return Decision(decision_id, theme_id, label, decision, True, added)


@dataclass
class Told:
    """An account told (or to be told) of a decision."""

    account_id: str
    name: str | None
    notified_at: datetime | None  # null: pending

    @property
    def display(self) -> str:
        return self.name or self.account_id


@dataclass
class DecisionView:
    """A decision as `theme ID` shows it: what, by whom, when, on which theme, and whom it
    told."""

    decision_id: int
    theme_id: int
    decided_on: int | None
    carried_from: int | None
    decision: str
    note: str | None
    decided_by: str | None
    decided_at: datetime
    in_force: bool
    told: list[Told] = field(default_factory=list)


# A theme's decisions: its own (merges moved the absorbed themes' ones here) and those of the
# themes merged into it by mining (merged_into, followed to the end of the chain).
_THEME_DECISIONS = f"""
WITH RECURSIVE absorbed(theme_id) AS (
    SELECT %(theme)s::bigint
    UNION
    SELECT t.theme_id FROM trendmine.themes t JOIN absorbed a ON t.merged_into = a.theme_id
)
SELECT d.decision_id, d.theme_id, d.decided_on, d.carried_from, d.decision, d.note,
       d.decided_by, d.decided_at,
       (d.decision_id = first_value(d.decision_id) OVER (
            ORDER BY d.decided_at DESC, d.decision_id DESC)) AS in_force
FROM {THEME_DECISIONS_TABLE} d
WHERE d.theme_id IN (SELECT theme_id FROM absorbed)
ORDER BY d.decided_at DESC, d.decision_id DESC
"""


def theme_decisions(conn: psycopg.Connection, theme_id: int) -> list[DecisionView]:
    """Every decision on a theme, newest (in force) first, each with the accounts it told or
    will tell (by name)."""
    with conn.cursor(row_factory=class_row(DecisionView)) as cur:
        found = cur.execute(_THEME_DECISIONS, {"theme": theme_id}).fetchall()
    told = told_accounts(conn, [d.decision_id for d in found])
    for d in found:
        d.told = told.get(d.decision_id, [])
    return found


def told_accounts(conn: psycopg.Connection, decision_ids: list[int]) -> dict[int, list[Told]]:
    """{decision id: the accounts it told or will tell, by name}."""
    out: dict[int, list[Told]] = {}
    rows = conn.execute(
        f"SELECT n.decision_id, n.account_id, a.name, n.notified_at "
        f"FROM {LOOP_NOTIFICATIONS_TABLE} n "
        "LEFT JOIN trendmine.accounts a ON a.account_id = n.account_id "
        "WHERE n.decision_id = ANY(%s) ORDER BY n.decision_id, coalesce(a.name, n.account_id)",
        (decision_ids,)).fetchall()
    for did, acct, name, at in rows:
        out.setdefault(did, []).append(Told(acct, name, at))
    return out


def notify_new_requesters(conn: psycopg.Connection) -> int:
    """Pending rows for accounts that asked for a decided theme after its decision."""
    with conn.transaction():
        return conn.execute(_ADD_PENDING, {"decision_id": None}).rowcount


def pending_count(conn: psycopg.Connection) -> int:
    return conn.execute(
        f"SELECT count(*) FROM {LOOP_NOTIFICATIONS_TABLE} WHERE notified_at IS NULL").fetchone()[0]


_LOCK_PENDING = f"""
SELECT decision_id, account_id FROM {LOOP_NOTIFICATIONS_TABLE}
WHERE notified_at IS NULL
ORDER BY decision_id, account_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""

# One pass over the pending keys (no per-row subquery over the views). owner: the author of the
# account's newest CRM note, i.e. the rep who writes about it (account snapshots carry no owner).
_EVENTS = f"""
WITH n AS MATERIALIZED (
    SELECT ln.event_id, ln.decision_id, ln.account_id, d.theme_id, d.decision, d.note,
           d.decided_by, d.decided_at
    FROM unnest(%(ids)s::bigint[], %(accts)s::text[]) AS k(decision_id, account_id)
    JOIN {LOOP_NOTIFICATIONS_TABLE} ln USING (decision_id, account_id)
    JOIN {THEME_DECISIONS_TABLE} d USING (decision_id)
), recs AS (
    SELECT n.decision_id, n.account_id,
           jsonb_agg(jsonb_build_array(f.source, f.source_id)
                     ORDER BY f.created_at, f.source, f.source_id) AS records
    FROM n
    JOIN trendmine.feedback f ON f.account_id = n.account_id
    WHERE EXISTS (SELECT 1 FROM trendmine.feedback_theme ft
                  WHERE ft.feedback_id = f.feedback_id AND ft.theme_id = n.theme_id)
    GROUP BY n.decision_id, n.account_id
), owners AS (
    SELECT DISTINCT ON (f.account_id) f.account_id, f.author AS owner
    FROM trendmine.feedback f
    WHERE f.account_id IN (SELECT account_id FROM n) AND f.source = 'crm_notes'
      AND f.author IS NOT NULL
    ORDER BY f.account_id, f.created_at DESC
)
SELECT n.event_id, n.decision_id, n.theme_id, t.label, n.decision, n.note, n.decided_by,
       n.decided_at, n.account_id, a.name AS account_name, o.owner,
       coalesce(r.records, '[]'::jsonb) AS records
FROM n
JOIN trendmine.themes t ON t.theme_id = n.theme_id
LEFT JOIN trendmine.accounts a ON a.account_id = n.account_id
LEFT JOIN owners o ON o.account_id = n.account_id
LEFT JOIN recs r ON r.decision_id = n.decision_id AND r.account_id = n.account_id
ORDER BY n.decision_id, n.account_id
"""


def publish_pending(conn: psycopg.Connection, settings: Settings, *, batch: int = 5_000,
                    after_send: Callable[[], None] | None = None) -> int:
    """Produce every pending notification (acks=all), then mark them; returns how many.

    One transaction per batch of `batch` rows. `after_send` runs after the brokers
    acknowledged a batch and before its rows are marked: tests use it to crash there.
    """
    total = 0
    while True:
        sent = _publish_batch(conn, settings, batch, after_send)
        total += sent
        if sent < batch:
            return total


def _publish_batch(conn: psycopg.Connection, settings: Settings, limit: int,
                   after_send: Callable[[], None] | None) -> int:
    with conn.transaction():
        keys = conn.execute(_LOCK_PENDING, {"limit": limit}).fetchall()
        if not keys:
            return 0
        ids, accts = [k[0] for k in keys], [k[1] for k in keys]
        with conn.cursor(row_factory=class_row(LoopEvent)) as cur:
            events = cur.execute(_EVENTS, {"ids": ids, "accts": accts}).fetchall()
        _produce(settings, events)
        if after_send is not None:
            after_send()
        conn.execute(
            f"UPDATE {LOOP_NOTIFICATIONS_TABLE} SET notified_at = now() "
            "WHERE (decision_id, account_id) IN "
            "(SELECT * FROM unnest(%(ids)s::bigint[], %(accts)s::text[]))",
            {"ids": ids, "accts": accts})
    return len(keys)


def _produce(settings: Settings, events: list[LoopEvent]) -> None:
    """Send and wait for every acknowledgement; any failure raises before anything is marked."""
    topic = settings.topic(LOOP_TOPIC)
    prod = kafka_producer(settings, client_id="trendmine-loop", acks="all")
    try:
        futures = [prod.send(topic, key=e.account_id.encode(), value=e.value(),
                             headers=[(LOOP_HEADER_EVENT_ID, e.event_id.encode())])
                   for e in events]
        prod.flush(timeout=settings.loop_publish_timeout)
        for f in futures:
            f.get(timeout=settings.loop_publish_timeout)
    except KafkaError as exc:
        raise TrendmineError(f"publishing to {topic} failed: {exc}",
                             "the notifications stay pending; rerun when Kafka is back") from exc
    finally:
        prod.close(timeout=5)

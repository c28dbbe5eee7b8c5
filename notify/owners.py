"""Requesters' owners told: a decision on a theme reaches the owner of each requesting account.

1. `queue` adds one row per theme x decision x requesting account (from the decision's
   feedback.loop notifications, trendmine.loop_notifications, so late requesters come too)
   to trendmine.owner_notifications, ON CONFLICT DO NOTHING: the same decision again (or
   after planned -> declined -> planned) tells nobody twice. Only decisions in force, made
   (or asked after) within the last week: configuring a channel does not dig up old ones.
2. `tell` locks the rows not yet sent (FOR UPDATE SKIP LOCKED), and sends ONE message per
   decision x owner naming the theme, the note and, per account of theirs, what it asked
   (quotes): a Slack DM where the owner has a Slack user id and a bot token is set, else an
   e-mail. An owner who opted out (`trendmine alerts opt-out`) is skipped (opted_out); an
   account without an owner is no_owner, one whose owner no configured channel reaches is
   no_channel. A failure is kept with its reason and retried.
3. With TRENDMINE_CRM_WRITEBACK, each account also gets a Salesforce Task or a HubSpot note
   (notify.crm), tracked apart (crm_status) so a CRM outage never re-sends a message.
The feedback.loop events are unchanged: other consumers still get one per account.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foundation.config import Settings
from notify import crm, deliver, messages
from schemas.names import (
    CURRENT_DECISIONS_VIEW,
    LOOP_NOTIFICATIONS_TABLE,
    OWNER_NOTIFICATIONS_TABLE,
    OWNER_OPTOUTS_TABLE,
    THEME_DECISIONS_TABLE,
)
from warehouse.queries import shorten

QUOTES_PER_ACCOUNT = 3
RECENT = "7 days"


@dataclass
class OwnersReport:
    queued: int = 0
    sent: int = 0  # messages (one per decision x owner)
    opted_out: int = 0  # accounts skipped
    no_owner: int = 0
    no_channel: int = 0  # an owner is known, but no channel reaches them (no SMTP, no bot)
    crm_written: int = 0
    failed: list[str] = field(default_factory=list)


def owner_channels(settings: Settings) -> list[str]:
    out = []
    if settings.slack_bot_token is not None:
        out.append("slack")
    if settings.smtp_url is not None and settings.smtp_from:
        out.append("email")
    return out


def queue(conn: psycopg.Connection, settings: Settings) -> int:
    """Step 1; how many rows are new. Nothing is queued while no channel is configured."""
    if not owner_channels(settings) and settings.crm_writeback == "off":
        return 0
    crm_status = None if settings.crm_writeback == "off" else "pending"
    with conn.transaction():
        return conn.execute(
            f"INSERT INTO {OWNER_NOTIFICATIONS_TABLE} (theme_id, decision, account_id, "
            "decision_id, crm_status) "
            "SELECT d.theme_id, d.decision, ln.account_id, d.decision_id, %s "
            f"FROM {LOOP_NOTIFICATIONS_TABLE} ln JOIN {CURRENT_DECISIONS_VIEW} d "
            f"USING (decision_id) WHERE ln.created_at >= now() - interval '{RECENT}' "
            "ON CONFLICT DO NOTHING", (crm_status,)).rowcount


_DUE = f"""
SELECT n.theme_id, n.decision, n.account_id, n.decision_id, n.status, n.crm_status,
       a.name, a.owner_email, a.owner_slack_id, coalesce(a.external_ids, '{{}}') AS external_ids,
       d.note, d.decided_by, t.label
FROM {OWNER_NOTIFICATIONS_TABLE} n
JOIN {THEME_DECISIONS_TABLE} d USING (decision_id)
JOIN trendmine.themes t ON t.theme_id = n.theme_id
LEFT JOIN trendmine.accounts a USING (account_id)
WHERE n.status IN ('pending', 'failed') OR n.crm_status IN ('pending', 'failed')
ORDER BY n.decision_id, n.account_id
FOR UPDATE OF n SKIP LOCKED
"""


def tell(conn: psycopg.Connection, settings: Settings) -> OwnersReport:
    """Steps 1-3 of the module docstring."""
    report = OwnersReport(queued=queue(conn, settings))
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_DUE).fetchall()
        if not rows:
            return report
        _tell_owners(conn, settings, [r for r in rows if r["status"] in ("pending", "failed")],
                     report)
        if settings.crm_writeback != "off":
            _write_back(conn, settings, [r for r in rows
                                         if r["crm_status"] in ("pending", "failed")], report)
    return report


def _tell_owners(conn: psycopg.Connection, settings: Settings, rows: list[dict[str, Any]],
                 report: OwnersReport) -> None:
    if not rows:
        return
    usable = owner_channels(settings)
    opted = {r[0] for r in conn.execute(f"SELECT owner FROM {OWNER_OPTOUTS_TABLE}").fetchall()}
    groups: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        email = (r["owner_email"] or "").strip().lower() or None
        if {email, r["owner_slack_id"]} & opted:
            _set(conn, [r], "opted_out", None, None, None)
            report.opted_out += 1
        elif "slack" in usable and r["owner_slack_id"]:
            groups[(r["decision_id"], "slack", r["owner_slack_id"])].append(r)
        elif "email" in usable and email:
            groups[(r["decision_id"], "email", email)].append(r)
        elif email or r["owner_slack_id"]:
            _set(conn, [r], "no_channel", None, None, None)
            report.no_channel += 1
        else:
            _set(conn, [r], "no_owner", None, None, None)
            report.no_owner += 1
    for (_, channel, owner), accts in groups.items():
        told = _told(conn, accts)
        try:
            if channel == "slack":
                deliver.slack_dm(settings, owner, messages.slack_owner(told, owner))
            else:
                subject, text = messages.mail_owner(told, owner)
                deliver.send_mail(settings, [owner], subject, text, headers={
                    "List-Unsubscribe": f"<mailto:{settings.smtp_from}?subject=opt-out%20"
                                        f"{owner}>"})
        except deliver.SendFailed as exc:
            _set(conn, accts, "failed", channel, owner, str(exc))
            report.failed.append(f"decision {told['decision_id']} to {owner} via {channel}: "
                                 f"{exc}")
            continue
        _set(conn, accts, "sent", channel, owner, None)
        report.sent += 1


def _told(conn: psycopg.Connection, accts: list[dict[str, Any]]) -> dict[str, Any]:
    """What one message says: the theme, the decision, and each account's own asks."""
    first = accts[0]
    ids = [a["account_id"] for a in accts]
    quotes: dict[str, list[str]] = defaultdict(list)
    for account_id, text in conn.execute(
            "SELECT f.account_id, f.text FROM trendmine.feedback f "
            "WHERE f.account_id = ANY(%s) AND EXISTS (SELECT 1 FROM trendmine.feedback_theme ft "
            "WHERE ft.feedback_id = f.feedback_id AND ft.theme_id = %s) "
            "ORDER BY f.created_at DESC, f.feedback_id", (ids, first["theme_id"])).fetchall():
        if len(quotes[account_id]) < QUOTES_PER_ACCOUNT:
            quotes[account_id].append(shorten(text))
    return {"decision_id": first["decision_id"], "theme_id": first["theme_id"],
            "label": first["label"], "decision": first["decision"], "note": first["note"],
            "decided_by": first["decided_by"],
            "accounts": [{"account_id": a["account_id"], "name": a["name"],
                          "quotes": quotes.get(a["account_id"], [])} for a in accts]}


def _set(conn: psycopg.Connection, rows: list[dict[str, Any]], status: str,
         channel: str | None, owner: str | None, error: str | None) -> None:
    conn.execute(
        f"UPDATE {OWNER_NOTIFICATIONS_TABLE} SET status = %(status)s, channel = %(channel)s, "
        "owner = %(owner)s, last_error = %(error)s, "
        "attempts = attempts + (%(status)s IN ('sent', 'failed'))::integer, "
        "sent_at = CASE WHEN %(status)s = 'sent' THEN now() END "
        "WHERE (theme_id, decision, account_id) IN "
        "(SELECT * FROM unnest(%(themes)s::bigint[], %(decisions)s::text[], %(accts)s::text[]))",
        {"status": status, "channel": channel, "owner": owner, "error": error,
         "themes": [r["theme_id"] for r in rows], "decisions": [r["decision"] for r in rows],
         "accts": [r["account_id"] for r in rows]})


def _write_back(conn: psycopg.Connection, settings: Settings, rows: list[dict[str, Any]],
                report: OwnersReport) -> None:
    for r in rows:
        told = _told(conn, [r])
        try:
            status = crm.write(settings, r, told)
            error = None
        except deliver.SendFailed as exc:
            status, error = "failed", str(exc)
            report.failed.append(f"CRM write-back for {r['account_id']}: {exc}")
        report.crm_written += status == "written"
        conn.execute(
            f"UPDATE {OWNER_NOTIFICATIONS_TABLE} SET crm_status = %s, crm_error = %s "
            "WHERE theme_id = %s AND decision = %s AND account_id = %s",
            (status, error, r["theme_id"], r["decision"], r["account_id"]))


def not_told(conn: psycopg.Connection, limit: int = 50) -> list[tuple[Any, ...]]:
    """(theme, decision, account, status, attempts, last error) of the owners not told yet
    and the CRM writes that failed, newest first (`alerts status`)."""
    return conn.execute(
        f"SELECT theme_id, decision, account_id, status, attempts, "
        f"coalesce(last_error, crm_error) FROM {OWNER_NOTIFICATIONS_TABLE} "
        "WHERE status IN ('pending', 'failed') OR crm_status = 'failed' "
        "ORDER BY created_at DESC LIMIT %s", (limit,)).fetchall()


def opt_out(conn: psycopg.Connection, owner: str, who: str | None, undo: bool = False) -> bool:
    """Record (or lift) an owner's opt-out; False when nothing changed."""
    key = owner.strip().lower() if "@" in owner else owner.strip()
    if undo:
        return conn.execute(f"DELETE FROM {OWNER_OPTOUTS_TABLE} WHERE owner = %s",
                            (key,)).rowcount > 0
    return conn.execute(f"INSERT INTO {OWNER_OPTOUTS_TABLE} (owner, opted_by) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING", (key, who)).rowcount > 0

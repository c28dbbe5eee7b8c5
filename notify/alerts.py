"""Alerts: newly emerging themes and big open deals citing a theme, to Slack and e-mail.

A run (`trendmine alerts send`, the `alerts` deployment):

1. `find_alerts` reads what to alert on through the same queries the CLI shows
   (warehouse.queries.emerging_report, warehouse.sales.deal_themes): one alert per emerging
   theme (`emerging:<theme>`) and per open deal of at least TRENDMINE_ALERTS_DEAL_MIN_AMOUNT
   x theme it cites (`deal:<opportunity>:<theme>`); hidden and chatter themes stay out.
2. `record` adds each to the ledger once per configured channel (ON CONFLICT DO NOTHING): an
   alert is never found twice, so never sent twice.
3. `send_due` locks the unsent rows (FOR UPDATE SKIP LOCKED: two runs never take the same
   row), sends each (retries with backoff, notify.deliver) and marks it sent, or failed with
   the reason (retried at the next run). With TRENDMINE_ALERTS_DIGEST the rows wait, and one
   message per channel carries them once a week.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from foundation.config import Settings
from notify import deliver, messages
from schemas.names import ALERT_DIGESTS_TABLE, ALERT_LEDGER_TABLE
from warehouse.queries import emerging_report, theme_quotes
from warehouse.report_data import unlisted_theme_ids
from warehouse.sales import deal_themes

DIGEST_EVERY = timedelta(days=7)


@dataclass
class Alert:
    key: str
    kind: str
    theme_id: int
    body: dict[str, Any]


@dataclass
class SendReport:
    found: int = 0  # alerts new to the ledger this run
    sent: int = 0
    held: int = 0  # waiting for the weekly digest
    failed: list[str] = field(default_factory=list)  # "<key> via <channel>: <reason>"


def channels(settings: Settings) -> list[str]:
    """The channels alerts go to: those configured."""
    out = []
    if settings.slack_webhook_url is not None:
        out.append("slack")
    if settings.smtp_url is not None and recipients(settings):
        out.append("email")
    return out


def recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in (settings.alerts_email_to or "").split(",") if a.strip()]


def find_alerts(conn: psycopg.Connection, settings: Settings) -> list[Alert]:
    hidden = unlisted_theme_ids(conn)
    found = [
        Alert(f"emerging:{e.theme_id}", "emerging", e.theme_id, {
            "kind": "emerging", "theme_id": e.theme_id, "label": e.label, "is_new": e.is_new,
            "accounts": e.accounts, "arr": e.arr, "pipeline": e.pipeline,
            "segment_mix": e.segment_accounts, "evidence": e.evidence,
            "quote": e.quotes[0] if e.quotes else None})
        for e in emerging_report(conn, limit=100, tz=settings.timezone)
        if e.theme_id not in hidden]
    deals = [d for d in deal_themes(conn, settings, stage="open")
             if d.theme_id not in hidden and float(d.amount) >= settings.alerts_deal_min_amount]
    quotes = theme_quotes(conn, sorted({d.theme_id for d in deals}), n=1)
    for d in deals:
        found.append(Alert(f"deal:{d.opportunity_id}:{d.theme_id}", "deal", d.theme_id, {
            "kind": "deal", "theme_id": d.theme_id, "label": d.label,
            "opportunity_id": d.opportunity_id, "opportunity_name": d.opportunity_name,
            "account_id": d.account_id, "account_name": d.account_name,
            "amount": float(d.amount), "close_date": d.close_date and d.close_date.isoformat(),
            "mentions": d.mentions, "other_accounts": d.other_accounts,
            "other_accounts_arr": float(d.other_accounts_arr),
            "other_segments": d.other_segments,
            "quote": (quotes.get(d.theme_id) or [None])[0]}))
    return found


def record(conn: psycopg.Connection, alerts: list[Alert], to: list[str]) -> int:
    """Ledger rows for alerts not seen before, per channel; how many rows were new."""
    if not alerts or not to:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {ALERT_LEDGER_TABLE} (alert_key, channel, kind, theme_id, body) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(a.key, ch, a.kind, a.theme_id, Jsonb(a.body)) for a in alerts for ch in to],
            returning=False)
        return cur.rowcount


def send(conn: psycopg.Connection, settings: Settings, *, digest_now: bool = False
         ) -> SendReport:
    """Find, record and send (steps 1-3 of the module docstring)."""
    to = channels(settings)
    report = SendReport()
    if to:
        report.found = record(conn, find_alerts(conn, settings), to)
    for channel in to:
        _send_channel(conn, settings, channel, report, digest_now)
    return report


def _send_channel(conn: psycopg.Connection, settings: Settings, channel: str,
                  report: SendReport, digest_now: bool) -> None:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT alert_key, body FROM {ALERT_LEDGER_TABLE} WHERE channel = %s "
            "AND status <> 'sent' ORDER BY created_at, alert_key FOR UPDATE SKIP LOCKED",
            (channel,)).fetchall()
        if not rows:
            return
        if settings.alerts_digest:
            if not (digest_now or _digest_due(conn, channel)):
                report.held += len(rows)
                return
            _send_digest(conn, settings, channel, rows, report)
            return
        for row in rows:
            error = _try(lambda r=row: _send_one(settings, channel, [r["body"]], None))
            _mark(conn, channel, [row["alert_key"]], error, None)
            _count(report, channel, [row["alert_key"]], error)


def _digest_due(conn: psycopg.Connection, channel: str) -> bool:
    last = conn.execute(f"SELECT max(sent_at) FROM {ALERT_DIGESTS_TABLE} WHERE channel = %s",
                        (channel,)).fetchone()[0]
    now = conn.execute("SELECT now()").fetchone()[0]
    return last is None or now - last >= DIGEST_EVERY


def _send_digest(conn: psycopg.Connection, settings: Settings, channel: str,
                 rows: list[dict[str, Any]], report: SendReport) -> None:
    heading = f"trendmine weekly digest: {len(rows)} alert(s)"
    keys = [r["alert_key"] for r in rows]
    error = _try(lambda: _send_one(settings, channel, [r["body"] for r in rows], heading))
    digest_id = None
    if error is None:
        digest_id = conn.execute(
            f"INSERT INTO {ALERT_DIGESTS_TABLE} (channel, alerts) VALUES (%s, %s) "
            "RETURNING digest_id", (channel, len(rows))).fetchone()[0]
    _mark(conn, channel, keys, error, digest_id)
    _count(report, channel, keys, error)


def _send_one(settings: Settings, channel: str, bodies: list[dict[str, Any]],
              heading: str | None) -> None:
    if channel == "slack":
        deliver.slack_webhook(settings, messages.slack_alerts(bodies, heading))
    else:
        subject, text = messages.mail_alerts(bodies, heading)
        deliver.send_mail(settings, recipients(settings), subject, text)


def _try(call: Callable[[], None]) -> str | None:
    try:
        call()
    except deliver.SendFailed as exc:
        return str(exc)
    return None


def _mark(conn: psycopg.Connection, channel: str, keys: list[str], error: str | None,
          digest_id: int | None) -> None:
    conn.execute(
        f"UPDATE {ALERT_LEDGER_TABLE} SET attempts = attempts + 1, "
        "status = CASE WHEN %(error)s::text IS NULL THEN 'sent' ELSE 'failed' END, "
        "last_error = %(error)s, digest_id = %(digest)s, "
        "sent_at = CASE WHEN %(error)s::text IS NULL THEN now() END "
        "WHERE channel = %(channel)s AND alert_key = ANY(%(keys)s)",
        {"error": error, "digest": digest_id, "channel": channel, "keys": keys})


def _count(report: SendReport, channel: str, keys: list[str], error: str | None) -> None:
    if error is None:
        report.sent += len(keys)
    else:
        report.failed.extend(f"{k} via {channel}: {error}" for k in keys)


@dataclass
class LedgerRow:
    alert_key: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def ledger(conn: psycopg.Connection, unsent_only: bool = False, limit: int = 50
           ) -> list[LedgerRow]:
    """The ledger, newest first (`alerts status`): unsent and failed rows are what to fix."""
    where = "WHERE status <> 'sent'" if unsent_only else ""
    with conn.cursor(row_factory=class_row(LedgerRow)) as cur:
        return cur.execute(
            f"SELECT alert_key, channel, status, attempts, last_error, created_at, sent_at "
            f"FROM {ALERT_LEDGER_TABLE} {where} ORDER BY created_at DESC, alert_key LIMIT %s",
            (limit,)).fetchall()

"""The Postgres writer: idempotent, set-based upserts of one batch in one transaction.

Rows go through COPY into a temporary staging table, then one INSERT ... ON CONFLICT per
table. Feedback rows arrive already encoded as binary COPY tuples (`encode_feedback`, run by
the transform process), so the worker only frames and sends bytes.

Replaying a message changes nothing; a newer edit of a record (later updated_at) wins
and the version it replaces is kept in feedback_history (by a trigger); older snapshots
never overwrite newer ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg._copy_base import format_row_binary  # psycopg's C row encoder, as Copy uses it
from psycopg.adapt import Transformer as Dumpers
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from ingest.normalise import company_domain, company_key, email_domain
from ingest.urls import redact_url, web_url
from schemas.events import Account, FeedbackEvent, Opportunity


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _newest(rows, key, stamp):
    """Keep one row per key: the newest by stamp, then by arrival order (later wins)."""
    best: dict = {}
    for i, row in enumerate(rows):
        k = key(row)
        rank = (stamp(row), i)
        if k not in best or rank >= best[k][0]:
            best[k] = (rank, row)
    return [row for _, row in best.values()]


FEEDBACK_COLS = (
    "source",
    "source_id",
    "account_id",
    "account_ref",
    "opportunity_id",
    "author",
    "votes",
    "url",
    "text",
    "text_hash",
    "metadata",
    "created_at",
    "updated_at",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)


def account_clues(event: FeedbackEvent) -> str | None:
    """The record's clues to its company as stored (feedback.account_ref, JSON), or None.

    The domain is the company's (account_ref.domain), else the author's e-mail domain; a
    free-mail domain is never kept. The author's address itself goes no further than here."""
    ref = event.account_ref
    system = ref.system.lower() if ref is not None and ref.system else None
    ref_id = ref.id if ref is not None and system else None
    name = ref.name if ref is not None else None
    domain = email_domain(event.author_email)
    if ref is not None and ref.domain:
        company = company_domain(ref.domain)
        domain = email_domain(f"x@{company}") if company else domain
    clues = {"system": system, "id": ref_id, "name": name, "key": company_key(name),
             "domain": domain}
    kept = {k: v for k, v in clues.items() if v is not None}
    return json.dumps(kept) if kept.keys() - {"system"} else None


def feedback_row(
    event: FeedbackEvent,
    text: str,
    topic: str,
    partition: int,
    offset: int,
    redact: Callable[[Any], Any] | None = None,
) -> tuple:
    """One feedback row in FEEDBACK_COLS order; `text` is normalised and redacted, and
    `redact` (when given) is applied to the other free-text fields: author, url and every
    string inside metadata. A url other than http(s) is stored as null."""
    # A url that is not an http(s) address is dropped, the record kept: it would be a link
    # in the report (ingest/urls.py says why).
    author, url, metadata = event.author, web_url(event.url), event.metadata
    if redact is not None and (author or url or metadata):
        author, url = redact(author), redact_url(url, redact)
        metadata = redact(metadata) if metadata else metadata
    clues = None if event.account_ref is None and event.author_email is None \
        else account_clues(event)
    return (
        str(event.source),  # the value (a StrEnum's str), without the enum property's cost
        event.source_id,
        event.account_id,
        clues,
        event.opportunity_id,
        author,
        event.votes,
        url,
        text,
        text_hash(text),
        json.dumps(metadata) if metadata else "{}",
        event.created_at,
        event.updated_at,
        topic,
        partition,
        offset,
    )


# Postgres types of FEEDBACK_COLS as staged for a binary COPY: no text to escape or parse
# and no timestamp formatting (psycopg's text dump of a datetime alone cost ~2.5 us per
# row in the worker). metadata is staged as text (the row carries its JSON) and cast to
# jsonb by the upsert. The integer columns are staged as int8 because psycopg's binary
# int4 wraps an out-of-range int silently; Postgres then range-checks them going into
# the int4 columns, so such a row is still refused and isolated rather than stored wrong
# (an int beyond int8 raises OverflowError when the transform encodes the row).
_STAGE_TYPES = {
    "account_ref": "text", "votes": "int8", "metadata": "text", "created_at": "timestamptz",
    "updated_at": "timestamptz", "kafka_partition": "int8", "kafka_offset": "int8",
}
FEEDBACK_STAGE_TYPES = tuple(_STAGE_TYPES.get(c, "text") for c in FEEDBACK_COLS)
_STAGE_COLS = ", ".join(FEEDBACK_COLS)
_JSONB = ("metadata", "account_ref")
_FROM_STAGE = ", ".join(f"{c}::jsonb" if c in _JSONB else c for c in FEEDBACK_COLS)
# Set by the writer, not the transform: how the account was found (trendmine.resolve_account).
_RESOLVED_COLS = ("account_method", "account_confidence")
# A CRM id the source carried is taken as it is (no per-row work for the common case).
_METHOD = (
    "coalesce(account_method, CASE WHEN account_id IS NOT NULL THEN 'crm_id' END), "
    "coalesce(account_confidence, CASE WHEN account_id IS NOT NULL THEN 1 END)"
)

# Binary COPY framing (Postgres docs, COPY "Binary Format"): signature, flags, header
# extension length; and the file trailer.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_DUMPERS = Dumpers()
_DUMPERS.set_dumper_types(
    [pg_types[t].oid for t in FEEDBACK_STAGE_TYPES], Format.BINARY
)
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_feedback "
    "(stage_ord int8 GENERATED ALWAYS AS IDENTITY, "
    + ", ".join(f"{c} {t}" for c, t in zip(FEEDBACK_COLS, FEEDBACK_STAGE_TYPES, strict=True))
    + ", account_method text, account_confidence real) ON COMMIT DELETE ROWS"
)


def encode_feedback(row: tuple) -> bytes:
    """A `feedback_row` as one binary COPY tuple. Done where the row is made (the transform
    process): shipping bytes to the worker costs ~0.2 us per row where pickling the tuple
    and its datetimes cost ~6.6 us, and the worker's COPY becomes a join of bytes. Raises
    OverflowError for an integer even int8 cannot hold."""
    out = bytearray()
    format_row_binary(row, _DUMPERS, out)
    return bytes(out)


def write_feedback(
    conn: psycopg.Connection,
    rows: Sequence[bytes],
    *,
    isolating: bool = False,
    unique: bool = False,
) -> int:
    """Upsert `encode_feedback` rows inside the caller's transaction; returns rows inserted or
    changed. `unique`: the caller knows no record appears twice (the transform checked), so
    the dedupe pass (~1.8 us per row in Postgres) is skipped."""
    if not rows:
        return 0
    # Only the copied columns and an arrival ordinal: a staged row must not draw a feedback_id.
    conn.execute(_STAGE_DDL)
    if isolating:  # an earlier part of this transaction (a bisected batch) staged rows too
        conn.execute("TRUNCATE stage_feedback")
    with conn.cursor().copy(
        f"COPY stage_feedback ({_STAGE_COLS}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(b"".join((_COPY_HEADER, *rows, _COPY_TRAILER)))
    # One row per record: the newest by updated_at (else created_at), then the later arrival.
    if not unique:
        conn.execute(
            """
            DELETE FROM stage_feedback s
            WHERE EXISTS (
                SELECT FROM stage_feedback n
                WHERE n.source = s.source AND n.source_id = s.source_id
                  AND (coalesce(n.updated_at, n.created_at), n.stage_ord)
                      > (coalesce(s.updated_at, s.created_at), s.stage_ord)
            )
            """
        )
    _resolve_staged(conn)
    # The version an edit replaces goes to feedback_history by trigger (migration V013).
    updates = ", ".join(
        f"{c} = EXCLUDED.{c}" for c in FEEDBACK_COLS + _RESOLVED_COLS
        if c not in ("source", "source_id")
    )
    cur = conn.execute(
        f"""
        INSERT INTO trendmine.feedback AS f ({_STAGE_COLS}, {", ".join(_RESOLVED_COLS)})
        SELECT {_FROM_STAGE}, {_METHOD} FROM stage_feedback
        ON CONFLICT (source, source_id) DO UPDATE SET {updates},
            version = f.version + 1, last_ingested_at = now()
        WHERE coalesce(EXCLUDED.updated_at, EXCLUDED.created_at)
              >= coalesce(f.updated_at, f.created_at)
          AND (EXCLUDED.text_hash, EXCLUDED.created_at, EXCLUDED.updated_at, EXCLUDED.account_id,
               EXCLUDED.opportunity_id, EXCLUDED.votes, EXCLUDED.metadata,
               EXCLUDED.account_ref, EXCLUDED.account_method)
              IS DISTINCT FROM (f.text_hash, f.created_at, f.updated_at, f.account_id,
               f.opportunity_id, f.votes, f.metadata, f.account_ref, f.account_method)
        """
    )
    return cur.rowcount


def _resolve_staged(conn: psycopg.Connection) -> None:
    """Give each staged record without a CRM id its account: the match of its clues (and
    its deal) against what is known now (trendmine.resolve_account); a clue that matches
    several accounts stays unresolved (ambiguous) for review. Records whose account arrives
    later are found again by `resolve_feedback` when its identities (or the deal they are
    linked to) are written."""
    conn.execute(
        """
        UPDATE stage_feedback s
        SET (account_id, account_method, account_confidence) = (
            SELECT r.account_id, r.method, r.confidence
            FROM trendmine.resolve_account(s.account_ref::jsonb, s.opportunity_id) r)
        WHERE s.account_id IS NULL
          AND (s.account_ref IS NOT NULL OR s.opportunity_id IS NOT NULL)
        """
    )


# Records whose account may change when identities or deals change: every record with clues
# or a deal whose account the source did not carry itself.
_RESOLVE_FEEDBACK = """
UPDATE trendmine.feedback f
SET account_id = r.account_id, account_method = r.method, account_confidence = r.confidence
FROM (
    SELECT c.feedback_id, x.account_id, x.method, x.confidence
    FROM trendmine.feedback c
    LEFT JOIN LATERAL trendmine.resolve_account(c.account_ref, c.opportunity_id) x ON true
    WHERE (c.account_ref IS NOT NULL OR c.opportunity_id IS NOT NULL)
      AND c.account_method IS DISTINCT FROM 'crm_id' {scope}
) r
WHERE f.feedback_id = r.feedback_id
  AND (f.account_id, f.account_method, f.account_confidence)
      IS DISTINCT FROM (r.account_id, r.method, r.confidence)
"""
# The records one set of accounts / deals can touch, each branch one the V017 indexes serve
# (clue expressions, opportunity_id), so writing a CRM batch need not scan every record.
_SCOPED_IDS = """
    WITH ident AS (
        SELECT kind, value FROM trendmine.account_identities
        WHERE account_id = ANY(%(accounts)s))
    SELECT feedback_id FROM trendmine.feedback WHERE account_id = ANY(%(accounts)s)
    UNION
    SELECT f.feedback_id FROM ident i JOIN trendmine.feedback f
      ON f.account_ref IS NOT NULL AND i.kind = 'domain' AND f.account_ref->>'domain' = i.value
    UNION
    SELECT f.feedback_id FROM ident i JOIN trendmine.feedback f
      ON f.account_ref IS NOT NULL AND i.kind = 'name' AND f.account_ref->>'key' = i.value
    UNION
    SELECT f.feedback_id FROM ident i JOIN trendmine.feedback f
      ON f.account_ref IS NOT NULL AND f.account_ref->>'system' = i.kind
     AND f.account_ref->>'id' = i.value
    UNION
    SELECT feedback_id FROM trendmine.feedback
    WHERE opportunity_id IS NOT NULL AND opportunity_id = ANY(%(deals)s)
    UNION
    SELECT f.feedback_id FROM trendmine.opportunities o JOIN trendmine.feedback f
      ON f.opportunity_id IS NOT NULL AND f.opportunity_id = o.opportunity_id
    WHERE o.account_id = ANY(%(accounts)s)
"""
# The ids are fetched first: as a join, the planner would rather scan every record.
_SCOPED = "AND c.feedback_id = ANY(%(ids)s)"


def resolve_feedback(
    conn: psycopg.Connection,
    accounts: Sequence[str] | None = None,
    deals: Sequence[str] = (),
) -> int:
    """Re-attribute stored records after identities or deals changed: those touching
    `accounts` (their clues match one of the accounts' identities, their deal is one of
    the accounts', or they sit on one) or linked to one of `deals`; every record with clues
    when `accounts` is None. Returns the records whose account (or method) changed."""
    if accounts is None:
        return conn.execute(_RESOLVE_FEEDBACK.replace("{scope}", "")).rowcount
    if not accounts and not deals:
        return 0
    ids = [r[0] for r in conn.execute(
        _SCOPED_IDS, {"accounts": list(accounts), "deals": list(deals)})]
    if not ids:
        return 0
    return conn.execute(_RESOLVE_FEEDBACK.replace("{scope}", _SCOPED), {"ids": ids}).rowcount


# Identities an account record carries, with how sure a match by each is.
CRM_CONFIDENCE = {"external": 1.0, "domain": 0.95, "name": 0.9}


def account_identities(account: Account) -> list[tuple[str, str, float]]:
    """(kind, value, confidence) of one account: its ids in other systems, its company
    domains (never a free-mail one) and its normalised name."""
    out = [
        (system.strip().lower(), str(value).strip(), CRM_CONFIDENCE["external"])
        for system, value in account.external_ids.items()
        if system.strip() and str(value).strip()
    ]
    for raw in account.domains:
        domain = company_domain(raw)
        if domain and email_domain(f"x@{domain}"):
            out.append(("domain", domain, CRM_CONFIDENCE["domain"]))
    key = company_key(account.name)
    if key:
        out.append(("name", key, CRM_CONFIDENCE["name"]))
    return list({(k, v): (k, v, c) for k, v, c in out}.values())


def _write_identities(conn: psycopg.Connection, rows: list[tuple[Account, datetime]]) -> None:
    """Replace the CRM identities of each account whose stored snapshot is the one written."""
    ids = [a.account_id for a, _ in rows]
    current = {
        r[0] for r in conn.execute(
            "SELECT account_id FROM trendmine.accounts a "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS w(id, ts) "
            "ON a.account_id = w.id AND a.updated_at = w.ts",
            (ids, [ts for _, ts in rows]),
        )
    }
    if not current:
        return
    conn.execute(
        "DELETE FROM trendmine.account_identities WHERE origin = 'crm' AND account_id = ANY(%s)",
        (list(current),),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.account_identities (kind, value, account_id, origin, "
            "confidence) VALUES (%s, %s, %s, 'crm', %s) ON CONFLICT DO NOTHING",
            [
                (kind, value, a.account_id, conf)
                for a, _ in rows if a.account_id in current
                for kind, value, conf in account_identities(a)
            ],
        )


def write_accounts(
    conn: psycopg.Connection, accounts: list[tuple[Account, datetime]], *, isolating: bool = False
) -> int:
    """Upsert account snapshots (newest wins) and record each snapshot in account_history.

    The datetime is the snapshot time used when the record has no updated_at (Kafka time).
    """
    if not accounts:
        return 0
    snapshots = [(a, a.updated_at or ts) for a, ts in accounts]
    rows = _newest(snapshots, key=lambda r: r[0].account_id, stamp=lambda r: r[1])
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO trendmine.account_history
                (account_id, valid_from, segment, arr, icp_fit, plan)
            VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [(a.account_id, ts, a.segment, a.arr, a.icp_fit, a.plan) for a, ts in snapshots],
        )
        cur.executemany(
            """
            INSERT INTO trendmine.accounts AS t
                (account_id, name, segment, arr, icp_fit, region, plan, domains,
                 external_ids, updated_at, owner_email, owner_slack_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name,
                segment = EXCLUDED.segment, arr = EXCLUDED.arr, icp_fit = EXCLUDED.icp_fit,
                region = EXCLUDED.region, plan = EXCLUDED.plan, domains = EXCLUDED.domains,
                external_ids = EXCLUDED.external_ids, updated_at = EXCLUDED.updated_at,
                owner_email = EXCLUDED.owner_email, owner_slack_id = EXCLUDED.owner_slack_id,
                ingested_at = now()
            WHERE EXCLUDED.updated_at >= t.updated_at
            """,
            [
                (a.account_id, a.name, a.segment, a.arr, a.icp_fit, a.region, a.plan,
                 sorted({d for d in map(company_domain, a.domains) if d}),
                 Jsonb(a.external_ids), ts, a.owner_email, a.owner_slack_id)
                for a, ts in rows
            ],
        )
    _write_identities(conn, rows)
    # Feedback that arrived before its account (or whose match the new snapshot changes).
    resolve_feedback(conn, [a.account_id for a, _ in rows])
    return len(rows)


def write_opportunities(
    conn: psycopg.Connection,
    opportunities: list[tuple[Opportunity, datetime]],
    *,
    isolating: bool = False,  # the signature write_isolated calls
) -> int:
    if not opportunities:
        return 0
    snapshots = [(o, o.updated_at or ts) for o, ts in opportunities]
    rows = _newest(snapshots, key=lambda r: r[0].opportunity_id, stamp=lambda r: r[1])
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO trendmine.opportunity_history
                (opportunity_id, valid_from, amount, stage, loss_reason)
            VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [(o.opportunity_id, ts, o.amount, o.stage.value, o.loss_reason) for o, ts in snapshots],
        )
        cur.executemany(
            """
            INSERT INTO trendmine.opportunities AS t
                (opportunity_id, account_id, name, amount, stage, close_date, loss_reason,
                 updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (opportunity_id) DO UPDATE SET account_id = EXCLUDED.account_id,
                name = EXCLUDED.name, amount = EXCLUDED.amount, stage = EXCLUDED.stage,
                close_date = EXCLUDED.close_date, loss_reason = EXCLUDED.loss_reason,
                updated_at = EXCLUDED.updated_at, ingested_at = now()
            WHERE EXCLUDED.updated_at >= t.updated_at
            """,
            [
                (
                    o.opportunity_id,
                    o.account_id,
                    o.name,
                    o.amount,
                    o.stage.value,
                    o.close_date,
                    o.loss_reason,
                    ts,
                )
                for o, ts in rows
            ],
        )
    # Records linked to these deals whose account the source did not carry.
    resolve_feedback(conn, [], [o.opportunity_id for o, _ in rows])
    return len(rows)


# What one bad row makes Postgres (or psycopg, before sending it) refuse: data exceptions
# (class 22: NUL bytes, out-of-range numbers and dates), integrity violations (23), program
# limits (54: a jsonb or index row too large), and text that cannot be encoded. A lost
# connection is none of these: the caller retries the whole batch instead.
_ROW_SQLSTATE_CLASSES = ("22", "23", "54")


def is_row_error(exc: BaseException) -> bool:
    if isinstance(exc, UnicodeError | OverflowError):
        return True
    if isinstance(exc, psycopg.DataError):  # includes psycopg's own client-side refusals
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, psycopg.Error) and state[:2] in _ROW_SQLSTATE_CLASSES


def write_isolated(
    conn: psycopg.Connection,
    write: Callable[..., Any],
    rows: Sequence,
) -> tuple[Any, list[tuple[int, BaseException]]]:
    """Write rows in a savepoint; when Postgres refuses one, bisect until each refused row
    is alone, so the others are still written. Returns (the result of the first successful
    whole write, or the sum of the parts) and [(index in rows, error)] of the refused rows.
    """
    refused: list[tuple[int, BaseException]] = []

    def attempt(lo: int, hi: int, isolating: bool) -> Any:
        try:
            with conn.transaction():
                return write(conn, list(rows[lo:hi]), isolating=isolating)
        except Exception as exc:
            if not is_row_error(exc):
                raise
            if hi - lo == 1:
                refused.append((lo, exc))
                return 0
            mid = (lo + hi) // 2
            return attempt(lo, mid, True) + attempt(mid, hi, True)

    total = attempt(0, len(rows), False) if rows else 0
    return total, refused

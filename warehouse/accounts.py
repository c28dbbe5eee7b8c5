"""Accounts across sources: the identities CRM accounts are known by elsewhere, the review
queue of clues that matched no account or several, and the re-resolution pass.

The ingest writer matches each record as it arrives (ingest.writer, by the SQL function
trendmine.resolve_account); everything here adds or changes identities and then
re-attributes the stored records they touch, and the trend tables follow (docs/accounts.md).

    import_mapping(conn, rows)          # `trendmine accounts map import FILE`
    resolve_clue(conn, "zendesk:361", "0015...")   # `trendmine accounts resolve`
    unresolved(conn)                    # `trendmine accounts unresolved`
    reresolve(conn, settings)           # fuzzy name pass + every record again + trends
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from rapidfuzz import fuzz, process

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest.normalise import company_domain, company_key, email_domain
from ingest.writer import resolve_feedback
from warehouse.rows import fetch, fetch_dicts, fetch_value

# Kinds of identity besides a system's own ids (zendesk, intercom, canny, ...).
DOMAIN, NAME = "domain", "name"
# The fuzzy name match is conservative: it accepts only a near-identical key, far ahead of
# the next account; anything less is listed for review with its candidates.
FUZZY_MIN_SCORE = 92.0
FUZZY_MARGIN = 8.0
FUZZY_MIN_CHARS = 4
SUGGEST_MIN_SCORE = 70.0  # candidates shown in the review queue
MANUAL_CONFIDENCE = 1.0
MAPPING_CONFIDENCE = 1.0


@dataclass(frozen=True)
class SourceResolution:
    """One row of trends.account_resolution."""

    source: str
    records: int
    resolved: int
    unresolved: int
    ambiguous: int
    no_clue: int
    unresolved_share: Decimal
    by_crm_id: int
    by_deal: int
    by_external_id: int
    by_email_domain: int
    by_name: int
    by_manual: int


def resolution_by_source(conn: psycopg.Connection) -> list[SourceResolution]:
    return fetch(conn, SourceResolution,
                 "SELECT * FROM trends.account_resolution ORDER BY source")


def unresolved_summary(conn: psycopg.Connection) -> str:
    """One line for `status` and the report: the unresolved share of each source."""
    rows = resolution_by_source(conn)
    if not rows:
        return "no feedback stored yet"
    return ", ".join(
        f"{r.source} {float(r.unresolved_share):.0%} ({r.unresolved} of {r.records}"
        + (f", {r.ambiguous} ambiguous" if r.ambiguous else "") + ")"
        for r in rows
    )


@dataclass(frozen=True)
class Candidate:
    account_id: str
    name: str | None
    why: str  # "claims it" (an identity) or the fuzzy name score


@dataclass
class Clue:
    """Unresolved records grouped by their most trusted clue (`kind:value`)."""

    clue: str
    records: int
    sources: list[str]
    example_name: str | None
    ambiguous: bool
    candidates: list[Candidate] = field(default_factory=list)


def parse_clue(text: str) -> tuple[str, str]:
    """"zendesk:361" / "domain:acme.com" / "name:Acme, Inc." -> (kind, value) as stored."""
    kind, sep, value = text.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not sep or not kind or not value:
        raise TrendmineError(
            f"not a clue: {text!r}",
            "write KIND:VALUE, e.g. zendesk:361, domain:acme.com or name:Acme "
            "(`trendmine accounts unresolved` lists them)",
        )
    return kind, _stored_value(kind, value)


def _stored_value(kind: str, value: str) -> str:
    if kind == NAME:
        key = company_key(value)
        if key is None:
            raise TrendmineError(f"{value!r} has no name left once normalised",
                                 "give the company's name")
        return key
    if kind == DOMAIN:
        domain = company_domain(value)
        if domain is None or email_domain(f"x@{domain}") is None:
            raise TrendmineError(
                f"{value!r} is not a company domain (free-mail domains never identify one)",
                "give the company's own domain, e.g. acme.com")
        return domain
    return value


_UNRESOLVED = """
SELECT coalesce(
           (f.account_ref->>'system') || ':' || (f.account_ref->>'id'),
           'domain:' || (f.account_ref->>'domain'),
           'name:' || (f.account_ref->>'key')) AS clue,
       count(*)::integer AS records,
       array_agg(DISTINCT f.source ORDER BY f.source) AS sources,
       min(f.account_ref->>'name') AS example_name,
       bool_or(f.account_method = 'ambiguous') AS ambiguous,
       (array_agg(f.account_ref))[1] AS ref
FROM trendmine.feedback f
WHERE f.account_id IS NULL AND f.account_ref IS NOT NULL
GROUP BY 1
ORDER BY records DESC, clue
LIMIT %(limit)s
"""


def unresolved(conn: psycopg.Connection, limit: int = 50) -> list[Clue]:
    """The review queue: clues of unresolved records, most records first, each with the
    accounts that claim it (ambiguous) or whose names come close."""
    rows = fetch_dicts(conn, _UNRESOLVED, {"limit": limit})
    names = _account_names(conn)
    keys = _name_keys(names)
    out = []
    for r in rows:
        clue = Clue(r["clue"], r["records"], r["sources"], r["example_name"], r["ambiguous"])
        if r["ambiguous"]:
            claimed = fetch_value(
                conn, "SELECT candidates FROM trendmine.resolve_account(%s)", (Jsonb(r["ref"]),)
            ) or []
            clue.candidates = [Candidate(a, names.get(a), "claims it") for a in claimed]
        key = (r["ref"] or {}).get("key")
        if key and not clue.candidates:
            clue.candidates = [
                Candidate(a, names.get(a), f"name {score:.0f}%")
                for a, score in _close_names(key, keys, SUGGEST_MIN_SCORE)[:3]
            ]
        out.append(clue)
    return out


def _account_names(conn: psycopg.Connection) -> dict[str, str]:
    return {r["account_id"]: r["name"] for r in fetch_dicts(
        conn, "SELECT account_id, name FROM trendmine.accounts")}


def _name_keys(names: dict[str, str]) -> dict[str, list[str]]:
    """name key -> accounts with that key."""
    keys: dict[str, list[str]] = defaultdict(list)
    for account_id, name in names.items():
        key = company_key(name)
        if key:
            keys[key].append(account_id)
    return keys


def _close_names(key: str, keys: dict[str, list[str]], floor: float) -> list[tuple[str, float]]:
    """(account, score) of the account names closest to `key`, best first."""
    found = process.extract(key, list(keys), scorer=fuzz.ratio, score_cutoff=floor, limit=10)
    return [(a, score) for k, score, _ in found for a in keys[k]]


def match_names(conn: psycopg.Connection) -> int:
    """The conservative fuzzy pass: a name key of unresolved records that no identity
    matches, near-identical (FUZZY_MIN_SCORE) to one account's name and FUZZY_MARGIN ahead
    of any other account, becomes a `fuzzy` identity of that account. Returns how many."""
    pending = [r["key"] for r in fetch_dicts(conn, """
        SELECT DISTINCT f.account_ref->>'key' AS key FROM trendmine.feedback f
        WHERE f.account_id IS NULL AND f.account_method IS NULL
          AND f.account_ref->>'key' IS NOT NULL""")]
    keys = _name_keys(_account_names(conn))
    added = []
    for key in pending:
        if len(key) < FUZZY_MIN_CHARS:
            continue
        close = _close_names(key, keys, FUZZY_MIN_SCORE - FUZZY_MARGIN)
        if not close:
            continue
        best, score = close[0]
        rivals = [s for a, s in close[1:] if a != best]
        if score >= FUZZY_MIN_SCORE and (not rivals or rivals[0] <= score - FUZZY_MARGIN):
            added.append((NAME, key, best, "fuzzy", round(0.9 * score / 100, 3)))
    _insert_identities(conn, added)
    return len(added)


def _insert_identities(conn: psycopg.Connection, rows: list[tuple]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO trendmine.account_identities (kind, value, account_id, origin, "
            "confidence) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, value, account_id, origin) "
            "DO UPDATE SET confidence = EXCLUDED.confidence",
            rows,
        )


@dataclass(frozen=True)
class Reresolved:
    identities: int  # identities added or replaced
    records: int  # records whose account changed
    trends_rebuilt: bool


def reresolve(conn: psycopg.Connection, settings: Settings, identities: int = 0) -> Reresolved:
    """Fuzzy name pass, then every record with clues matched again; when any record moved
    and trends exist, the trend tables are rebuilt from the new attribution."""
    with conn.transaction():
        fuzzy = match_names(conn)
        moved = resolve_feedback(conn)
    rebuilt = False
    if moved and fetch_value(conn, "SELECT EXISTS (SELECT FROM trendmine.theme_trends)"):
        from warehouse.trends import rebuild_trends

        rebuild_trends(conn, settings)
        rebuilt = True
    return Reresolved(identities + fuzzy, moved, rebuilt)


def resolve_clue(conn: psycopg.Connection, settings: Settings, clue: str,
                 account_id: str) -> Reresolved:
    """A reviewer's decision: records with this clue belong to `account_id` (a manual
    identity, which decides over any other account claiming the clue)."""
    kind, value = parse_clue(clue)
    if not fetch_value(conn, "SELECT EXISTS (SELECT FROM trendmine.accounts "
                             "WHERE account_id = %s)", (account_id,)):
        raise TrendmineError(f"no CRM account {account_id!r}",
                             "give an account id from `trendmine accounts unresolved` or the CRM")
    with conn.transaction():
        conn.execute("DELETE FROM trendmine.account_identities "
                     "WHERE kind = %s AND value = %s AND origin = 'manual'", (kind, value))
        _insert_identities(conn, [(kind, value, account_id, "manual", MANUAL_CONFIDENCE)])
    return reresolve(conn, settings, identities=1)


# ---------------------------------------------------------------------------- mapping file

MAP_COLUMNS = ("account_id", "kind", "value")


@dataclass(frozen=True)
class MapImport:
    rows: int
    unknown_accounts: int  # rows naming an account the CRM has not sent (yet)
    result: Reresolved


def read_mapping(path: Path) -> list[tuple[str, str, str]]:
    """A mapping CSV (account_id,kind,value) -> [(kind, stored value, account_id)]."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TrendmineError(f"cannot read {path}: {exc.strerror}",
                             "give the path of a mapping CSV") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not set(MAP_COLUMNS) <= set(header):
        raise TrendmineError(
            f"{path.name}: the header must have the columns {', '.join(MAP_COLUMNS)} "
            f"(found: {', '.join(header) or 'none'})", "see docs/accounts.md, Mapping file")
    out = []
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        if not all(row.get(c) for c in MAP_COLUMNS):
            raise TrendmineError(f"{path.name} line {n}: account_id, kind and value are "
                                 "all required", "fill the line in or remove it")
        try:
            kind, value = parse_clue(f"{row['kind']}:{row['value']}")
        except TrendmineError as exc:
            raise TrendmineError(f"{path.name} line {n}: {exc.message}", exc.hint) from exc
        out.append((kind, value, row["account_id"]))
    return out


def import_mapping(conn: psycopg.Connection, settings: Settings,
                   rows: list[tuple[str, str, str]]) -> MapImport:
    """The file is the whole mapping: its rows replace every earlier `mapping` identity;
    then the records are matched again."""
    with conn.transaction():
        conn.execute("DELETE FROM trendmine.account_identities WHERE origin = 'mapping'")
        _insert_identities(conn, [(k, v, a, "mapping", MAPPING_CONFIDENCE) for k, v, a in rows])
    unknown = fetch_value(conn, """
        SELECT count(*) FROM unnest(%s::text[]) AS m(account_id)
        WHERE NOT EXISTS (SELECT FROM trendmine.accounts a WHERE a.account_id = m.account_id)
        """, ([a for _, _, a in rows],))
    return MapImport(len(rows), int(unknown or 0), reresolve(conn, settings, len(rows)))

"""Scheduled pulls: page through a vendor's incremental API into Kafka, resuming exactly.

One loop for every vendor (`run_pull`), per page:
1. fetch the page at the stored cursor (429: wait Retry-After; 5xx or a lost connection:
   exponential backoff; both up to `pull_max_retries`),
2. map it with the same connector as `trendmine produce` (unmappable records -> the DLQ),
3. wait until the broker acknowledged every record of the page (acks=all),
4. only then store the cursor that follows the page (one Postgres commit).
A crash before 4 re-reads the page on the next run: its records are published again, which
is harmless only because ingest upserts on (source, source_id). A crash never skips a page.

The vendors' own incremental APIs, and what each cursor holds:
- Zendesk: GET /api/v2/incremental/tickets/cursor.json (start_time, then after_cursor;
  end_of_stream ends a run, the after_cursor is kept for the next one).
- Intercom: POST /conversations/search, updated_at > T sorted ascending, paged with
  starting_after; at the end T becomes the newest updated_at seen, minus one second.
- Canny: POST /api/v1/posts/list sorted oldest first, paged with skip (new posts append
  at the end; changes to old posts arrive by webhook).
- Gong: POST /v2/calls/extensive with filter fromDateTime/toDateTime and the records.cursor;
  a run's window ends at its start, the next one begins GONG_LOOKBACK earlier (calls are
  processed after they end).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from psycopg.types.json import Jsonb

from foundation.config import Settings
from foundation.db import connection
from foundation.errors import ServiceUnavailable, TrendmineError
from ingest import connectors
from intake.publish import confirmed_producer, send_items, wait_confirmed
from schemas.names import PULL_CURSORS_TABLE, Source

GONG_LOOKBACK = timedelta(hours=6)
RETRY_STATUSES = {429, 500, 502, 503, 504}
Cursor = dict[str, Any]


class PullError(ServiceUnavailable):
    """A vendor API kept failing (or refused our credentials); the cursor did not move."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    """One API page: the document for the connector, the cursor after it, and whether the
    run is over."""

    document: dict[str, Any]
    cursor: Cursor
    done: bool


class Pager(Protocol):
    """A vendor's incremental API: the first cursor, the request at a cursor, its page."""

    name: str
    target: str
    format: str
    empty_on: frozenset[int]  # statuses that mean "no records" (Gong answers 404)

    def start(self, now: datetime) -> Cursor: ...
    def begin(self, cursor: Cursor, now: datetime) -> Cursor: ...
    def request(self, cursor: Cursor) -> Request: ...
    def page(self, body: dict[str, Any], cursor: Cursor, now: datetime) -> Page: ...


# ---------------------------------------------------------------------------- vendors


@dataclass(frozen=True)
class ZendeskTickets:
    settings: Settings
    name: str = "zendesk"
    target: str = Source.SUPPORT_TICKETS.value
    format: str = "zendesk-tickets-json"
    empty_on: frozenset[int] = frozenset()

    def start(self, now: datetime) -> Cursor:
        return {"start_time": int((now - timedelta(days=self.settings.pull_initial_days))
                                  .timestamp())}

    def begin(self, cursor: Cursor, now: datetime) -> Cursor:
        return cursor

    def request(self, cursor: Cursor) -> Request:
        params: dict[str, Any] = {"per_page": self.settings.pull_page_size,
                                  "include": "users,organizations"}
        if cursor.get("after_cursor"):
            params["cursor"] = cursor["after_cursor"]
        else:
            params["start_time"] = cursor["start_time"]
        return Request("GET", "/api/v2/incremental/tickets/cursor.json", params=params)

    def page(self, body: dict[str, Any], cursor: Cursor, now: datetime) -> Page:
        after = body.get("after_cursor") or cursor.get("after_cursor")
        next_cursor = {"after_cursor": after} if after else cursor
        return Page(body, next_cursor, bool(body.get("end_of_stream")))


@dataclass(frozen=True)
class IntercomConversations:
    settings: Settings
    name: str = "intercom"
    target: str = Source.SUPPORT_TICKETS.value
    format: str = "intercom-conversations-json"
    empty_on: frozenset[int] = frozenset()

    def start(self, now: datetime) -> Cursor:
        since = now - timedelta(days=self.settings.pull_initial_days)
        return {"updated_after": int(since.timestamp()), "starting_after": None,
                "newest": None}

    def begin(self, cursor: Cursor, now: datetime) -> Cursor:
        return cursor

    def request(self, cursor: Cursor) -> Request:
        pagination: dict[str, Any] = {"per_page": min(self.settings.pull_page_size, 150)}
        if cursor.get("starting_after"):
            pagination["starting_after"] = cursor["starting_after"]
        query = {"field": "updated_at", "operator": ">", "value": cursor["updated_after"]}
        return Request("POST", "/conversations/search", json={
            "query": query, "pagination": pagination,
            "sort": {"field": "updated_at", "order": "ascending"}})

    def page(self, body: dict[str, Any], cursor: Cursor, now: datetime) -> Page:
        seen = [c.get("updated_at") for c in body.get("conversations") or []]
        newest = max([s for s in seen if isinstance(s, int)] + [cursor.get("newest") or 0])
        nxt = ((body.get("pages") or {}).get("next") or {}).get("starting_after")
        if nxt:
            return Page(body, {**cursor, "starting_after": nxt, "newest": newest}, False)
        # search done: the next run asks for what changed since the newest seen (one
        # second of overlap, so an update in that same second is not lost)
        after = max(cursor["updated_after"], newest - 1) if newest else cursor["updated_after"]
        return Page(body, {"updated_after": after, "starting_after": None, "newest": None}, True)


@dataclass(frozen=True)
class CannyPosts:
    settings: Settings
    name: str = "canny"
    target: str = Source.IDEAS.value
    format: str = "canny-posts-json"
    empty_on: frozenset[int] = frozenset()

    def start(self, now: datetime) -> Cursor:
        return {"skip": 0}

    def begin(self, cursor: Cursor, now: datetime) -> Cursor:
        return cursor

    def request(self, cursor: Cursor) -> Request:
        key = self.settings.canny_api_key
        return Request("POST", "/api/v1/posts/list", json={
            "apiKey": key.get_secret_value() if key else "", "limit": self.settings.pull_page_size,
            "skip": cursor["skip"], "sort": "oldest"})

    def page(self, body: dict[str, Any], cursor: Cursor, now: datetime) -> Page:
        posts = body.get("posts") or []
        return Page(body, {"skip": cursor["skip"] + len(posts)},
                    not body.get("hasMore") or not posts)


@dataclass(frozen=True)
class GongCalls:
    settings: Settings
    name: str = "gong"
    target: str = Source.SALES_CALLS.value
    format: str = "gong-calls-json"
    empty_on: frozenset[int] = frozenset({404})  # "No calls found corresponding to ..."

    def start(self, now: datetime) -> Cursor:
        return {"from": _iso(now - timedelta(days=self.settings.pull_initial_days)),
                "to": None, "cursor": None}

    def begin(self, cursor: Cursor, now: datetime) -> Cursor:
        """A run's window ends when it starts (kept across a crash: the resumed run pages
        the same window)."""
        return cursor if cursor.get("to") else {**cursor, "to": _iso(now)}

    def request(self, cursor: Cursor) -> Request:
        flt = {"fromDateTime": cursor["from"]}
        if cursor.get("to"):
            flt["toDateTime"] = cursor["to"]
        body: dict[str, Any] = {"filter": flt, "contentSelector": {
            "context": "Extended",
            "exposedFields": {"parties": True,
                              "content": {"brief": True, "keyPoints": True, "outline": True}}}}
        if cursor.get("cursor"):
            body["cursor"] = cursor["cursor"]
        return Request("POST", "/v2/calls/extensive", json=body)

    def page(self, body: dict[str, Any], cursor: Cursor, now: datetime) -> Page:
        to = cursor["to"]
        nxt = (body.get("records") or {}).get("cursor")
        if nxt:
            return Page(body, {"from": cursor["from"], "to": to, "cursor": nxt}, False)
        start = datetime.fromisoformat(to) - GONG_LOOKBACK
        return Page(body, {"from": _iso(max(start, datetime.fromisoformat(cursor["from"]))),
                           "to": None, "cursor": None}, True)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


PAGERS: dict[str, Callable[[Settings], Pager]] = {
    "zendesk": ZendeskTickets, "intercom": IntercomConversations, "canny": CannyPosts,
    "gong": GongCalls,
}


# ---------------------------------------------------------------------------- credentials


def _auth(settings: Settings, name: str) -> tuple[str | None, dict[str, str], Any]:
    """(base URL, headers, httpx auth) of a vendor; base URL None = not configured."""
    if name == "zendesk" and settings.zendesk_url and settings.zendesk_email \
            and settings.zendesk_api_token:
        token = settings.zendesk_api_token.get_secret_value()
        return settings.zendesk_url, {}, (f"{settings.zendesk_email}/token", token)
    if name == "intercom" and settings.intercom_token:
        return settings.intercom_url, {
            "Authorization": f"Bearer {settings.intercom_token.get_secret_value()}",
            "Intercom-Version": "2.11", "Accept": "application/json"}, None
    if name == "canny" and settings.canny_api_key:
        return settings.canny_url, {}, None
    if name == "gong" and settings.gong_access_key and settings.gong_access_key_secret:
        return settings.gong_url, {}, (settings.gong_access_key,
                                       settings.gong_access_key_secret.get_secret_value())
    return None, {}, None


SETUP_HINT = {
    "zendesk": "set TRENDMINE_ZENDESK_URL, TRENDMINE_ZENDESK_EMAIL, TRENDMINE_ZENDESK_API_TOKEN",
    "intercom": "set TRENDMINE_INTERCOM_TOKEN",
    "canny": "set TRENDMINE_CANNY_API_KEY",
    "gong": "set TRENDMINE_GONG_ACCESS_KEY and TRENDMINE_GONG_ACCESS_KEY_SECRET",
}


def configured_pulls(settings: Settings) -> list[str]:
    """The vendors whose credentials are set: one scheduled deployment each."""
    return [name for name in PAGERS if _auth(settings, name)[0]]


# ---------------------------------------------------------------------------- cursor store


def load_cursor(settings: Settings, name: str) -> Cursor | None:
    with connection(settings, autocommit=True) as conn:
        row = conn.execute(f"SELECT cursor FROM {PULL_CURSORS_TABLE} WHERE pull = %s",
                           (name,)).fetchone()
    return row[0] if row else None


def save_cursor(settings: Settings, name: str, cursor: Cursor, records: int) -> None:
    """Move a pull's cursor (one commit); called only after the page's records are acked."""
    with connection(settings, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {PULL_CURSORS_TABLE} AS c (pull, cursor, records, pages) "
            "VALUES (%s, %s, %s, 1) ON CONFLICT (pull) DO UPDATE SET cursor = EXCLUDED.cursor, "
            "records = c.records + EXCLUDED.records, pages = c.pages + 1, updated_at = now()",
            (name, Jsonb(cursor), records),
        )


# ---------------------------------------------------------------------------- the loop


@dataclass
class PullResult:
    pull: str
    pages: int = 0
    records: int = 0
    dead_lettered: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"pull": self.pull, "pages": self.pages, "records": self.records,
                "dead_lettered": self.dead_lettered, "retries": self.retries}


def _wait_s(response: httpx.Response | None, attempt: int, settings: Settings) -> float:
    """Retry-After (seconds or an HTTP date) when the vendor gives one, else backoff."""
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            wait = float(header)
        except ValueError:
            from email.utils import parsedate_to_datetime
            try:
                wait = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                wait = settings.pull_backoff_s * 2 ** attempt
        return min(max(wait, 0.0), settings.pull_max_wait_s)
    return min(settings.pull_backoff_s * 2 ** attempt, settings.pull_max_wait_s)


def fetch(client: httpx.Client, req: Request, settings: Settings, result: PullResult,
          sleep: Callable[[float], None] = time.sleep,
          empty_on: frozenset[int] = frozenset()) -> dict[str, Any]:
    """One page, riding out rate limits and transient failures."""
    for attempt in range(settings.pull_max_retries + 1):
        response = None
        try:
            response = client.request(req.method, req.path, params=req.params, json=req.json)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}"
        else:
            if response.status_code < 300:
                try:
                    return response.json()
                except json.JSONDecodeError:
                    problem = "a body that is not JSON"
            elif response.status_code in empty_on:
                return {}
            elif response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code}"
            else:  # 4xx: retrying will not help (and must not count as transient)
                raise TrendmineError(
                    f"{result.pull}: {req.method} {req.path} answered HTTP "
                    f"{response.status_code}",
                    "check the credentials and their scopes" if response.status_code in
                    (401, 403) else "see the vendor's API status")
        if attempt == settings.pull_max_retries:
            raise PullError(f"{result.pull}: {req.method} {req.path} failed "
                            f"{attempt + 1} times (last: {problem})",
                            "the cursor did not move; the next run resumes here")
        result.retries += 1
        sleep(_wait_s(response, attempt, settings))
    raise AssertionError("unreachable")


def run_pull(
    settings: Settings, name: str, *, max_pages: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[PullResult], None] | None = None,
) -> PullResult:
    """Pull one vendor from its stored cursor until its API says there is no more."""
    if name not in PAGERS:
        raise TrendmineError(f"unknown pull {name!r}", f"use one of: {', '.join(PAGERS)}")
    base, headers, auth = _auth(settings, name)
    if base is None:
        raise TrendmineError(f"pull {name} is not configured", SETUP_HINT[name])
    pager = PAGERS[name](settings)
    result = PullResult(name)
    now = datetime.now(UTC)
    cursor = pager.begin(load_cursor(settings, name) or pager.start(now), now)
    prod = confirmed_producer(settings)
    try:
        with httpx.Client(base_url=base, headers=headers, auth=auth, timeout=30.0) as client:
            while max_pages is None or result.pages < max_pages:
                body = fetch(client, pager.request(cursor), settings, result, sleep,
                             pager.empty_on)
                page = pager.page(body, cursor, datetime.now(UTC))
                items = _items(pager, page.document)
                sent = send_items(prod, settings, pager.target, items, pager.format)
                prod.flush()
                wait_confirmed(sent.futures, settings.intake_publish_timeout_s)
                save_cursor(settings, name, page.cursor, sent.published + sent.dead_lettered)
                cursor = page.cursor
                result.pages += 1
                result.records += sent.published
                result.dead_lettered += sent.dead_lettered
                if on_page:
                    on_page(result)
                if page.done:
                    break
    finally:
        prod.close(timeout=10)
    return result


def _items(pager: Pager, document: dict[str, Any]) -> list[connectors.Parsed |
                                                        connectors.Unparseable]:
    try:
        return list(connectors.parse(pager.target, pager.format,
                                     json.dumps(document).encode()))
    except ValueError as exc:  # the page as a whole is not what the API documents
        raise PullError(f"{pager.name}: unexpected page shape ({exc})",
                        "the cursor did not move; check the API version") from exc

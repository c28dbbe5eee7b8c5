"""Scheduled pulls against local stand-ins of the vendor APIs (http.server in a thread).

The stand-in serves recorded-shape pages with the vendors' real field names and
pagination: Zendesk's cursor-based incremental ticket export, Intercom's conversation
search by updated_at, Canny's posts/list, Gong's calls/extensive with fromDateTime and
records.cursor. It can answer 429 + Retry-After, 500, or fail for good mid-stream.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from pydantic import SecretStr

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest.consumer import IngestWorker
from intake import pulls
from intake.pulls import PullError, configured_pulls, load_cursor, run_pull
from schemas.names import feedback_topic
from tests.conftest import make_settings
from tests.test_intake import drain

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime.now(UTC)
ZD_AUTH = "Basic " + base64.b64encode(b"agent@example.com/token:zd-token-123").decode()
IC_AUTH = "Bearer ic-token-456"
CANNY_KEY = "canny-key-789"
GONG_AUTH = "Basic " + base64.b64encode(b"gong-key:gong-secret-000").decode()


def _fixture(path: str, key: str) -> dict[str, Any]:
    return json.loads((FIXTURES / path).read_text())[key][0]


class VendorAPI:
    """The four vendor APIs over an in-memory data set, with scripted failures."""

    def __init__(self) -> None:
        self.tickets: list[dict] = []
        self.conversations: list[dict] = []
        self.posts: list[dict] = []
        self.calls: list[dict] = []
        # vendor -> statuses for its next requests (None = answer normally)
        self.script: dict[str, list[int | None]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        for _ in range(25):
            self.add()

    def add(self) -> None:
        """One more record per vendor, each newer than the last."""
        n = len(self.tickets)
        at = NOW - timedelta(days=5) + timedelta(minutes=n)
        t = copy.deepcopy(_fixture("support_tickets/zendesk_tickets.json", "tickets"))
        t.update(id=50000 + n, url=f"https://acme.zendesk.com/api/v2/tickets/{50000 + n}.json",
                 subject=f"Ticket {n}: SSO please", created_at=at.isoformat(),
                 updated_at=at.isoformat(), generated_timestamp=int(at.timestamp()))
        self.tickets.append(t)
        c = copy.deepcopy(_fixture("support_tickets/intercom_conversations.json",
                                   "conversations"))
        c.update(id=str(300000 + n), created_at=int(at.timestamp()),
                 updated_at=int(at.timestamp()))
        self.conversations.append(c)
        p = copy.deepcopy(_fixture("ideas/canny_posts.json", "posts"))
        p.update(id=f"post{n:06d}", title=f"Idea {n}: SAML for all plans",
                 created=at.isoformat())
        self.posts.append(p)
        call = copy.deepcopy(_fixture("sales_calls/gong_calls.json", "calls"))
        call["metaData"].update(id=str(880000 + n), started=at.isoformat(),
                                scheduled=at.isoformat())
        self.calls.append(call)

    # -- scripted failures
    def scripted(self, vendor: str) -> int | None:
        with self.lock:
            self.hits[vendor] = self.hits.get(vendor, 0) + 1
            queue = self.script.get(vendor) or []
            return queue.pop(0) if queue else None

    # -- the four APIs: (status, body)
    def zendesk(self, query: dict[str, list[str]]) -> tuple[int, dict]:
        per_page = int(query["per_page"][0])
        if "cursor" in query:
            start = int(base64.b64decode(query["cursor"][0]).decode())
        else:
            since = int(query["start_time"][0])
            start = next((i for i, t in enumerate(self.tickets)
                          if t["generated_timestamp"] >= since), len(self.tickets))
        page = self.tickets[start:start + per_page]
        end = start + len(page)
        cursor = base64.b64encode(str(end).encode()).decode()
        return 200, {"tickets": page, "users": [], "organizations": [],
                     "after_cursor": cursor, "before_cursor": None,
                     "after_url": f"https://acme.zendesk.com/api/v2/incremental/tickets/"
                                  f"cursor.json?cursor={cursor}",
                     "end_of_stream": end >= len(self.tickets)}

    def intercom(self, body: dict) -> tuple[int, dict]:
        q = body["query"]
        assert q["field"] == "updated_at" and q["operator"] == ">"
        assert body["sort"] == {"field": "updated_at", "order": "ascending"}
        hits = sorted((c for c in self.conversations if c["updated_at"] > q["value"]),
                      key=lambda c: c["updated_at"])
        per_page = body["pagination"]["per_page"]
        after = body["pagination"].get("starting_after")
        start = int(after.removeprefix("WzE3")) if after else 0
        page = hits[start:start + per_page]
        pages: dict[str, Any] = {"type": "pages", "page": start // per_page + 1,
                                 "per_page": per_page,
                                 "total_pages": -(-len(hits) // per_page)}
        if start + per_page < len(hits):
            pages["next"] = {"page": pages["page"] + 1,
                             "starting_after": f"WzE3{start + per_page}"}
        return 200, {"type": "conversation.list", "conversations": page,
                     "total_count": len(hits), "pages": pages}

    def canny(self, body: dict) -> tuple[int, dict]:
        if body.get("apiKey") != CANNY_KEY:
            return 401, {"error": "invalid api key"}
        assert body["sort"] == "oldest"
        page = self.posts[body["skip"]:body["skip"] + body["limit"]]
        return 200, {"posts": page, "hasMore": body["skip"] + len(page) < len(self.posts)}

    def gong(self, body: dict) -> tuple[int, dict]:
        f = body["filter"]
        lo = datetime.fromisoformat(f["fromDateTime"])
        hi = datetime.fromisoformat(f["toDateTime"]) if "toDateTime" in f else None
        hits = [c for c in self.calls
                if lo <= datetime.fromisoformat(c["metaData"]["started"])
                and (hi is None or datetime.fromisoformat(c["metaData"]["started"]) < hi)]
        if not hits:
            return 404, {"requestId": "r404", "errors": [
                "No calls found corresponding to the provided filters"]}
        start = int(body.get("cursor", "eyJ0:0").split(":")[1])
        page = hits[start:start + 10]  # Gong's page size is its own (100); 10 here
        records: dict[str, Any] = {"totalRecords": len(hits), "currentPageSize": len(page),
                                   "currentPageNumber": start // 10}
        if start + 10 < len(hits):
            records["cursor"] = f"eyJ0:{start + 10}"
        return 200, {"requestId": "r1", "records": records, "calls": page}


def _handler(api: VendorAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _route(self, vendor: str, expected_auth: str | None, answer) -> None:
            if expected_auth and self.headers.get("Authorization") != expected_auth:
                return self._send(401, {"error": "Couldn't authenticate you"})
            status = api.scripted(vendor)
            if status == 429:
                return self._send(429, {"errors": [{"code": "rate_limit_exceeded"}]},
                                  {"Retry-After": "1"})
            if status is not None:
                return self._send(status, {"error": "InternalServerError"})
            code, body = answer()
            self._send(code, body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            assert url.path == "/api/v2/incremental/tickets/cursor.json", url.path
            self._route("zendesk", ZD_AUTH, lambda: api.zendesk(parse_qs(url.query)))

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/conversations/search":
                assert self.headers.get("Intercom-Version")
                self._route("intercom", IC_AUTH, lambda: api.intercom(body))
            elif self.path == "/api/v1/posts/list":
                self._route("canny", None, lambda: api.canny(body))
            elif self.path == "/v2/calls/extensive":
                assert body["contentSelector"]["exposedFields"]["content"]["brief"]
                self._route("gong", GONG_AUTH, lambda: api.gong(body))
            else:
                self._send(404, {"error": "no such route"})

    return Handler


@pytest.fixture
def vendor_api() -> Iterator[tuple[VendorAPI, str]]:
    api = VendorAPI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pull_settings(services, tmp_path, vendor_api) -> Settings:
    _, url = vendor_api
    return make_settings(
        services, tmp_path, zendesk_url=url, zendesk_email="agent@example.com",
        zendesk_api_token="zd-token-123", intercom_url=url, intercom_token="ic-token-456",
        canny_url=url, canny_api_key=CANNY_KEY, gong_url=url, gong_access_key="gong-key",
        gong_access_key_secret="gong-secret-000", pull_page_size=10, pull_backoff_s=0.01,
        pull_max_retries=3, pull_initial_days=30,
    )


TOPIC = {"zendesk": "support_tickets", "intercom": "support_tickets", "canny": "ideas",
         "gong": "sales_calls"}
PREFIX = {"zendesk": "zendesk:", "intercom": "intercom:", "canny": "canny:", "gong": "gong:"}


def _ids(settings: Settings, pull: str) -> list[str]:
    return [json.loads(m.value)["source_id"] for m in drain(settings, feedback_topic(TOPIC[pull]))
            if json.loads(m.value)["source_id"].startswith(PREFIX[pull])]


@pytest.mark.parametrize("pull", ["zendesk", "intercom", "canny", "gong"])
def test_pull_pages_through_429_and_500_and_resumes_incrementally(
    pull, vendor_api, pull_settings
):
    api, _ = vendor_api
    api.script[pull] = [None, 429, None, 500]  # page 2 rate-limited, page 3 fails once
    waits: list[float] = []
    result = run_pull(pull_settings, pull, sleep=waits.append)
    assert result.records == 25 and result.dead_lettered == 0
    assert result.retries == 2 and waits[0] == 1.0  # Retry-After honoured
    ids = _ids(pull_settings, pull)
    assert len(ids) == 25 and len(set(ids)) == 25  # every record once
    assert load_cursor(pull_settings, pull) is not None

    again = run_pull(pull_settings, pull, sleep=waits.append)  # nothing new
    # Intercom re-asks for the newest second (its search has no >=): one harmless repeat
    assert again.records == (1 if pull == "intercom" else 0)

    for _ in range(3):
        api.add()
    if pull == "gong":  # calls Gong processed late: inside the look-back
        for call in api.calls[-3:]:
            call["metaData"]["started"] = (NOW - timedelta(minutes=1)).isoformat()
    third = run_pull(pull_settings, pull, sleep=waits.append)
    new = set(_ids(pull_settings, pull)) - set(ids)
    assert len(new) == 3
    assert third.records == 3 + (1 if pull == "intercom" else 0)


def test_crash_mid_pull_resumes_exactly(vendor_api, pull_settings):
    api, _ = vendor_api
    api.script["zendesk"] = [None, None] + [500] * 4  # page 3 fails beyond the retries
    with pytest.raises(PullError, match="the cursor did not move"):
        run_pull(pull_settings, "zendesk", sleep=lambda s: None)
    assert len(_ids(pull_settings, "zendesk")) == 20  # pages 1-2 acknowledged and kept
    resumed = run_pull(pull_settings, "zendesk", sleep=lambda s: None)
    assert resumed.records == 5  # only page 3: nothing lost, nothing repeated
    ids = _ids(pull_settings, "zendesk")
    assert sorted(ids) == sorted(f"zendesk:{50000 + n}" for n in range(25))


def test_crash_between_ack_and_cursor_repeats_one_page_harmlessly(
    vendor_api, pull_settings, monkeypatch
):
    real_save = pulls.save_cursor
    calls = {"n": 0}

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(pulls, "save_cursor", crash_on_second)
    with pytest.raises(psycopg.OperationalError):
        run_pull(pull_settings, "canny", sleep=lambda s: None)
    monkeypatch.setattr(pulls, "save_cursor", real_save)
    run_pull(pull_settings, "canny", sleep=lambda s: None)
    ids = _ids(pull_settings, "canny")
    assert len(ids) == 35 and len(set(ids)) == 25  # page 2 published twice ...
    stats = IngestWorker(pull_settings).run(once=True)
    assert stats.stored == 35
    with psycopg.connect(pull_settings.dsn()) as conn:  # ... stored once: upsert on source_id
        n = conn.execute("SELECT count(*) FROM trendmine.feedback WHERE source = 'ideas'"
                         ).fetchone()[0]
    assert n == 25


def test_bad_credentials_fail_without_retrying(vendor_api, pull_settings):
    bad = pull_settings.model_copy(update={"intercom_token": SecretStr("wrong")})
    with pytest.raises(TrendmineError, match="HTTP 401") as err:
        run_pull(bad, "intercom", sleep=lambda s: None)
    assert not isinstance(err.value, PullError)
    assert "wrong" not in str(err.value)
    assert load_cursor(bad, "intercom") is None


def test_configured_pulls_follow_credentials(pull_settings, tmp_path):
    assert configured_pulls(pull_settings) == ["zendesk", "intercom", "canny", "gong"]
    assert configured_pulls(Settings(data_dir=tmp_path)) == []
    with pytest.raises(TrendmineError, match="TRENDMINE_GONG_ACCESS_KEY"):
        run_pull(Settings(data_dir=tmp_path), "gong")


@pytest.mark.usefixtures("prefect_api")
def test_pull_flow_and_deployments(vendor_api, pull_settings):
    from flows.pulls import pull_deployments, pull_flow
    from flows.runtime import running_with

    with running_with(pull_settings):
        result = pull_flow("canny")
    assert result == {"pull": "canny", "pages": 3, "records": 25, "dead_lettered": 0,
                      "retries": 0}
    deployments = pull_deployments(pull_settings)
    assert [d.name for d in deployments] == ["pull-zendesk", "pull-intercom", "pull-canny",
                                             "pull-gong"]
    assert all(d.parameters == {"source": d.name.removeprefix("pull-")} for d in deployments)
    assert pull_deployments(Settings(data_dir=pull_settings.data_dir)) == []

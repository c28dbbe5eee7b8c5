"""`trendmine intake serve`: real HTTP calls against the app in uvicorn, the real broker.

Every accepted record must arrive on its topic exactly once and be stored by the ingest
worker; every refused request (unsigned, bad signature, replayed, oversized, malformed,
unknown source) must publish nothing.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient
from kafka import TopicPartition

from foundation.config import Settings
from infra.embedded import free_port
from ingest.consumer import IngestWorker
from ingest.kafka import consumer
from intake.app import create_app
from intake.server import server_options
from intake.signatures import sign_canonical
from schemas.names import DLQ_TOPIC, feedback_topic
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "canonical-secret-0123456789"
VENDOR_SECRET = "vendor-secret-abcdef"
SF_ORG = "00D5g000004XyZaEAK"


# ---------------------------------------------------------------------------- helpers


def drain(settings: Settings, topic: str, idle_s: float = 1.5) -> list:
    """Every record on a topic from the beginning (no group: end offsets are not trusted)."""
    name = settings.topic(topic)
    c = consumer(settings, group_id=None)
    try:
        tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or [])]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out, last = [], time.monotonic()
        while time.monotonic() - last < idle_s:
            for msgs in c.poll(timeout_ms=200).values():
                out.extend(msgs)
                last = time.monotonic()
        return out
    finally:
        c.close()


class Running:
    """The intake app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                **server_options(settings))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "intake app did not start"
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=20)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(15)


def signed(body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"X-Trendmine-Timestamp": str(ts), "X-Trendmine-Signature":
            sign_canonical(secret, ts, body), "Content-Type": "application/json"}


def event(n: int, source: str = "support_tickets") -> dict:
    return {"source": source, "source_id": f"t-{n}", "account_id": f"acct-{n % 3}",
            "text": f"Please add SAML single sign-on, request number {n}",
            "created_at": "2026-11-20T10:00:00+00:00"}


@pytest.fixture
def gong_key(tmp_path) -> tuple[rsa.RSAPrivateKey, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "gong.pem"
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, path


class CannyAPI:
    """A loopback stand-in for Canny's API: POST /api/v1/posts/retrieve {apiKey, id} answers
    the post, or 400 {"error": "invalid id"} as Canny does for an unknown id."""

    def __init__(self, api_key: str) -> None:
        self.posts: dict[str, dict] = {}
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append(body)
                post = api.posts.get(body.get("id"))
                if self.path != "/api/v1/posts/retrieve" or body.get("apiKey") != api_key:
                    status, answer = 401, {"error": "invalid api key"}
                elif post is None:
                    status, answer = 400, {"error": "invalid id"}
                else:
                    status, answer = 200, post
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def canny_api() -> Iterator[CannyAPI]:
    api = CannyAPI(VENDOR_SECRET)
    api.posts = {p["id"]: p for p in _fixture("ideas/canny_posts.json")["posts"]}
    yield api
    api.server.shutdown()


@pytest.fixture
def intake_settings(services, tmp_path, gong_key, canny_api) -> Settings:
    return make_settings(
        services, tmp_path, intake_secret=SECRET, intake_max_body_bytes=64 * 1024,
        intake_zendesk_secret=VENDOR_SECRET, intake_intercom_secret=VENDOR_SECRET,
        intake_hubspot_secret=VENDOR_SECRET, canny_api_key=VENDOR_SECRET,
        canny_url=canny_api.url,
        intake_salesforce_token=VENDOR_SECRET, intake_salesforce_org_id=SF_ORG,
        intake_gong_public_key_path=gong_key[1], intake_public_url="https://intake.example.com",
    )


@pytest.fixture
def intake_db(intake_settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(intake_settings.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def intake(intake_settings) -> Iterator[httpx.Client]:
    with Running(intake_settings) as client:
        yield client


# ---------------------------------------------------------------------------- canonical


def test_canonical_accepted_once_and_stored(intake, intake_settings, intake_db):
    one = json.dumps(event(1)).encode()
    r = intake.post("/v1/feedback/support_tickets", content=one, headers=signed(one))
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "dead_lettered": 0, "ignored": 0}
    many = json.dumps([event(n) for n in range(2, 12)]).encode()
    r = intake.post("/v1/feedback/support_tickets", content=many, headers=signed(many))
    assert r.status_code == 202 and r.json()["accepted"] == 10

    on_topic = drain(intake_settings, feedback_topic("support_tickets"))
    ids = sorted(json.loads(m.value)["source_id"] for m in on_topic)
    assert ids == sorted(f"t-{n}" for n in range(1, 12))  # each exactly once
    assert {m.key for m in on_topic} == {b"acct-0", b"acct-1", b"acct-2"}

    stats = IngestWorker(intake_settings).run(once=True)
    assert stats.stored == 11 and stats.rejected == 0
    stored = intake_db.execute("SELECT count(*) FROM trendmine.feedback "
                        "WHERE source = 'support_tickets'").fetchone()[0]
    assert stored == 11


def test_canonical_refusals_publish_nothing(intake, intake_settings):
    body = json.dumps(event(1)).encode()
    url = "/v1/feedback/support_tickets"
    now = int(time.time())
    cases = {
        "unsigned": (401, body, {"Content-Type": "application/json"}),
        "bad signature": (401, body, signed(body, secret="not-the-secret")),
        "body changed": (401, body + b" ", signed(body)),
        "replayed": (401, body, signed(body, ts=now - 301)),
        "future": (401, body, signed(body, ts=now + 360)),  # slack for a loaded machine
        "malformed json": (400, b"{not json", signed(b"{not json")),
        "not an object": (400, b"[1, 2]", signed(b"[1, 2]")),
        "other source": (422, json.dumps(event(1, "ideas")).encode(),
                         signed(json.dumps(event(1, "ideas")).encode())),
    }
    for name, (status, content, headers) in cases.items():
        r = intake.post(url, content=content, headers=headers)
        assert r.status_code == status, (name, r.text)
        assert r.json()["reason"], name
        assert SECRET not in r.text
    r = intake.post("/v1/feedback/tweets", content=body, headers=signed(body))
    assert r.status_code == 422 and "unknown source" in r.json()["reason"]

    big = json.dumps([event(n) for n in range(1000)]).encode()  # > 64 KiB limit
    assert len(big) > intake_settings.intake_max_body_bytes
    r = intake.post(url, content=big, headers=signed(big))
    assert r.status_code == 413
    # no Content-Length (chunked): the streamed body is counted too
    r = intake.post(url, content=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                    headers=signed(big))
    assert r.status_code == 413

    assert drain(intake_settings, feedback_topic("support_tickets")) == []
    assert drain(intake_settings, feedback_topic("ideas")) == []
    assert drain(intake_settings, DLQ_TOPIC) == []


def test_health_no_api_docs_and_logs(intake, capfd):
    r = intake.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert intake.get(path).status_code == 404, path  # the intake port faces the internet
    body = json.dumps(event(1)).encode()
    intake.post("/v1/feedback/support_tickets", content=body,
                headers=signed(body, secret=VENDOR_SECRET))
    intake.post("/v1/feedback/support_tickets", content=body, headers=signed(body))
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(x["msg"] == "refused" and x["status"] == 401 for x in lines)
    assert any(x["msg"] == "accepted" and x["accepted"] == 1 for x in lines)
    assert SECRET not in err and VENDOR_SECRET not in err


def test_health_reports_unreachable_broker(tmp_path):
    down = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path)
    client = TestClient(create_app(down))  # no `with`: no lifespan, so no producer needed
    r = client.get("/healthz")
    assert r.status_code == 503 and "cannot reach" in r.json()["reason"]


# ---------------------------------------------------------------------------- vendors


def _fixture(path: str) -> dict:
    return json.loads((FIXTURES / path).read_text())


def _b64_hmac(message: bytes, algo=hashlib.sha256) -> str:
    return base64.b64encode(hmac.new(VENDOR_SECRET.encode(), message, algo).digest()).decode()


def _zendesk(body: bytes, ts: str | None = None) -> dict[str, str]:
    ts = ts or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"X-Zendesk-Webhook-Signature": _b64_hmac(ts.encode() + body),
            "X-Zendesk-Webhook-Signature-Timestamp": ts}


def _intercom(body: bytes) -> dict[str, str]:
    mac = hmac.new(VENDOR_SECRET.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={mac}"}


def _canny(body: bytes) -> dict[str, str]:
    nonce = uuid.uuid4().hex
    return {"canny-nonce": nonce, "canny-signature": _b64_hmac(nonce.encode()),
            "canny-timestamp": str(int(time.time() * 1000))}


def _hubspot(path: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    url = f"https://intake.example.com{path}"
    return {"X-HubSpot-Signature-v3": _b64_hmac(b"POST" + url.encode() + body + ts.encode()),
            "X-HubSpot-Request-Timestamp": ts}


def _gong(key: rsa.RSAPrivateKey, body: bytes, url: str, exp_in: int = 300) -> dict[str, str]:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"webhook_url": url, "body_sha256": hashlib.sha256(body).hexdigest(),
                             "exp": int(time.time()) + exp_in}).encode())
    sig = key.sign(f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return {"Authorization": f"Bearer {head}.{claims}.{b64(sig)}"}


def _soap(org: str, account: dict[str, str]) -> bytes:
    fields = "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in account.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5g000000XyZ</ActionId>"
        "<SessionId xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>"
        "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0</EnterpriseUrl>"
        "<Notification><Id>04l5g00000AbCdE</Id>"
        '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{fields}</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_vendor_webhooks_signed_and_mapped(intake, intake_settings, gong_key, intake_db):
    ticket = _fixture("support_tickets/zendesk_tickets.json")["tickets"][0]
    zd = json.dumps({"type": "zen:event-type:ticket.created", "account_id": 1,
                     "detail": ticket, "event": {}, "id": "e1", "time": "2026-11-26T00:00:00Z",
                     "zendesk_event_version": "2022-11-06"}).encode()
    conv = _fixture("support_tickets/intercom_conversations.json")["conversations"][0]
    ic = json.dumps({"type": "notification_event", "app_id": "abc", "topic":
                     "conversation.user.created", "id": "notif_1", "created_at": 1732579200,
                     "data": {"type": "notification_event_data", "item": conv}}).encode()
    post = _fixture("ideas/canny_posts.json")["posts"][0]
    cn = json.dumps({"created": "2026-11-26T00:00:00.000Z", "object": post,
                     "objectType": "post", "type": "post.created"}).encode()
    call = _fixture("sales_calls/gong_calls.json")["calls"][0]
    gg = json.dumps({"callData": call, "isTest": False}).encode()
    note = _fixture("crm_notes/hubspot_notes.json")["results"][0]
    hs = json.dumps(note).encode()
    account = {"Id": "0015g00000AbCdEAAV", "Name": "Acme Logistics", "ARR__c": "120000",
               "Segment__c": "Enterprise", "LastModifiedDate": "2026-11-25T10:00:00.000Z"}
    sf = _soap(SF_ORG, account)

    hs_path, sf_path = "/v1/webhooks/hubspot/crm_notes", "/v1/webhooks/salesforce/accounts"
    gong_url = "https://intake.example.com/v1/webhooks/gong"
    good = [
        ("/v1/webhooks/zendesk", zd, _zendesk(zd)),
        ("/v1/webhooks/intercom", ic, _intercom(ic)),
        ("/v1/webhooks/canny", cn, _canny(cn)),
        ("/v1/webhooks/gong", gg, _gong(gong_key[0], gg, gong_url)),
        (hs_path, hs, _hubspot(hs_path, hs)),
    ]
    for path, body, headers in good:
        r = intake.post(path, content=body, headers=headers)
        assert r.status_code == 202, (path, r.text)
        assert r.json()["accepted"] == 1, (path, r.json())
    r = intake.post(f"{sf_path}?token={VENDOR_SECRET}", content=sf,
                    headers={"Content-Type": "text/xml"})
    assert r.status_code == 200 and b"<Ack>true</Ack>" in r.content, r.text

    bad = [
        ("/v1/webhooks/zendesk", zd, _zendesk(zd, ts="2020-01-01T00:00:00Z")),  # replay
        ("/v1/webhooks/zendesk", zd + b" ", _zendesk(zd)),
        ("/v1/webhooks/intercom", ic, {"X-Hub-Signature": "sha1=00"}),
        ("/v1/webhooks/canny", cn, {**_canny(cn), "canny-timestamp": "1600000000000"}),
        ("/v1/webhooks/gong", gg, _gong(gong_key[0], gg + b"x", gong_url)),
        ("/v1/webhooks/gong", gg, _gong(gong_key[0], gg, gong_url, exp_in=-10)),
        ("/v1/webhooks/gong", gg, _gong(rsa.generate_private_key(65537, 2048), gg, gong_url)),
        (hs_path, hs, _hubspot("/v1/webhooks/hubspot/accounts", hs)),
        (f"{sf_path}?token=wrong", sf, {}),
        (f"{sf_path}?token={VENDOR_SECRET}", _soap("00D000000000001AAA", account), {}),
    ]
    for path, body, headers in bad:
        r = intake.post(path, content=body, headers=headers)
        assert r.status_code == 401, (path, r.text)

    topics = {"support_tickets": 2, "ideas": 1, "sales_calls": 1, "crm_notes": 1}
    for source, n in topics.items():
        got = [json.loads(m.value) for m in drain(intake_settings, feedback_topic(source))]
        assert len(got) == n, source
    ids = {json.loads(m.value)["source_id"]
           for m in drain(intake_settings, feedback_topic("support_tickets"))}
    assert ids == {f"zendesk:{ticket['id']}", f"intercom:{conv['id']}"}
    accounts = drain(intake_settings, "crm.accounts")
    assert [json.loads(m.value)["account_id"] for m in accounts] == ["0015g00000AbCdEAAV"]

    stats = IngestWorker(intake_settings).run(once=True)
    assert stats.stored == 6 and stats.rejected == 0, stats
    assert intake_db.execute("SELECT segment, arr FROM trendmine.accounts").fetchone() == (
        "enterprise", 120000)


def test_unmappable_record_goes_to_dlq_and_ignored_events(intake, intake_settings):
    ticket = copy.deepcopy(_fixture("support_tickets/zendesk_tickets.json")["tickets"][0])
    del ticket["created_at"]
    body = json.dumps({"ticket": ticket}).encode()
    r = intake.post("/v1/webhooks/zendesk", content=body, headers=_zendesk(body))
    assert r.status_code == 202
    assert r.json() == {"accepted": 0, "dead_lettered": 1, "ignored": 0}
    dead = drain(intake_settings, DLQ_TOPIC)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert b"created_at" in headers["trendmine.reason"]
    assert headers["trendmine.error_code"] == b"unparseable_zendesk_tickets_json"

    ping = json.dumps({"type": "notification_event", "topic": "ping",
                       "data": {"item": {"type": "ping", "message": "hi"}}}).encode()
    r = intake.post("/v1/webhooks/intercom", content=ping, headers=_intercom(ping))
    assert r.status_code == 202 and r.json()["ignored"] == 1
    r = intake.post("/v1/webhooks/zendesk", content=b"<xml/>", headers=_zendesk(b"<xml/>"))
    assert r.status_code == 400
    assert drain(intake_settings, feedback_topic("support_tickets")) == []


def test_unconfigured_vendor_is_refused(services, tmp_path):
    settings = make_settings(services, tmp_path, intake_secret=SECRET)
    with Running(settings) as client:
        body = b"{}"
        r = client.post("/v1/webhooks/zendesk", content=body, headers=_zendesk(body))
        assert r.status_code == 401
        assert "TRENDMINE_INTAKE_ZENDESK_SECRET" in r.json()["reason"]


def test_trendmine_intake_serve_command(intake_settings, tmp_path):
    """The real command: `python -m trendmine intake serve`, configured by TRENDMINE_*."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]),
           "TRENDMINE_KAFKA_BOOTSTRAP": intake_settings.bootstrap(),
           "TRENDMINE_TOPIC_PREFIX": intake_settings.topic_prefix,
           "TRENDMINE_DATA_DIR": str(tmp_path)}
    secret_file = tmp_path / "intake.secret"
    secret_file.write_text(SECRET + "\n")
    env["TRENDMINE_INTAKE_SECRET_FILE"] = str(secret_file)  # a secret from a file
    env.pop("TRENDMINE_INTAKE_SECRET", None)
    proc = subprocess.Popen([sys.executable, "-m", "trendmine", "intake", "serve", "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
            body = json.dumps(event(42)).encode()
            r = client.post("/v1/feedback/support_tickets", content=body, headers=signed(body))
            assert r.status_code == 202, r.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    ids = [json.loads(m.value)["source_id"]
           for m in drain(intake_settings, feedback_topic("support_tickets"))]
    assert ids == ["t-42"]
    assert b'"msg": "accepted"' in err and SECRET.encode() not in err


def test_intake_secrets_are_masked(tmp_path):
    from foundation.config import describe

    s = Settings(data_dir=tmp_path, intake_secret=SECRET, zendesk_api_token="zd-tok-123456",
                 gong_access_key_secret="gong-secret-1234")
    shown = {name: value for name, value, _ in describe(s)}
    assert shown["TRENDMINE_INTAKE_SECRET"] == "***"
    assert shown["TRENDMINE_ZENDESK_API_TOKEN"] == "***"
    assert SECRET in s.secret_values() and "gong-secret-1234" in s.secret_values()


def test_no_acknowledgement_in_time_is_503(services, tmp_path):
    # acks cannot come back within 1 ms: the producer lingers 2 ms before sending a batch
    settings = make_settings(services, tmp_path, intake_secret=SECRET,
                             intake_publish_timeout_s=0.001)
    with Running(settings) as client:
        body = json.dumps(event(7)).encode()
        r = client.post("/v1/feedback/support_tickets", content=body, headers=signed(body))
        assert r.status_code == 503
        assert r.json()["error"] == "not_acknowledged"

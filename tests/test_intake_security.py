"""`trendmine intake serve` under attack: replays, malformed tokens, floods, slow clients,
hostile XML, and a broker that goes away. Real HTTP against the app in uvicorn (the same
uvicorn options as `intake serve`), the real broker, a loopback stand-in of Canny's API."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.embedded import EmbeddedBroker, free_port, port_in_use
from ingest.kafka import create_topics
from intake.signatures import NonceCache, SaturatedNonces, Unauthorized, hubspot_uri
from schemas.names import DLQ_TOPIC, feedback_topic
from tests import test_intake as base
from tests.conftest import make_settings
from tests.test_intake import (
    SECRET,
    SF_ORG,
    VENDOR_SECRET,
    Running,
    _b64_hmac,
    _canny,
    _fixture,
    _gong,
    _hubspot,
    _soap,
    _zendesk,
    drain,
    event,
    signed,
)

# the receiver with every vendor configured, and the stand-in of Canny's API
canny_api, gong_key = base.canny_api, base.gong_key
intake, intake_settings = base.intake, base.intake_settings

# ---------------------------------------------------------------------------- Canny


def _canny_event(post: dict, kind: str = "post.created") -> bytes:
    return json.dumps({"created": "2026-11-26T00:00:00.000Z", "object": post,
                       "objectType": "post", "type": kind}).encode()


def test_canny_timestamp_must_be_a_finite_number(intake, intake_settings):
    body = _canny_event(_fixture("ideas/canny_posts.json")["posts"][0])
    for ts in ("nan", "NaN", "inf", "-inf", "1e400", "abc"):
        r = intake.post("/v1/webhooks/canny", content=body,
                        headers={**_canny(body), "canny-timestamp": ts})
        assert r.status_code == 401, (ts, r.text)
    assert drain(intake_settings, feedback_topic("ideas")) == []


def test_canny_nonce_is_taken_once(intake, intake_settings):
    body = _canny_event(_fixture("ideas/canny_posts.json")["posts"][0])
    headers = _canny(body)
    assert intake.post("/v1/webhooks/canny", content=body, headers=headers).status_code == 202
    for _ in range(2):  # the captured header set, replayed with any body and a fresh time
        headers["canny-timestamp"] = str(int(time.time() * 1000))
        r = intake.post("/v1/webhooks/canny", content=b'{"forged": 1}', headers=headers)
        assert r.status_code == 401 and "nonce" in r.json()["reason"], r.text
    assert len(drain(intake_settings, feedback_topic("ideas"))) == 1


def test_canny_post_is_confirmed_through_canny_api(intake, intake_settings, canny_api):
    real = _fixture("ideas/canny_posts.json")["posts"][0]
    forged = {**real, "title": "Ignore all prior feedback", "details": "call +1 415 555 0123"}
    body = _canny_event(forged)
    r = intake.post("/v1/webhooks/canny", content=body, headers=_canny(body))
    assert r.status_code == 202, r.text
    assert canny_api.requests[-1] == {"apiKey": VENDOR_SECRET, "id": real["id"]}
    [record] = [json.loads(m.value) for m in drain(intake_settings, feedback_topic("ideas"))]
    assert real["title"] in record["text"] and "Ignore all prior" not in record["text"]

    unknown = _canny_event({**real, "id": "000000000000000000000000"})
    r = intake.post("/v1/webhooks/canny", content=unknown, headers=_canny(unknown))
    assert r.status_code == 401 and r.json()["error"] == "unconfirmed", r.text
    comment = json.dumps({"object": {"id": "c1", "post": real}, "objectType": "comment",
                          "type": "comment.created"}).encode()
    r = intake.post("/v1/webhooks/canny", content=comment, headers=_canny(comment))
    assert r.status_code == 202 and r.json()["ignored"] == 1
    canny_api.server.shutdown()
    canny_api.server.server_close()  # Canny unreachable: 503, Canny retries later
    headers = _canny(body)
    for _ in range(2):  # the retry carries the same nonce and is not taken for a replay
        r = intake.post("/v1/webhooks/canny", content=body, headers=headers)
        assert r.status_code == 503 and r.json()["error"] == "unconfirmed", r.text
    assert len(drain(intake_settings, feedback_topic("ideas"))) == 1


def test_nonce_cache_is_bounded_and_forgets_after_the_window():
    cache = NonceCache(tolerance_s=10, max_size=2)
    cache.take("a", now=0)
    cache.take("b", now=1)
    with pytest.raises(Unauthorized):
        cache.take("a", now=15)  # within 2 x tolerance: a replay
    with pytest.raises(SaturatedNonces):
        cache.take("c", now=15)  # full of live nonces: refuse rather than forget one
    cache.take("c", now=20.5)  # "a" expired (and only "a")
    with pytest.raises(Unauthorized):
        cache.take("b", now=20.5)
    assert len(cache._expiry) == 2


# ---------------------------------------------------------------------------- Gong


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key, header: bytes, claims: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{_b64(header)}.{_b64(claims)}"
    return f"Bearer {signing_input}.{_b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"  # noqa: E501


def test_gong_malformed_tokens_are_401_and_deep_json_400(intake, intake_settings, gong_key):
    url = "https://intake.example.com/v1/webhooks/gong"
    body = json.dumps({"callData": _fixture("sales_calls/gong_calls.json")["calls"][0]}).encode()
    claims = {"webhook_url": url, "body_sha256": hashlib.sha256(body).hexdigest(),
              "exp": int(time.time()) + 300}
    for header in (b"[]", b'"x"', b"1", b"null", b"[" * 5000 + b"]" * 5000):
        token = _jwt(gong_key[0], header, json.dumps(claims).encode())
        r = intake.post("/v1/webhooks/gong", content=body, headers={"Authorization": token})
        assert r.status_code == 401, (header[:10], r.status_code, r.text)
    rs256 = json.dumps({"alg": "RS256", "typ": "JWT"}).encode()
    no_url = {k: v for k, v in claims.items() if k != "webhook_url"}
    for bad_claims in (no_url, [claims], {**claims, "exp": "never"}):
        token = _jwt(gong_key[0], rs256, json.dumps(bad_claims).encode())
        r = intake.post("/v1/webhooks/gong", content=body, headers={"Authorization": token})
        assert r.status_code == 401, (bad_claims, r.text)

    deep = b"[" * 30000 + b"]" * 30000  # under the 64 KiB body limit, past json's recursion
    r = intake.post("/v1/webhooks/gong", content=deep, headers=_gong(gong_key[0], deep, url))
    assert r.status_code == 400 and "nested" in r.json()["reason"], r.text
    r = intake.post("/v1/feedback/ideas", content=deep, headers=signed(deep))
    assert r.status_code == 400, r.text
    assert drain(intake_settings, feedback_topic("sales_calls")) == []


# ---------------------------------------------------------------------------- floods


def test_events_per_request_are_capped(intake, intake_settings):
    empties = b"[" + b",".join([b"{}"] * 1001) + b"]"  # the default cap is 1000
    r = intake.post("/v1/feedback/support_tickets", content=empties, headers=signed(empties))
    assert r.status_code == 413 and "TRENDMINE_INTAKE_MAX_EVENTS" in r.json()["reason"], r.text
    tickets = json.dumps({"tickets": [{"id": n} for n in range(1500)]}).encode()
    r = intake.post("/v1/webhooks/zendesk", content=tickets, headers=_zendesk(tickets))
    assert r.status_code == 413, r.text
    assert drain(intake_settings, feedback_topic("support_tickets")) == []
    assert drain(intake_settings, DLQ_TOPIC) == []


def test_one_mebibyte_of_empty_events_is_refused_fast(services, tmp_path):
    settings = make_settings(services, tmp_path, intake_secret=SECRET)  # 1 MiB body limit
    body = b"[" + b",".join([b"{}"] * 349_524) + b"]"
    assert len(body) <= settings.intake_max_body_bytes
    with Running(settings) as client:
        t0 = time.monotonic()
        r = client.post("/v1/feedback/ideas", content=body, headers=signed(body))
        took = time.monotonic() - t0
        assert r.status_code == 413, r.text
        assert took < 3, f"{took:.1f} s"  # unguarded: accepted after ~10 s of event loop
    assert drain(settings, feedback_topic("ideas")) == []


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(0.2)
    return sock


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bytes:
    """Trickle a byte every 0.2 s; the bytes the server answered once it closed, or fail."""
    got, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.sendall(trickle)
            chunk = sock.recv(4096)
            if not chunk:
                return got
            got += chunk
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return got
    raise AssertionError(f"connection still open after {seconds} s")


def test_slow_and_oversized_requests_are_cut_off(services, tmp_path):
    settings = make_settings(services, tmp_path, intake_secret=SECRET, intake_read_timeout_s=1)
    with Running(settings) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1])
        slow_head = _raw(port)
        slow_head.sendall(b"POST /v1/feedback/ideas HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        _closed_within(slow_head, 5, trickle=b"a")  # headers never end

        slow_body = _raw(port)
        body = json.dumps(event(1, "ideas")).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in signed(body).items())
        slow_body.sendall(f"POST /v1/feedback/ideas HTTP/1.1\r\nHost: x\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:5])
        answer = _closed_within(slow_body, 5, trickle=b" ")
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]

        big = _raw(port)
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert _closed_within(big, 5).startswith(b"HTTP/1.1 400")
        streamed = _raw(port)  # a header that never ends, sent fast: bounded in size too
        streamed.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(3):  # 18 KiB in separate reads, none of which ends the head
            streamed.sendall(b"a" * 6144)
            time.sleep(0.05)
        assert _closed_within(streamed, 0.9).startswith(b"HTTP/1.1 400")
        assert client.get("/healthz").status_code == 200  # the server itself is fine
    assert drain(settings, feedback_topic("ideas")) == []


# ---------------------------------------------------------------------------- XML, HubSpot


def test_salesforce_doctype_refused_in_any_encoding(intake, intake_settings):
    account = {"Id": "0015g00000AbCdEAAV", "Name": "&org;", "ARR__c": "1"}
    xml = _soap(SF_ORG, account).decode().replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY org "Injected">]>')
    for body in (xml.encode("utf-16"), xml.replace("UTF-16", "UTF-8").encode()):
        r = intake.post(f"/v1/webhooks/salesforce/accounts?token={VENDOR_SECRET}",
                        content=body, headers={"Content-Type": "text/xml"})
        assert r.status_code == 400, r.text
    assert drain(intake_settings, "crm.accounts") == []


def test_hubspot_signs_the_uri_with_listed_escapes_decoded(intake, intake_settings):
    assert hubspot_uri("https://h/x?a=b%3Ac%2fd%20e%3D") == "https://h/x?a=b:c/d%20e%3D"
    note = json.dumps(_fixture("crm_notes/hubspot_notes.json")["results"][0]).encode()
    path = "/v1/webhooks/hubspot/crm_notes?portal=acme%3Aeu&from=%40hubspot%2Cworkflow"
    ts = str(int(time.time() * 1000))
    decoded = "https://intake.example.com" + hubspot_uri(path)
    assert ":eu" in decoded and "@hubspot,workflow" in decoded
    headers = {"X-HubSpot-Signature-v3": _b64_hmac(b"POST" + decoded.encode() + note
                                                   + ts.encode()),
               "X-HubSpot-Request-Timestamp": ts}
    r = intake.post(path, content=note, headers=headers)
    assert r.status_code == 202, r.text
    r = intake.post(path, content=note, headers=_hubspot(path, note))  # the raw URI signed
    assert r.status_code == 401
    assert len(drain(intake_settings, feedback_topic("crm_notes"))) == 1


# ---------------------------------------------------------------------------- the broker


def _stop(broker: EmbeddedBroker) -> None:
    broker.stop()
    deadline = time.monotonic() + 30
    while port_in_use(broker.port) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_broker_restart_503_then_recovers(services, tmp_path):
    """While the broker is gone nothing is answered 2xx and /healthz says 503, even while
    its port still accepts TCP; once it is back (topics recreated: this broker keeps them in
    memory) the receiver publishes again within seconds, on a new producer."""
    broker = EmbeddedBroker(tmp_path / "broker", free_port())
    broker.start()
    try:
        settings = make_settings({**services, "bootstrap": f"127.0.0.1:{broker.port}"},
                                 tmp_path, intake_secret=SECRET, intake_publish_timeout_s=3)
        with Running(settings) as client:
            body = json.dumps(event(1, "ideas")).encode()
            r = client.post("/v1/feedback/ideas", content=body, headers=signed(body))
            assert r.status_code == 202
            _stop(broker)
            with socket.create_server(("127.0.0.1", broker.port)) as mute:
                # the port answers TCP but no Kafka: only the producer can tell
                r = client.post("/v1/feedback/ideas", content=body, headers=signed(body))
                assert r.status_code == 503, r.text
                r = client.get("/healthz")
                assert r.status_code == 503 and "producer" in r.json()["reason"], r.text
            assert mute
            broker.start()  # its topics are gone with its memory: create them again
            create_topics(settings)
            deadline, statuses = time.monotonic() + 20, []
            while time.monotonic() < deadline:
                body = json.dumps(event(len(statuses) + 2, "ideas")).encode()
                r = client.post("/v1/feedback/ideas", content=body, headers=signed(body))
                statuses.append(r.status_code)
                if r.status_code == 202:
                    break
                time.sleep(0.5)
            assert statuses[-1] == 202, statuses
            assert client.get("/healthz").status_code == 200
        got = [json.loads(m.value)["source_id"] for m in drain(settings, feedback_topic("ideas"))]
        assert got == [f"t-{len(statuses) + 1}"], (got, statuses)
    finally:
        broker.stop()


def test_serve_refuses_the_in_memory_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(PYTHONPATH=str(Path(__file__).parents[1]), TRENDMINE_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "trendmine", "intake", "serve", "--port",
                           str(free_port())], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "in-memory" in proc.stderr and "--allow-memory-broker" in proc.stderr

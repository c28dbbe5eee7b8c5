"""`trendmine intake serve`: the webhook receiver (FastAPI on uvicorn).

Every POST goes through the same steps, in this order, and publishes nothing unless all pass:
1. the path names a known source / target (else 422),
2. the body is read within `intake_max_body_bytes` (Content-Length first, then the stream:
   413) and within `intake_read_timeout_s` (408),
3. the vendor's signature over the raw body is checked (401),
4. the body is parsed and mapped by the connectors (400 when it is not the vendor's shape,
   413 over `intake_max_events` events); a Canny post is read back from Canny's API,
5. every record (and every dead letter) is acknowledged by the broker, acks=all (else 503),
and only then the answer is 202 (200 with the SOAP Ack for Salesforce).

The canonical endpoint `POST /v1/feedback/{source}` is a contract; see docs/sources.md.
The app serves no /docs, /redoc or /openapi.json: the intake port faces the internet, and
the endpoints are plain Starlette routes (no per-request dependency solving).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from foundation.config import Settings, get_settings
from foundation.errors import TrendmineError
from ingest import metrics
from ingest.kafka import check_reachable
from ingest.producer import topic_for
from intake import canny, logs, signatures, trackers, webhooks
from intake.publish import GroupPublisher, PublishFailed
from schemas.names import DLQ_TOPIC, Entity, Source

FEEDBACK_SOURCES = tuple(s.value for s in Source)
CRM_TARGETS = (Source.CRM_NOTES.value, Entity.ACCOUNTS.value, Entity.OPPORTUNITIES.value)
OFFLOAD_BYTES = 64 * 1024  # larger bodies are mapped on a worker thread, off the event loop

Adapt = Callable[[bytes], webhooks.Payload | Awaitable[webhooks.Payload]]


class Refused(Exception):
    """A request answered with a 4xx/5xx and a reason; nothing of it was published."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit`, and with 408
    when it has not all arrived within `timeout_s` (a trickled body holds a connection)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refused(413, "too_large", f"body of {declared} bytes exceeds {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refused(413, "too_large", f"body exceeds {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, "timeout", f"body not received within {timeout_s:g} s "
                      "(TRENDMINE_INTAKE_READ_TIMEOUT_S)") from None
    return b"".join(chunks)


def public_url(request: Request, settings: Settings) -> str:
    """The URL the vendor called (what HubSpot and Gong sign), behind a proxy too."""
    if settings.intake_public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        return settings.intake_public_url.rstrip("/") + request.url.path + query
    return str(request.url)


def client_ip(request: Request) -> str | None:
    """The caller's address; behind a proxy, what the proxy forwarded when uvicorn trusts it
    (FORWARDED_ALLOW_IPS; uvicorn applies X-Forwarded-For before the app sees the request)."""
    return request.client.host if request.client else None


def _check_target(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise Refused(422, f"unknown_{what}", f"unknown {what} {value!r}; use one of: "
                      f"{', '.join(allowed)}")
    return value


@dataclass
class Intake:
    """What every request needs: settings, keys, the replay cache and the publisher."""

    settings: Settings
    log: logging.Logger
    gong_key: rsa.RSAPublicKey | None
    nonces: signatures.NonceCache
    publisher: GroupPublisher

    @property
    def tolerance(self) -> int:
        return self.settings.intake_replay_tolerance_s

    def adapter(self, adapt: Callable[..., webhooks.Payload], *args: str) -> Adapt:
        return partial(adapt, *args, max_events=self.settings.intake_max_events)

    async def accept(self, request: Request, target: str, verify: Callable[[bytes], None],
                     adapt: Adapt) -> webhooks.Payload:
        """Steps 2-5 of the module docstring; returns what was published."""
        t0 = time.perf_counter()
        s = self.settings
        body = await read_body(request, s.intake_max_body_bytes, s.intake_read_timeout_s)
        try:
            verify(body)
        except signatures.Unauthorized as exc:
            raise Refused(401, "unauthorized", str(exc)) from None
        except signatures.SaturatedNonces as exc:
            raise Refused(429, "busy", str(exc)) from None
        payload = await self._adapt(adapt, body)
        try:
            sent = await self.publisher.publish(target, payload.items, payload.format)
        except PublishFailed as exc:
            raise Refused(503, "not_acknowledged", str(exc)) from None
        payload.ack = {"accepted": sent.published, "dead_lettered": sent.dead_lettered,
                       "ignored": payload.ignored}
        logs.event(self.log, "accepted", path=request.url.path, status=202, target=target,
                   ms=logs.elapsed_ms(t0), client=client_ip(request), **payload.ack)
        return payload

    @staticmethod
    async def _adapt(adapt: Adapt, body: bytes) -> webhooks.Payload:
        try:
            if len(body) > OFFLOAD_BYTES:  # mapping a large body takes the event loop's time
                result = await asyncio.to_thread(adapt, body)
            else:
                result = adapt(body)
            return await result if isinstance(result, Awaitable) else result
        except webhooks.Malformed as exc:
            raise Refused(exc.status, "malformed" if exc.status == 400 else "too_many",
                          str(exc)) from None
        except canny.Unconfirmed as exc:
            raise Refused(exc.status, "unconfirmed", exc.reason) from None


def _intake(request: Request) -> Intake:
    return request.app.state.intake


# ---------------------------------------------------------------------------- routes


async def healthz(request: Request) -> JSONResponse:
    """200 when the broker is reachable and the producer can publish, else 503 with why."""
    intake = _intake(request)
    try:
        await asyncio.to_thread(check_reachable, intake.settings, 1.0)
        await intake.publisher.ensure(timeout_s=2.0)
    except TrendmineError as exc:
        return JSONResponse({"status": "unavailable", "reason": exc.message}, 503)
    except PublishFailed as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, 503)
    return JSONResponse({"status": "ok"})


async def feedback(request: Request) -> JSONResponse:
    """Canonical events (the contract): X-Trendmine-Timestamp + X-Trendmine-Signature."""
    intake, s = _intake(request), _intake(request).settings
    source = _check_target(request.path_params["source"], FEEDBACK_SOURCES, "source")
    payload = await intake.accept(
        request, source,
        lambda body: signatures.verify_canonical(request.headers, body, s.intake_secret,
                                                 intake.tolerance),
        intake.adapter(webhooks.canonical, source),
    )
    return JSONResponse(payload.ack, 202)


async def zendesk(request: Request) -> JSONResponse:
    intake, s = _intake(request), _intake(request).settings
    payload = await intake.accept(
        request, Source.SUPPORT_TICKETS,
        lambda body: signatures.verify_zendesk(request.headers, body, s.intake_zendesk_secret,
                                               intake.tolerance),
        intake.adapter(webhooks.zendesk),
    )
    return JSONResponse(payload.ack, 202)


async def intercom(request: Request) -> JSONResponse:
    intake, s = _intake(request), _intake(request).settings
    payload = await intake.accept(
        request, Source.SUPPORT_TICKETS,
        lambda body: signatures.verify_intercom(request.headers, body, s.intake_intercom_secret),
        intake.adapter(webhooks.intercom),
    )
    return JSONResponse(payload.ack, 202)


async def canny_webhook(request: Request) -> JSONResponse:
    """Canny signs only a nonce: the nonce is taken once and the post read back from Canny."""
    intake, s = _intake(request), _intake(request).settings

    async def confirmed(body: bytes) -> webhooks.Payload:
        post_id = webhooks.canny_post_id(body)
        if post_id is None:
            return webhooks.Payload([], ignored=1, format=webhooks.CANNY_FORMAT)
        return webhooks.canny([await canny.retrieve_post(s, post_id)])

    try:
        payload = await intake.accept(
            request, Source.IDEAS,
            lambda _body: signatures.verify_canny(request.headers, s.canny_api_key,
                                                  intake.tolerance, intake.nonces),
            confirmed,
        )
    except Refused as exc:
        if exc.status >= 500:  # Canny or the broker failed us: Canny's retry must pass
            intake.nonces.release(request.headers.get("canny-nonce", ""))
        raise
    return JSONResponse(payload.ack, 202)


async def gong(request: Request) -> JSONResponse:
    intake, s = _intake(request), _intake(request).settings
    payload = await intake.accept(
        request, Source.SALES_CALLS,
        lambda body: signatures.verify_gong(request.headers, body, intake.gong_key,
                                            url=public_url(request, s)),
        intake.adapter(webhooks.gong),
    )
    return JSONResponse(payload.ack, 202)


async def hubspot(request: Request) -> JSONResponse:
    """CRM v3 objects (notes, companies, deals), signature v3."""
    intake, s = _intake(request), _intake(request).settings
    target = _check_target(request.path_params["target"], CRM_TARGETS, "target")
    payload = await intake.accept(
        request, target,
        lambda body: signatures.verify_hubspot(
            request.headers, body, s.intake_hubspot_secret, intake.tolerance,
            method=request.method, url=public_url(request, s)),
        intake.adapter(webhooks.hubspot, target),
    )
    return JSONResponse(payload.ack, 202)


async def salesforce(request: Request) -> Response:
    """A Salesforce outbound message (SOAP) for Note, Account or Opportunity."""
    intake, s = _intake(request), _intake(request).settings
    target = _check_target(request.path_params["target"], CRM_TARGETS, "target")
    message: list[webhooks.OutboundMessage] = []

    def verify(body: bytes) -> None:
        signatures.verify_salesforce_token(request.query_params.get("token"),
                                           s.intake_salesforce_token)
        try:
            message.append(webhooks.parse_outbound(body))
        except webhooks.Malformed as exc:
            raise Refused(400, "malformed", str(exc)) from None
        signatures.verify_salesforce_org(message[0].organization_id,
                                         s.intake_salesforce_org_id)

    await intake.accept(request, target, verify,
                        lambda _body: webhooks.salesforce(
                            target, message[0], max_events=s.intake_max_events))
    return Response(webhooks.SOAP_ACK, 200, media_type="text/xml")


async def _tracker(request: Request, verify: Callable[[bytes], None],
                   parse: Callable[[bytes], trackers.TrackerEvent | None]) -> JSONResponse:
    """Jira / Linear: signature, then the issue's state onto the trackers topic (acks=all)."""
    intake = _intake(request)
    s = intake.settings
    body = await read_body(request, s.intake_max_body_bytes, s.intake_read_timeout_s)
    try:
        verify(body)
    except signatures.Unauthorized as exc:
        raise Refused(401, "unauthorized", str(exc)) from None
    try:
        event = parse(body)
    except webhooks.Malformed as exc:
        raise Refused(400, "malformed", str(exc)) from None
    if event is None:
        return JSONResponse({"accepted": 0, "ignored": 1}, 202)
    try:
        await request.app.state.trackers.publish(event)
    except PublishFailed as exc:
        raise Refused(503, "not_acknowledged", str(exc)) from None
    logs.event(intake.log, "accepted", path=request.url.path, status=202, target=event.tracker,
               key=event.key, state_kind=event.state_kind)
    return JSONResponse({"accepted": 1, "ignored": 0}, 202)


async def jira(request: Request) -> JSONResponse:
    s = _intake(request).settings
    return await _tracker(
        request, lambda body: signatures.verify_jira(request.headers, body,
                                                     s.jira_webhook_secret), trackers.jira)


async def linear(request: Request) -> JSONResponse:
    intake = _intake(request)
    return await _tracker(
        request, lambda body: signatures.verify_linear(
            request.headers, body, intake.settings.linear_webhook_secret, intake.tolerance),
        trackers.linear)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics of this receiver (every worker's with `--workers N`)."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/v1/feedback/{source}", feedback, methods=["POST"]),
    Route("/v1/webhooks/zendesk", zendesk, methods=["POST"]),
    Route("/v1/webhooks/intercom", intercom, methods=["POST"]),
    Route("/v1/webhooks/canny", canny_webhook, methods=["POST"]),
    Route("/v1/webhooks/gong", gong, methods=["POST"]),
    Route("/v1/webhooks/hubspot/{target}", hubspot, methods=["POST"]),
    Route("/v1/webhooks/salesforce/{target}", salesforce, methods=["POST"]),
    Route("/v1/webhooks/jira", jira, methods=["POST"]),
    Route("/v1/webhooks/linear", linear, methods=["POST"]),
]


# ---------------------------------------------------------------------------- the app


def _topics(settings: Settings) -> list[str]:
    """Every topic the receiver publishes to (their partitions are learned before traffic)."""
    names = [topic_for(t) for t in (*FEEDBACK_SOURCES, *CRM_TARGETS[1:])] + [DLQ_TOPIC]
    return [settings.topic(name) for name in dict.fromkeys(names)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    log = logs.configure(settings, logging.getLevelName(settings.log_level))
    intake = Intake(settings, log, signatures.load_public_key(
        settings.intake_gong_public_key_path), signatures.NonceCache(
        settings.intake_replay_tolerance_s), GroupPublisher(settings, _topics(settings)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await intake.publisher.ensure(timeout_s=60.0)
        logs.event(log, "intake ready", bootstrap=settings.bootstrap())
        yield
        await intake.publisher.close(10)
        await app.state.trackers.close()

    app = FastAPI(title="trendmine intake", version="1", lifespan=lifespan, routes=ROUTES,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(metrics.IntakeMetrics)
    app.state.intake = intake
    app.state.trackers = trackers.TrackerPublisher(settings)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        logs.event(log, "refused", path=request.url.path, status=exc.status, error=exc.error,
                   reason=exc.reason, client=client_ip(request))
        return JSONResponse({"error": exc.error, "reason": exc.reason}, exc.status)

    return app

"""`trendmine intake serve`: the webhook receiver (FastAPI on uvicorn).

Every POST goes through the same five steps, in this order, and publishes nothing unless
all pass:
1. the path names a known source / target (else 422),
2. the body is read within `intake_max_body_bytes` (Content-Length first, then the stream:
   413),
3. the vendor's signature over the raw body is checked (401),
4. the body is parsed and mapped by the connectors (400 when it is not the vendor's shape),
5. every record (and every dead letter) is acknowledged by the broker, acks=all (else 503),
and only then the answer is 202 (200 with the SOAP Ack for Salesforce).

The canonical endpoint `POST /v1/feedback/{source}` is a contract; see README "Connecting
your sources". OpenAPI: GET /openapi.json.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from foundation.config import Settings, get_settings
from foundation.errors import TrendmineError
from ingest.kafka import check_reachable
from ingest.producer import topic_for
from intake import logs, signatures, webhooks
from intake.publish import GroupPublisher, PublishFailed, confirmed_producer
from schemas.names import DLQ_TOPIC, Entity, Source

FEEDBACK_SOURCES = tuple(s.value for s in Source)
CRM_TARGETS = (Source.CRM_NOTES.value, Entity.ACCOUNTS.value, Entity.OPPORTUNITIES.value)


class Refused(Exception):
    """A request answered with a 4xx/5xx and a reason; nothing of it was published."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refused(413, "too_large", f"body of {declared} bytes exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def public_url(request: Request, settings: Settings) -> str:
    """The URL the vendor called (what HubSpot and Gong sign), behind a proxy too."""
    if settings.intake_public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        return settings.intake_public_url.rstrip("/") + request.url.path + query
    return str(request.url)


def _check_target(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise Refused(422, f"unknown_{what}", f"unknown {what} {value!r}; use one of: "
                      f"{', '.join(allowed)}")


_ERRORS = {
    401: {"description": "Unsigned, wrongly signed or stale (replayed) request."},
    400: {"description": "Body is not JSON, or not the shape this endpoint reads."},
    413: {"description": "Body over TRENDMINE_INTAKE_MAX_BODY_BYTES (default 1 MiB)."},
    422: {"description": "Unknown source/target, or an event whose source is another."},
    503: {"description": "The broker did not acknowledge every record; retry."},
}
_ACCEPTED = {"description": "Every record is acknowledged by the broker (acks=all).",
             "content": {"application/json": {"example":
                                              {"accepted": 2, "dead_lettered": 0, "ignored": 0}}}}


def _json_body(description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": {}}}}}


def _by_path_param(
    handler: Callable[[str, Request], Awaitable[Response]], name: str
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(request.path_params[name], request)

    return endpoint


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    log = logs.configure(settings)
    gong_key = signatures.load_public_key(settings.intake_gong_public_key_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prod = await asyncio.to_thread(confirmed_producer, settings)
        for topic in (*FEEDBACK_SOURCES, *CRM_TARGETS[1:]):  # learn partitions before traffic
            await asyncio.to_thread(prod.partitions_for, settings.topic(topic_for(topic)))
        await asyncio.to_thread(prod.partitions_for, settings.topic(DLQ_TOPIC))
        app.state.publisher = GroupPublisher(prod, settings)
        logs.event(log, "intake ready", bootstrap=settings.bootstrap())
        yield
        await asyncio.to_thread(prod.close, 10)

    app = FastAPI(
        title="trendmine intake",
        version="1",
        summary="Vendor webhooks and canonical events into trendmine's Kafka topics.",
        lifespan=lifespan,
    )

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        logs.event(log, "refused", path=request.url.path, status=exc.status, error=exc.error,
                   reason=exc.reason)
        return JSONResponse({"error": exc.error, "reason": exc.reason}, exc.status)

    async def accept(
        request: Request, target: str, verify: Callable[[bytes], None],
        adapt: Callable[[bytes], webhooks.Payload],
    ) -> webhooks.Payload:
        """Steps 2-5 of the module docstring; returns what was published."""
        t0 = time.perf_counter()
        body = await read_body(request, settings.intake_max_body_bytes)
        try:
            verify(body)
        except signatures.Unauthorized as exc:
            raise Refused(401, "unauthorized", str(exc)) from None
        try:
            payload = adapt(body)
        except webhooks.Malformed as exc:
            raise Refused(exc.status, "malformed", str(exc)) from None
        try:
            sent = await request.app.state.publisher.publish(target, payload.items,
                                                             payload.format)
        except PublishFailed as exc:
            raise Refused(503, "not_acknowledged", str(exc)) from None
        payload.ack = {"accepted": sent.published, "dead_lettered": sent.dead_lettered,
                       "ignored": payload.ignored}
        logs.event(log, "accepted", path=request.url.path, status=202, target=target,
                   ms=logs.elapsed_ms(t0), **payload.ack)
        return payload

    tolerance = settings.intake_replay_tolerance_s
    plain: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    @app.get("/healthz", summary="200 when the broker is reachable, else 503.")
    async def healthz() -> JSONResponse:
        try:
            await asyncio.to_thread(check_reachable, settings, 1.0)
        except TrendmineError as exc:
            return JSONResponse({"status": "unavailable", "reason": exc.message}, 503)
        return JSONResponse({"status": "ok"})

    @app.post(
        "/v1/feedback/{source}", status_code=202, responses={202: _ACCEPTED, **_ERRORS},
        summary="Canonical feedback events (the contract)",
        description="One canonical event or a JSON array of them. Headers: "
        "X-Trendmine-Timestamp (unix seconds) and X-Trendmine-Signature: sha256=<hex of "
        "HMAC-SHA256(secret, '<timestamp>.<raw body>')>. `source`: one of "
        f"{', '.join(FEEDBACK_SOURCES)}.",
        openapi_extra=_json_body("A canonical feedback event (schemas/jsonschema) or an array."),
    )
    async def feedback(source: str, request: Request) -> JSONResponse:
        _check_target(source, FEEDBACK_SOURCES, "source")
        payload = await accept(
            request, source,
            lambda body: signatures.verify_canonical(request.headers, body,
                                                     settings.intake_secret, tolerance),
            lambda body: webhooks.canonical(source, body),
        )
        return JSONResponse(payload.ack, 202)

    plain["/v1/feedback/{source}"] = _by_path_param(feedback, "source")

    def vendor_route(path: str, target: str, verify, adapt, summary: str) -> None:
        async def receive(request: Request) -> JSONResponse:
            payload = await accept(request, target, lambda b: verify(request, b), adapt)
            return JSONResponse(payload.ack, 202)

        app.post(path, status_code=202, responses={202: _ACCEPTED, **_ERRORS}, summary=summary,
                 openapi_extra=_json_body("The vendor's webhook payload, unchanged."),
                 name=path.rsplit("/", 1)[-1])(receive)
        plain[path] = receive

    vendor_route(
        "/v1/webhooks/zendesk", Source.SUPPORT_TICKETS,
        lambda r, b: signatures.verify_zendesk(r.headers, b, settings.intake_zendesk_secret,
                                               tolerance),
        webhooks.zendesk, "Zendesk webhook (ticket events or trigger JSON)",
    )
    vendor_route(
        "/v1/webhooks/intercom", Source.SUPPORT_TICKETS,
        lambda r, b: signatures.verify_intercom(r.headers, b, settings.intake_intercom_secret),
        webhooks.intercom, "Intercom webhook (conversation topics)",
    )
    vendor_route(
        "/v1/webhooks/canny", Source.IDEAS,
        lambda r, b: signatures.verify_canny(r.headers, settings.canny_api_key, tolerance),
        webhooks.canny, "Canny webhook (post and vote events)",
    )
    vendor_route(
        "/v1/webhooks/gong", Source.SALES_CALLS,
        lambda r, b: signatures.verify_gong(r.headers, b, gong_key, url=public_url(r, settings)),
        webhooks.gong, "Gong automation-rule webhook (signed JWT header)",
    )

    @app.post("/v1/webhooks/hubspot/{target}", status_code=202,
              responses={202: _ACCEPTED, **_ERRORS},
              summary="HubSpot CRM objects (notes, companies, deals), signature v3",
              openapi_extra=_json_body("CRM v3 object(s) with properties."))
    async def hubspot(target: str, request: Request) -> JSONResponse:
        _check_target(target, CRM_TARGETS, "target")
        payload = await accept(
            request, target,
            lambda body: signatures.verify_hubspot(
                request.headers, body, settings.intake_hubspot_secret, tolerance,
                method=request.method, url=public_url(request, settings)),
            lambda body: webhooks.hubspot(target, body),
        )
        return JSONResponse(payload.ack, 202)

    plain["/v1/webhooks/hubspot/{target}"] = _by_path_param(hubspot, "target")

    @app.post("/v1/webhooks/salesforce/{target}", responses={**_ERRORS},
              summary="Salesforce outbound message (SOAP) for Note, Account or Opportunity",
              openapi_extra={"requestBody": {"required": True, "content": {"text/xml": {}}}})
    async def salesforce(target: str, request: Request) -> Response:
        _check_target(target, CRM_TARGETS, "target")
        message: list[webhooks.OutboundMessage] = []

        def verify(body: bytes) -> None:
            signatures.verify_salesforce_token(
                request.query_params.get("token"), settings.intake_salesforce_token)
            try:
                message.append(webhooks.parse_outbound(body))
            except webhooks.Malformed as exc:
                raise Refused(400, "malformed", str(exc)) from None
            signatures.verify_salesforce_org(message[0].organization_id,
                                             settings.intake_salesforce_org_id)

        await accept(request, target, verify,
                     lambda _body: webhooks.salesforce(target, message[0]))
        return Response(webhooks.SOAP_ACK, 200, media_type="text/xml")

    plain["/v1/webhooks/salesforce/{target}"] = _by_path_param(salesforce, "target")
    # The POST handlers above are FastAPI routes, so /openapi.json documents them; requests
    # reach the same functions through plain Starlette routes matched first, which skip
    # FastAPI's per-request dependency solving (a fifth of the CPU of a request).
    app.router.routes[0:0] = [Route(path, endpoint, methods=["POST"], include_in_schema=False)
                              for path, endpoint in plain.items()]
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 1) -> None:
    """Run the receiver until Ctrl-C (each worker process builds its own app and producer)."""
    import uvicorn

    check_reachable(settings)  # fail in one line, before uvicorn starts
    uvicorn.run("intake.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_config=None, server_header=False, lifespan="on")

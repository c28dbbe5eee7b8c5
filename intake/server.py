"""How `trendmine intake serve` runs the app: uvicorn with limits on slow and large requests.

uvicorn bounds the time between requests on a keep-alive connection (`timeout_keep_alive`)
and, with h11, the size of an incomplete request head; it does not bound how long a
request's headers may take, so a client sending one header byte a second holds its
connection (and a slot of `limit_concurrency`) for as long as it likes. `DeadlineProtocol`
(uvicorn's httptools protocol) closes a connection whose request line and headers have not
all arrived within `TRENDMINE_INTAKE_READ_TIMEOUT_S`, and answers 400 to a request head over
MAX_HEAD_BYTES. The body has the same deadline, checked by the app (`app.read_body`: 408).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from foundation.config import Settings
from foundation.errors import TrendmineError
from ingest import metrics
from ingest.kafka import check_reachable

MAX_HEAD_BYTES = 16 * 1024  # request line + headers (h11's default bound, for httptools too)
KEEP_ALIVE_S = 5


class HeadTooLarge(Exception):
    """A request head over MAX_HEAD_BYTES, however it arrived."""


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size bound on each request head."""

    def __init__(self, *args: Any, read_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout_s = read_timeout_s
        self._in_head = False  # between a message's first byte and the end of its headers
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._read_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete after this chunk is buffered by the parser: bound it
        # here too (on_headers_complete sees only heads that completed).
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._in_head = False
                self._disarm()
                self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        if len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) > MAX_HEAD_BYTES:
            raise HeadTooLarge  # httptools reports it as a parser error: uvicorn answers 400
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # not a pipelined request
        if idle and not self.transport.is_closing():  # the next head has the same deadline
            self._arm()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for `intake serve` (the tests serve the app with them too)."""
    return {
        "http": functools.partial(DeadlineProtocol,
                                  read_timeout_s=settings.intake_read_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "limit_concurrency": settings.intake_max_connections,
        "access_log": False, "log_config": None, "server_header": False, "lifespan": "on",
    }


def on_memory_broker(settings: Settings, allow: bool) -> bool:
    """True when the broker is the embedded one keeping its log in memory (allowed only
    with `allow`: what it acknowledged is gone after a restart, so a 2xx from the receiver
    would promise nothing)."""
    memory = settings.kafka_bootstrap is None and settings.broker_storage.startswith("memory://")
    if memory and not allow:
        raise TrendmineError(
            "intake serve refuses the embedded broker's in-memory storage: records it "
            "acknowledged are lost when it stops",
            "set TRENDMINE_KAFKA_BOOTSTRAP (your Kafka) or TRENDMINE_BROKER_STORAGE=s3://..., "
            "or pass --allow-memory-broker for a local trial",
        )
    return memory


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          allow_memory_broker: bool = False) -> None:
    """Run the receiver until Ctrl-C (each worker process builds its own app and producer)."""
    on_memory_broker(settings, allow_memory_broker)
    check_reachable(settings)  # fail in one line, before uvicorn starts
    if workers > 1:  # /metrics answers from one worker: it serves what all of them wrote
        metrics.start_multiprocess(settings, "intake-metrics", force=True)
    uvicorn.run("intake.app:create_app", factory=True, host=host, port=port, workers=workers,
                **server_options(settings))

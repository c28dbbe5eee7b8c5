"""Prometheus metrics (prometheus_client): every metric name has its home here.

`ingest` and `serve` serve them on TRENDMINE_METRICS_PORT; `intake serve` on its own port's
/metrics. `serve` runs each flow in a subprocess: it points them at a multiprocess directory
(PROMETHEUS_MULTIPROC_DIR, set before they start) and serves what they all wrote. The time of
each flow's last success is read from trendmine.pipeline_runs at scrape time, so it survives
restarts and covers every process that records runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from foundation.config import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SCRAPE_DB_TIMEOUT_S = 3

RECORDS_CONSUMED = Counter(
    "trendmine_records_consumed", "Records read from the ingest topics and settled."
)
RECORDS_STORED = Counter(
    "trendmine_records_stored", "Records stored in Postgres (a re-read duplicate included)."
)
RECORDS_REJECTED = Counter(
    "trendmine_records_rejected", "Records rejected to the dead-letter topic and ledger.", ["code"]
)
CONSUMER_LAG = Gauge(
    "trendmine_consumer_lag",
    "Records on a partition not yet consumed by this worker; a partition with no committed "
    "offset counts from its start.",
    ["topic", "partition"],
    multiprocess_mode="mostrecent",
)
INTAKE_REQUESTS = Counter(
    "trendmine_intake_requests", "Requests answered by `intake serve`.",
    ["route", "method", "status"],
)
INTAKE_LATENCY = Histogram(
    "trendmine_intake_request_duration_seconds", "Time to answer an intake request.",
    ["route", "method"],
)
LAST_SUCCESS = "trendmine_last_success_timestamp_seconds"
_SERVED: list[int] = []  # ports served by this process


def count_batch(consumed: int, stored: int, rejected_by_code: dict[str, int]) -> None:
    RECORDS_CONSUMED.inc(consumed)
    RECORDS_STORED.inc(stored)
    for code, n in rejected_by_code.items():
        RECORDS_REJECTED.labels(code=code).inc(n)


def set_lag(lag: dict[tuple[str, int], int]) -> None:
    for (topic, partition), n in lag.items():
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(n)


class LastSuccessCollector:
    """trendmine_last_success_timestamp_seconds{flow}: the end of each flow's newest
    completed run in trendmine.pipeline_runs (nothing, and a warning, when Postgres does
    not answer within SCRAPE_DB_TIMEOUT_S)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            LAST_SUCCESS, "Unix time of the end of the flow's last completed run.",
            labels=["flow"],
        )
        try:
            with psycopg.connect(
                self.settings.dsn(), connect_timeout=SCRAPE_DB_TIMEOUT_S,
                options=f"-c statement_timeout={SCRAPE_DB_TIMEOUT_S * 1000}", autocommit=True,
            ) as conn:
                rows = conn.execute(
                    "SELECT flow, extract(epoch FROM max(ended_at))::float8 "
                    "FROM trendmine.pipeline_runs WHERE status = 'completed' GROUP BY flow"
                ).fetchall()
        except psycopg.Error as exc:
            log.warning("metrics: last success times not read from Postgres (%s)",
                        type(exc).__name__)
            rows = []
        for flow, ts in rows:
            family.add_metric([flow], ts)
        yield family

    def describe(self):  # type: ignore[no-untyped-def]
        return []  # collect() needs the database: not at registration


def serve(settings: Settings, *, port: int | None = None) -> bool:
    """Serve /metrics on TRENDMINE_METRICS_PORT (or `port`), in a daemon thread; False when
    off. With PROMETHEUS_MULTIPROC_DIR set (by `start_multiprocess`), what every process
    wrote there is served."""
    port = port or settings.metrics_port
    if not port:
        return False
    registry = _registry()
    if registry is not REGISTRY or not _SERVED:  # once per process in the default one
        registry.register(LastSuccessCollector(settings))
        _SERVED.append(port)
    try:
        start_http_server(port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        from foundation.errors import TrendmineError

        raise TrendmineError(
            f"cannot serve metrics on {settings.metrics_host}:{port} ({exc.strerror})",
            "pick a free TRENDMINE_METRICS_PORT, or unset it",
        ) from exc
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, port)
    return True


def start_multiprocess(settings: Settings, name: str = "metrics",
                       force: bool = False) -> Path | None:
    """A fresh directory where the processes started from now on (`serve`'s flow runs,
    `intake serve --workers N`) write their metrics; None when metrics are off."""
    if not (settings.metrics_port or force):
        return None
    path = Path(settings.data_dir).expanduser() / name
    shutil.rmtree(path, ignore_errors=True)  # what a previous run left: counters restart
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _registry() -> CollectorRegistry:
    """The default registry, or (PROMETHEUS_MULTIPROC_DIR set) what every process wrote."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> tuple[bytes, str]:
    """The text format of this process's metrics, and its content type (intake's /metrics)."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


class IntakeMetrics:
    """ASGI middleware: counts and times every HTTP request by route template (never the
    raw path: a scanner's random URLs must not make new series), method and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        route = _route_template(scope)
        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope.get("method", "")
            INTAKE_REQUESTS.labels(route=route, method=method, status=str(status[0])).inc()
            INTAKE_LATENCY.labels(route=route, method=method).observe(time.perf_counter() - t0)


def _route_template(scope: dict) -> str:
    """The path template of the route that will answer (e.g. /v1/feedback/{source})."""
    from starlette.routing import Match

    for route in getattr(scope.get("app"), "routes", ()):
        if route.matches(scope)[0] is Match.FULL:
            return getattr(route, "path", "unmatched")
    return "unmatched"

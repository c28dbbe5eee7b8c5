"""Structured logs: one JSON object per line on stderr, never a secret.

Request logs carry the endpoint, status, record counts and the refusal reason; reasons are
written by trendmine (signatures.py never quotes a secret or an expected signature), and
every line passes through `foundation.secrets.scrub` with the secrets in force as a last
guard.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from foundation.config import Settings
from foundation.secrets import scrub

LOGGER = "trendmine.intake"


class JsonLines(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return scrub(json.dumps(line, default=str), self._secrets)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (a test's capture, a redirect)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(settings: Settings, level: int = logging.INFO) -> logging.Logger:
    """JSON lines on stderr for trendmine.intake and uvicorn's own loggers. No access log:
    trendmine.intake writes one line per request with what matters (status, counts)."""
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
    handler = _Stderr()
    handler.setFormatter(JsonLines(settings.secret_values()))
    for name in (LOGGER, "uvicorn", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
    return logging.getLogger(LOGGER)


def event(log: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    if log.isEnabledFor(level):
        log.log(level, msg, extra={"fields": fields})


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)

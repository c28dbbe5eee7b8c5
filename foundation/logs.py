"""Logging for every trendmine process: one stderr handler, text or JSON lines, a level from
TRENDMINE_LOG_LEVEL, and every known secret scrubbed from what is written."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

from foundation.secrets import scrub

# Libraries that narrate every connection at INFO: their warnings and errors reach the log
# (a broker that refuses TLS or SASL says so here), their chatter only at DEBUG.
CHATTY_LIBRARIES = (
    "kafka", "urllib3", "httpx", "httpcore", "asyncio", "aiosqlite", "sentence_transformers",
    "transformers", "huggingface_hub", "filelock", "numba", "botocore", "werkzeug",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
REPEAT_WINDOW_S = 60.0
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class _Scrub(logging.Filter):
    """Replaces every known secret value in a record's message (and exception text)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = scrub(record.getMessage(), self.secrets)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, self.secrets)
        return True


class _Repeats(logging.Filter):
    """kafka-python retries a refused connection with backoff and logs each try: one line per
    distinct message (digits ignored: ports, backoffs) per REPEAT_WINDOW_S is enough."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        if now - self.seen.get(key, -REPEAT_WINDOW_S) < REPEAT_WINDOW_S:
            return False
        self.seen[key] = now
        return True


class _Handler(logging.StreamHandler):
    """Ours, so configuring twice replaces it instead of doubling every line; it writes to
    whatever sys.stderr is at the time (a test runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
        pass


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Set the root logger's level and its one stderr handler (text or JSON lines)."""
    handler = _Handler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=_RENAMED))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_Repeats())
    handler.addFilter(_Scrub(secrets))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    levelno = logging.getLevelName(level.upper())
    root.setLevel(levelno)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(levelno, logging.WARNING)
                                         if levelno > logging.DEBUG else levelno)

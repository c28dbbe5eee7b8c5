"""Prefect's environment for trendmine, the settings flows run with, and a progress hook
for the CLI.

Nothing here imports Prefect: Prefect reads its settings and logging configuration when it
is first imported, so `configure_prefect` must run before anything imports `prefect`.

Flows take no settings and no paths as parameters: a deployment's parameters come from
whoever may call the Prefect API, and a caller-chosen Kafka bootstrap, security protocol or
report path would be served with the worker's own credentials and file rights. A flow reads
`flow_settings()`: the TRENDMINE_* environment of the process running it, or what the CLI or
a test running flows in its own process set with `running_with`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from foundation.config import Settings, get_settings, numba_cache_dir
from foundation.secrets import private_dir

# (stage, done, total or None when unknown)
Reporter = Callable[[str, int, int | None], None]
_reporter: Reporter | None = None
REPORT_NAME = "trendmine-report.html"
_settings: Settings | None = None
_report_path: Path | None = None


@contextmanager
def running_with(settings: Settings, report_path: Path | None = None) -> Iterator[None]:
    """Flows started in this process while inside run against `settings` and write the
    report to `report_path` (default: `default_report_path`)."""
    global _settings, _report_path
    previous = _settings, _report_path
    _settings, _report_path = settings, report_path
    try:
        yield
    finally:
        _settings, _report_path = previous


def flow_settings() -> Settings:
    """The settings a flow runs with: `running_with`'s, else this process's environment."""
    return _settings if _settings is not None else get_settings()


def report_path(settings: Settings) -> Path:
    """Where the pipeline writes its report: `running_with`'s, else the data dir's."""
    return _report_path if _report_path is not None else default_report_path(settings)


def default_report_path(settings: Settings) -> Path:
    return settings.data_dir / REPORT_NAME


def configure_prefect(settings: Settings, *, console_level: str | None = None) -> Path | None:
    """Offline defaults for Prefect, set in the environment; returns PREFECT_HOME if set here.

    - Without a Prefect API configured (PREFECT_API_URL), flows run against Prefect's local
      ephemeral API, whose SQLite database lives in PREFECT_HOME: put it under the trendmine
      data dir instead of ~/.prefect, so the embedded stack keeps everything in one place.
    - Analytics off (no network here, and none wanted).
    - `console_level` quiets Prefect's console handler only; run logs still reach the API.
    Variables the user already set win.
    """
    if "prefect" in sys.modules:  # too late to change Prefect's settings in this process
        return None
    home = None
    if not os.environ.get("PREFECT_API_URL") and not os.environ.get("PREFECT_HOME"):
        home = private_dir(private_dir(settings.data_dir) / "prefect")
        os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # the ephemeral API starts in 10-25 s on a busy 2-core machine; Prefect's default is 20 s
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if console_level:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", console_level)
    return home


@contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send task progress to `reporter` (the CLI's progress display) while inside."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous


def report(stage: str, done: int, total: int | None = None) -> None:
    """Progress from a task; a no-op unless a CLI is listening (e.g. under `serve`)."""
    if _reporter is not None:
        _reporter(stage, done, total)

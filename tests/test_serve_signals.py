"""`trendmine serve` stopped mid-run, by a terminal Ctrl-C (SIGINT to its process group) and by
SIGTERM (kill, systemd, Kubernetes): the run in progress ends marked in Prefect and in
pipeline_runs, and after a restart the next scheduled ingest runs and stores what was produced
meanwhile. A real `serve` subprocess against a real Prefect server, broker and Postgres.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import pytest
from psycopg.rows import class_row

from foundation.config import Settings
from infra.embedded import free_port

from .conftest import REPO
from .test_ingest import event, put

T = TypeVar("T")
INTERVAL_S = 5  # ingest every 5 s
IDLE_S = 10  # each ingest run lingers this long with nothing new: the window to stop it in


@dataclass(frozen=True)
class RunRow:
    run_id: int
    status: str
    prefect_flow_run_id: str | None
    error: str | None


def _wait(probe: Callable[[], T | None], timeout: float, what: str,
          proc: subprocess.Popen | None = None, log: Path | None = None) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"no {what} within {timeout:.0f} s\n{tail}")


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[str]:
    """One Prefect server (scheduler included) for both signals: its start is paid once."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                        "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start",
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        _wait(lambda: _healthy(api), 180, "Prefect server", proc, log)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(api: str) -> bool | None:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200 or None
    except httpx.HTTPError:
        return None


def _flow_state(api: str, flow_run_id: str) -> str:
    return httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()["state"]["type"]


def _ingest_runs(settings: Settings) -> list[RunRow]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn, \
            conn.cursor(row_factory=class_row(RunRow)) as cur:
        return cur.execute(
            "SELECT run_id, status, prefect_flow_run_id::text AS prefect_flow_run_id, error "
            "FROM trendmine.pipeline_runs WHERE flow = 'ingest' ORDER BY run_id").fetchall()


def _stored(settings: Settings) -> int:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]


def _serve(settings: Settings, api: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRENDMINE_", "PREFECT_"))}
    env.update(
        TRENDMINE_DATABASE_URL=settings.dsn(), TRENDMINE_KAFKA_BOOTSTRAP=settings.bootstrap(),
        TRENDMINE_TOPIC_PREFIX=settings.topic_prefix, TRENDMINE_DATA_DIR=str(settings.data_dir),
        TRENDMINE_INGEST_INTERVAL_S=str(INTERVAL_S), TRENDMINE_IDLE_SECONDS=str(IDLE_S),
        TRENDMINE_INGEST_PROCESSES="0",
        TRENDMINE_MINE_CRON="0 0 1 1 *",  # never during the test
        PREFECT_API_URL=api, PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_HOME=str(settings.data_dir / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO),
    )
    (settings.data_dir / "prefect").mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # its own process group, as a shell gives a foreground job
        return subprocess.Popen([sys.executable, "-m", "trendmine", "serve"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stopped_mid_run_marks_the_run_and_the_next_ingest_runs(
        sig, settings, prefect_server, tmp_path):
    api = prefect_server
    put(settings, "support_tickets", [event(i) for i in range(50)])
    log = tmp_path / "serve-1.log"
    serve = _serve(settings, api, log)
    try:
        running = _wait(lambda: next((r for r in _ingest_runs(settings)
                                      if r.status == "running"), None),
                        120, "ingest run in pipeline_runs", serve, log)
        assert running.prefect_flow_run_id
        assert _flow_state(api, running.prefect_flow_run_id) == "RUNNING"
        time.sleep(3)  # into the consume loop (group join, then IDLE_S waiting for more)
        if sig == signal.SIGINT:  # a terminal's Ctrl-C reaches the whole foreground group
            os.killpg(serve.pid, signal.SIGINT)
        else:
            serve.send_signal(signal.SIGTERM)
        assert serve.wait(90) == 0, log.read_text()[-3000:]
    finally:
        _stop(serve)
    # the interrupted run ends marked, in pipeline_runs and in Prefect
    row = next(r for r in _ingest_runs(settings) if r.run_id == running.run_id)
    assert row.status == "cancelled" and "stopped by SIG" in row.error, row
    assert _flow_state(api, running.prefect_flow_run_id) in {"CANCELLED", "CRASHED", "FAILED"}
    assert not [r for r in _ingest_runs(settings) if r.status == "running"]

    # restarted, the next scheduled ingest runs and stores what was produced meanwhile
    put(settings, "support_tickets", [event(i) for i in range(1000, 1030)])
    log2 = tmp_path / "serve-2.log"
    serve = _serve(settings, api, log2)
    try:
        done = _wait(lambda: next((r for r in _ingest_runs(settings) if r.run_id > row.run_id
                                   and r.status == "completed" and _stored(settings) == 80),
                                  None),
                     150, "completed ingest run after the restart", serve, log2)
        # pipeline_runs is marked inside the flow; Prefect sets COMPLETED once the flow returns
        _wait(lambda: _flow_state(api, done.prefect_flow_run_id) == "COMPLETED" or None,
              30, "COMPLETED state in Prefect", serve, log2)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(90) == 0, log2.read_text()[-3000:]
    finally:
        _stop(serve)
    assert _stored(settings) == 80

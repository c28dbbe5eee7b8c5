"""`trendmine serve` on its own local Prefect server, stopped every way an operator or a machine
stops it: a second serve is refused while the first one's run goes on; SIGKILL of serve alone
(the run stops itself, recorded `failed` with the reason, and the server goes with serve);
SIGKILL of serve's whole process group (the row is closed at the next start, which finds the
port free); a terminal Ctrl-C and SIGTERM (`cancelled`). After each, the next serve's
scheduled ingest runs and stores what was produced meanwhile. Real processes, Prefect
server, broker, Postgres.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.deployments import SERVER_PID_NAME, stop_orphaned_server
from flows.stopping import signals_held
from foundation.config import Settings
from infra.embedded import free_port

from .conftest import REPO
from .test_ingest import event, put
from .test_serve_signals import INTERVAL_S, RunRow, _ingest_runs, _stop, _stored, _wait


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen:
    """`trendmine serve` with no PREFECT_API_URL: it starts its own server on `port`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRENDMINE_", "PREFECT_"))}
    env.update(
        TRENDMINE_DATABASE_URL=settings.dsn(), TRENDMINE_KAFKA_BOOTSTRAP=settings.bootstrap(),
        TRENDMINE_TOPIC_PREFIX=settings.topic_prefix, TRENDMINE_DATA_DIR=str(settings.data_dir),
        TRENDMINE_INGEST_INTERVAL_S=str(INTERVAL_S), TRENDMINE_IDLE_SECONDS="8",
        TRENDMINE_INGEST_PROCESSES="0", TRENDMINE_PREFECT_PORT=str(port),
        TRENDMINE_MINE_CRON="0 0 1 1 *",  # never during the test
        PREFECT_RUNNER_POLL_FREQUENCY="2", PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO),
    )
    with log.open("ab") as out:  # its own process group, as a shell gives a foreground job
        return subprocess.Popen([sys.executable, "-m", "trendmine", "serve"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _running_after(settings: Settings, run_id: int, proc, log) -> RunRow:
    return _wait(lambda: next((r for r in _ingest_runs(settings)
                               if r.run_id > run_id and r.status == "running"), None),
                 240, "running ingest run", proc, log)


def _row(settings: Settings, run_id: int) -> RunRow:
    return next(r for r in _ingest_runs(settings) if r.run_id == run_id)


def _server_pid(settings: Settings) -> int:
    return int((settings.data_dir / "prefect" / SERVER_PID_NAME).read_text())


def test_serve_killed_every_way_leaves_honest_rows_and_serves_again(settings, tmp_path):
    port = free_port()
    put(settings, "support_tickets", [event(i) for i in range(40)])
    log = tmp_path / "serve-a.log"
    first = _serve(settings, port, log)
    try:
        run = _running_after(settings, 0, first, log)
        # a second serve of this data dir is refused with one line, and crashes nothing
        second = subprocess.run([sys.executable, "-m", "trendmine", "serve"], cwd=REPO,
                                env={**os.environ, "TRENDMINE_DATA_DIR": str(settings.data_dir),
                                     "TRENDMINE_PREFECT_PORT": str(port)},
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "another `trendmine serve` (pid" in second.stdout + second.stderr
        done = _wait(lambda: ((r := _row(settings, run.run_id)).status != "running" and r) or None,
                     120, "the first serve's run to end", first, log)
        assert done.status == "completed", done

        # SIGKILL of serve alone: its run stops itself, and its local server goes too
        put(settings, "support_tickets", [event(i) for i in range(100, 110)])
        run = _running_after(settings, done.run_id, first, log)
        server = _server_pid(settings)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        killed = _wait(lambda: ((r := _row(settings, run.run_id)).status != "running" and r)
                       or None, 60, "the orphaned run to stop itself", None, log)
        assert killed.status == "failed" and "died without stopping" in killed.error, killed
        _wait(lambda: not _alive(server) or None, 60, "the server to follow serve")
    finally:
        _stop(first)

    # SIGKILL of serve's whole process group: the run dies unrecorded...
    log = tmp_path / "serve-b.log"
    third = _serve(settings, port, log)
    try:
        put(settings, "support_tickets", [event(i) for i in range(200, 210)])
        lost = _running_after(settings, killed.run_id, third, log)
        os.killpg(third.pid, signal.SIGKILL)
        third.wait(10)
    finally:
        _stop(third)
    assert _row(settings, lost.run_id).status == "running"

    # ...and the next start closes its row, serves, and stores everything produced
    log = tmp_path / "serve-c.log"
    fourth = _serve(settings, port, log)
    try:
        closed = _wait(lambda: ((r := _row(settings, lost.run_id)).status != "running" and r)
                       or None, 240, "the lost run's row to be closed", fourth, log)
        assert closed.status == "failed" and "runner died" in closed.error, closed
        put(settings, "support_tickets", [event(i) for i in range(300, 310)])
        _wait(lambda: _stored(settings) == 70 or None, 240, "everything stored", fourth, log)
        # a terminal's Ctrl-C mid-run: `cancelled`, serve exits 0 and stops its server
        run = _running_after(settings, closed.run_id, fourth, log)
        server = _server_pid(settings)
        os.killpg(fourth.pid, signal.SIGINT)
        assert fourth.wait(90) == 0, log.read_text()[-3000:]
    finally:
        _stop(fourth)
    stopped = _row(settings, run.run_id)
    # the group's SIGINT or the runner's SIGTERM, whichever lands first
    assert stopped.status == "cancelled" and "stopped by SIG" in stopped.error, stopped
    assert not _alive(server)
    assert not (settings.data_dir / "prefect" / SERVER_PID_NAME).exists()

    # SIGTERM (systemd, Kubernetes) after the next scheduled run completes: `cancelled` too
    log = tmp_path / "serve-d.log"
    fifth = _serve(settings, port, log)
    try:
        put(settings, "support_tickets", [event(i) for i in range(400, 410)])
        _wait(lambda: next((r for r in _ingest_runs(settings) if r.run_id > stopped.run_id
                            and r.status == "completed" and _stored(settings) == 80), None),
              240, "a completed ingest run after the Ctrl-C", fifth, log)
        run = _running_after(settings, max(r.run_id for r in _ingest_runs(settings)), fifth,
                             log)
        fifth.send_signal(signal.SIGTERM)
        assert fifth.wait(90) == 0, log.read_text()[-3000:]
    finally:
        _stop(fifth)
    stopped = _row(settings, run.run_id)
    assert stopped.status == "cancelled" and "stopped by SIGTERM" in stopped.error, stopped
    assert not [r for r in _ingest_runs(settings) if r.status == "running"]


def test_a_server_left_by_a_killed_serve_is_stopped(tmp_path):
    # stands in for `prefect server start`: the same words on its command line
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                             "prefect", "server", "start"], start_new_session=True)
    _wait(lambda: b"prefect" in Path(f"/proc/{proc.pid}/cmdline").read_bytes() or None, 10,
          "the stand-in to start")
    pid_file = tmp_path / SERVER_PID_NAME
    pid_file.write_text(str(proc.pid))
    assert stop_orphaned_server(pid_file) == proc.pid
    assert proc.wait(10) == -signal.SIGTERM
    assert not pid_file.exists()
    pid_file.write_text(str(os.getpid()))  # a pid that is not a Prefect server: left alone
    assert stop_orphaned_server(pid_file) is None


def test_signals_are_held_while_the_end_of_a_run_is_written():
    before = signal.getsignal(signal.SIGINT)
    with signals_held():
        os.kill(os.getpid(), signal.SIGTERM)  # default action would end this process
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt here
        time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is before  # restored, whatever it was


def test_refused_second_serve_leaves_the_lock(tmp_path):
    from flows.deployments import ServeLock
    from foundation.errors import TrendmineError

    held = ServeLock(tmp_path).acquire()
    with pytest.raises(TrendmineError, match=f"pid {os.getpid()}"):
        ServeLock(tmp_path).acquire()
    held.release()
    again = ServeLock(tmp_path).acquire()
    assert again.previous_stopped_at() is not None and not again.previous_died()
    again.release()


def test_rows_of_runs_prefect_ended_are_closed_and_other_pollers_refused(prefect_api, settings,
                                                                          db, tmp_path):
    """A run that Prefect marked Cancelled while its row stayed `running` (a stop landing
    while the row was written) is closed `cancelled` at the next start; a row of a run this
    Prefect server does not know is left alone. A deployment polled moments ago by a runner
    that is not this data dir's last serve means another serve is live: refused."""
    import uuid

    from prefect import get_client
    from prefect.states import Cancelled
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.deployments import (
        INGEST,
        ServeLock,
        build_deployments,
        ended_runs,
        refuse_if_served,
    )
    from foundation.errors import TrendmineError
    from warehouse import runs

    ingest_dep = next(d for d in build_deployments(Settings())
                      if d.name == INGEST.split("/")[1])

    async def cancelled_run() -> str:
        dep_id = await ingest_dep.apply()
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(dep_id)
            await client.set_flow_run_state(run.id, Cancelled(message="serve stopped"),
                                            force=True)
            await client.get_scheduled_flow_runs_for_deployments([dep_id])  # a poll
        return str(run.id)

    flow_run_id = run_coro_as_sync(cancelled_run())
    row = runs.start_run(settings, "ingest", prefect_flow_run_id=flow_run_id)
    elsewhere = runs.start_run(settings, "ingest", prefect_flow_run_id=str(uuid.uuid4()))
    ends = run_coro_as_sync(ended_runs(runs.running_flow_run_ids(settings)))
    assert runs.close_running(settings, ends) == 1
    closed = dict(db.execute("SELECT run_id, status || ': ' || coalesce(error, '') "
                             "FROM trendmine.pipeline_runs").fetchall())
    assert closed[row].startswith("cancelled: Cancelled in Prefect (serve stopped)")
    assert closed[elsewhere] == "running: "

    lock = ServeLock(tmp_path).acquire()  # this data dir never served: the poll is another's
    with pytest.raises(TrendmineError, match="another `trendmine serve` polls ingest"):
        run_coro_as_sync(refuse_if_served([INGEST], lock))
    lock.release()
    lock = ServeLock(tmp_path).acquire()  # its own last serve stopped after that poll: fine
    run_coro_as_sync(refuse_if_served([INGEST], lock))
    lock.release()


STOPPED_FLOW = """
import signal, sys
from prefect import flow
from prefect.exceptions import TerminationSignal
from flows.pipeline import recorded
from flows.runtime import flow_settings

@flow(name="stopped-by-signal")
def stopped():
    with recorded(flow_settings(), "ingest") as run:
        run.stage = "consume"
        raise TerminationSignal(signal=signal.SIGTERM)

@flow(name="broken")
def broken():
    with recorded(flow_settings(), "mine"):
        raise ValueError("no themes today")

{call}()
"""


def test_a_termination_signal_is_recorded_cancelled_and_an_error_failed(prefect_api, settings,
                                                                         db, tmp_path):
    """Prefect's TerminationSignal is a BaseException: the row is still written, `cancelled`
    with the signal's name; an error in the body is `failed` with the error. In a process of
    their own: on a TerminationSignal Prefect's engine re-sends the signal to its process."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRENDMINE_", "PREFECT_"))}
    env.update(TRENDMINE_DATABASE_URL=settings.dsn(), TRENDMINE_DATA_DIR=str(settings.data_dir),
               PREFECT_API_URL=PREFECT_API_URL.value(), PYTHONPATH=str(REPO))
    for call in ("stopped", "broken"):
        script = tmp_path / f"{call}.py"
        script.write_text(STOPPED_FLOW.replace("{call}", call))
        out = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode != 0, out.stderr[-2000:]
    rows = dict(db.execute("SELECT flow, status || ': ' || error FROM trendmine.pipeline_runs"
                           ).fetchall())
    assert rows["ingest"].startswith("cancelled: consume: stopped by SIGTERM"), rows
    assert rows["mine"] == "failed: ValueError: no themes today", rows

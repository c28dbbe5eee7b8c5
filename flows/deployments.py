"""Scheduled deployments, served by `trendmine serve` in one long-running process.

`prefect.yaml` at the repository root declares the same deployments for a Prefect server with
a process worker (infra/compose.yaml). Prefect's ephemeral API has no scheduler, so `serve`
starts a local Prefect server (state under the trendmine data dir) unless PREFECT_API_URL
names one already.

One `serve` per data dir holds `serve.lock` there (the kernel releases it however serve
dies); the local server's pid is in `server.pid` next to its log and the server gets SIGTERM
when serve dies (Linux), and a server left by a killed serve is stopped at the next start.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from foundation.config import Settings
from foundation.errors import ServiceUnavailable, TrendmineError
from foundation.secrets import PRIVATE_UMASK, open_private
from warehouse import runs

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

INGEST = "ingest/scheduled"
MINE_TRENDS = "pipeline/mine-trends"
ON_DEMAND = "pipeline/on-demand"
SERVER_START_TIMEOUT_S = 180.0
SERVER_STOP_TIMEOUT_S = 20.0
REAPED = "its runner died; reaped by `trendmine serve`"
LOCK_NAME = "serve.lock"
SERVER_PID_NAME = "server.pid"
# A deployment polled this recently (and after the last serve stopped) has a live runner.
LIVE_POLL_S = 30.0
# When a `serve` last stopped cleanly, in the Prefect server itself: a serve of another data
# dir or host that starts right after it must not take its last polls for a live runner.
STOPPED_VARIABLE = "trendmine_serve_stopped_at"
# Starts `python -m prefect ...` so that the kernel sends it SIGTERM when its parent dies
# (PR_SET_PDEATHSIG; Linux): a `serve` killed outright takes its local server with it.
_TIED_TO_PARENT = (
    "import os, runpy, signal, sys\n"
    "if sys.platform == 'linux':\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv.pop(1)):\n"
    "    sys.exit('its parent is gone')\n"
    "runpy.run_module('prefect', run_name='__main__', alter_sys=True)\n"
)


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """ingest on `ingest_cron`, mine + trends (+ report, artifact) on `mine_cron`, an
    unscheduled full pipeline for `prefect deployment run pipeline/on-demand`, a pull per
    configured vendor API on `pull_cron`, and the alerts on `alerts_cron`."""
    from prefect.deployments.runner import EntrypointType

    from flows.pipeline import ingest_flow, pipeline_flow

    common = {"entrypoint_type": EntrypointType.MODULE_PATH,  # runs from any directory
              "tags": ["trendmine"]}
    from flows.alerts import alerts_deployments
    from flows.pulls import pull_deployments

    return [
        # one ingest at a time: a slow drain must not pile up consumers every minute
        ingest_flow.to_deployment(name=INGEST.split("/")[1], **ingest_schedule(settings),
                                  concurrency_limit=1, **common),
        pipeline_flow.to_deployment(name=MINE_TRENDS.split("/")[1], cron=settings.mine_cron,
                                    parameters={"include_ingest": False},
                                    concurrency_limit=1, **common),
        pipeline_flow.to_deployment(name=ON_DEMAND.split("/")[1], **common),
        # one scheduled pull per vendor whose API credentials are set (TRENDMINE_PULL_CRON)
        *pull_deployments(settings, **common),
        # alerts, owners told, tracker links (TRENDMINE_ALERTS_CRON; docs/alerts.md)
        *alerts_deployments(settings, **common),
    ]


def ingest_schedule(settings: Settings) -> dict[str, Any]:
    """`to_deployment` schedule of ingest: every TRENDMINE_INGEST_INTERVAL_S, else the cron."""
    if settings.ingest_interval_s is not None:
        return {"interval": settings.ingest_interval_s}
    return {"cron": settings.ingest_cron}


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class ServeLock:
    """The data dir's `serve.lock`: held (flock) by the one live `serve`; its text names the
    last holder: `pid N` while it serves, `stopped <unix time>` once it stopped cleanly."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self.previous = ""  # what the last holder left
        self._file: IO[str] | None = None

    def acquire(self) -> ServeLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+")  # noqa: SIM115 (held open for serve's whole life)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise TrendmineError(
                f"another `trendmine serve` ({holder or 'starting'}) serves this data dir "
                "already", "stop it first (Ctrl-C or SIGTERM); two would reap each other's "
                "runs") from None
        file.seek(0)
        self.previous = file.read().strip()
        self._file = file
        self._write(f"pid {os.getpid()}")
        return self

    def _write(self, text: str) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(text)
            self._file.flush()

    def previous_stopped_at(self) -> datetime | None:
        """When the last serve of this data dir stopped cleanly; None if it did not."""
        kind, _, value = self.previous.partition(" ")
        return datetime.fromtimestamp(float(value), UTC) if kind == "stopped" else None

    def previous_died(self) -> bool:
        """The last serve of this data dir died without stopping (its pid is in the file)."""
        return self.previous.startswith("pid ")

    def release(self) -> None:
        if self._file is not None:
            self._write(f"stopped {time.time():.3f}")
            self._file.close()  # closing releases the flock
            self._file = None


def stop_orphaned_server(pid_file: Path) -> int | None:
    """Stop the local Prefect server that a killed `serve` left running (its pid in
    `pid_file`); returns its pid, or None when there was none. Called with the serve lock
    held, so no live serve owns it."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    pid_file.unlink(missing_ok=True)
    if not _is_prefect_server(pid):
        return None  # gone, or the pid now belongs to something else
    try:
        os.killpg(pid, signal.SIGTERM)  # its own session: the group is the server
        deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
        while _is_prefect_server(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _is_prefect_server(pid):
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return pid


def _is_prefect_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # a zombie has an empty cmdline: it is dead
    return b"server" in cmdline and b"start" in cmdline and any(b"prefect" in a
                                                                  for a in cmdline)


def start_local_server(settings: Settings, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on 127.0.0.1 (scheduler included); returns (process, API URL).

    Must run before this process imports prefect: the caller then sets PREFECT_API_URL.
    Its pid goes to `server.pid` next to `log_path`; a server a killed serve left there is
    stopped first.
    """
    api_url = f"http://127.0.0.1:{settings.prefect_port}/api"
    pid_file = log_path.parent / SERVER_PID_NAME
    if stop_orphaned_server(pid_file) is not None:
        deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
        while _healthy(api_url) and time.monotonic() < deadline:
            time.sleep(0.2)
    if _healthy(api_url):
        raise ServiceUnavailable(
            f"a Prefect server already answers on port {settings.prefect_port}",
            f"set PREFECT_API_URL={api_url} to use it, or TRENDMINE_PREFECT_PORT to start "
            "another",
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(log_path) as log:
        # Its own session: a terminal Ctrl-C (SIGINT to the whole process group) must reach
        # `serve` only, which shuts its runs down and then stops this server itself.
        proc = subprocess.Popen(
            [sys.executable, "-c", _TIED_TO_PARENT, str(os.getpid()), "server", "start",
             "--host", "127.0.0.1", "--port", str(settings.prefect_port)],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
            start_new_session=True, umask=PRIVATE_UMASK,  # its database holds run parameters
        )
    with open_private(pid_file, "w") as f:
        f.write(str(proc.pid))
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not _healthy(api_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_local_server(proc, pid_file)
            raise ServiceUnavailable(
                f"the local Prefect server did not start on port {settings.prefect_port}",
                f"see {log_path}; or set PREFECT_API_URL to a running Prefect server",
            )
        time.sleep(1)
    return proc, api_url


def stop_local_server(proc: subprocess.Popen, pid_file: Path) -> None:
    """SIGTERM to the server's session, SIGKILL if it lingers; then its pid file goes."""
    for sig, wait in ((signal.SIGTERM, SERVER_STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    pid_file.unlink(missing_ok=True)


def serve_forever(settings: Settings, lock: ServeLock) -> int:
    """Serve the deployments until SIGINT or SIGTERM (flow runs execute in subprocesses).

    Both signals take Prefect's graceful path (the runner cancels its in-flight runs, which
    are marked Cancelled, and stops). Before serving: refuse if another runner polls these
    deployments; mark Crashed the runs orphaned by an earlier `serve` that was killed
    outright, so they never hold the deployments' concurrency slots; and close every
    pipeline_runs row still `running` whose Prefect run has ended. Returns how many orphaned
    runs were reaped.
    """
    from prefect import serve
    from prefect.logging import get_logger
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.stopping import SERVE_PID_ENV

    deployments = build_deployments(settings)
    names = [f"{d.flow_name}/{d.name}" for d in deployments]
    run_coro_as_sync(refuse_if_served(names, lock))
    reaped = run_coro_as_sync(reap_orphaned_runs(names)) or []
    try:  # their pipeline_runs rows too, rather than after STALE_RUN_HOURS
        runs.fail_orphaned(settings, reaped, f"abandoned: {REAPED}")
        ends = run_coro_as_sync(ended_runs(runs.running_flow_run_ids(settings))) or {}
        runs.close_running(settings, ends)
    except TrendmineError as exc:  # Postgres down: serve anyway, the runs will say so
        get_logger("trendmine.serve").warning("could not close orphaned runs: %s", exc)
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # flow runs stop themselves if serve dies
    # Prefect's runner handles SIGTERM gracefully; send Ctrl-C down the same road.
    signal.signal(signal.SIGINT, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        serve(*deployments, print_starting_message=False)
    finally:
        _record_stop()
    return len(reaped)


def _record_stop() -> None:
    """Leave the time of this clean stop in Prefect (best effort: the server may be gone)."""
    from prefect.logging import get_logger
    from prefect.variables import Variable

    try:
        Variable.set(STOPPED_VARIABLE, time.time(), overwrite=True)
    except Exception as exc:
        get_logger("trendmine.serve").debug("could not record the stop: %s", exc)


async def refuse_if_served(deployment_names: list[str], lock: ServeLock) -> None:
    """Raise if a runner elsewhere (another host or data dir) polls these deployments: its
    live runs would look orphaned. Polls before the last clean stop of a serve (recorded in
    the data dir and in Prefect) or by this data dir's serve that died do not count."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.variables import Variable

    if lock.previous_died():  # its last polls are the newest, and it is gone
        return
    stopped = await Variable.aget(STOPPED_VARIABLE)
    candidates = [lock.previous_stopped_at(),
                  datetime.fromtimestamp(stopped, UTC) if isinstance(stopped, float | int)
                  else None]
    since = max((c for c in candidates if c is not None), default=None)
    now = datetime.now(UTC)
    async with get_client() as client:
        for name in deployment_names:
            try:
                polled = (await client.read_deployment_by_name(name)).last_polled
            except ObjectNotFound:
                continue
            if polled is None or (since is not None and polled <= since):
                continue
            age = (now - polled).total_seconds()
            if age < LIVE_POLL_S:
                raise TrendmineError(
                    f"another `trendmine serve` polls {name} on this Prefect server (last "
                    f"poll {max(age, 0):.0f} s ago)",
                    f"stop it first (two would reap each other's runs); if it was killed, "
                    f"start again in {LIVE_POLL_S - age:.0f} s")


async def ended_runs(flow_run_ids: list[str]) -> dict[str, tuple[str, str]]:
    """For the Prefect flow runs of rows still `running`: (status, reason) of each one that
    Prefect says has ended. Runs Prefect does not know (another server's) are left out."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType

    if not flow_run_ids:
        return {}
    ends = {StateType.CANCELLED: runs.CANCELLED, StateType.CRASHED: runs.FAILED,
            StateType.FAILED: runs.FAILED, StateType.COMPLETED: runs.FAILED}
    async with get_client() as client:
        found = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))
    out = {}
    for run in found:
        if run.state is None or run.state.type not in ends:
            continue
        message = (run.state.message or "").strip() or "no message"
        out[str(run.id)] = (ends[run.state.type],
                            f"{run.state.name} in Prefect ({message}); the run recorded no end")
    return out


async def reap_orphaned_runs(deployment_names: list[str]) -> list[str]:
    """Mark Crashed every run of these deployments still Pending/Running/Cancelling; returns
    their flow run ids.

    Called before this process starts serving, when no runner of ours is alive, so any such run
    belongs to a runner that died (SIGKILL, power loss) and would otherwise block the
    deployment's concurrency slot forever. A forced transition releases the slot.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    async with get_client() as client:
        ids = []
        for name in deployment_names:
            try:
                ids.append((await client.read_deployment_by_name(name)).id)
            except ObjectNotFound:
                continue
        if not ids:
            return []
        stuck = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=ids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[
                StateType.PENDING, StateType.RUNNING, StateType.CANCELLING])),
        ))
        for run in stuck:
            await client.set_flow_run_state(run.id, Crashed(message=REAPED), force=True)
        return [str(run.id) for run in stuck]

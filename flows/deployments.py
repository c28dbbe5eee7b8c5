"""Scheduled deployments, served by `trendmine serve` in one long-running process.

`prefect.yaml` at the repository root declares the same deployments for a Prefect server with
a process worker (infra/compose.yaml). Prefect's ephemeral API has no scheduler, so `serve`
starts a local Prefect server (state under the trendmine data dir) unless PREFECT_API_URL
names one already.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
REAPED = "its runner died; reaped by `trendmine serve`"


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """ingest on `ingest_cron`, mine + trends (+ report, artifact) on `mine_cron`, an
    unscheduled full pipeline for `prefect deployment run pipeline/on-demand`, and a pull per
    configured vendor API on `pull_cron`."""
    from prefect.deployments.runner import EntrypointType

    from flows.pipeline import ingest_flow, pipeline_flow

    common = {"entrypoint_type": EntrypointType.MODULE_PATH,  # runs from any directory
              "tags": ["trendmine"]}
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


def start_local_server(settings: Settings, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on 127.0.0.1 (scheduler included); returns (process, API URL).

    Must run before this process imports prefect: the caller then sets PREFECT_API_URL.
    """
    api_url = f"http://127.0.0.1:{settings.prefect_port}/api"
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
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(settings.prefect_port)],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
            start_new_session=True, umask=PRIVATE_UMASK,  # its database holds run parameters
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not _healthy(api_url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ServiceUnavailable(
                f"the local Prefect server did not start on port {settings.prefect_port}",
                f"see {log_path}; or set PREFECT_API_URL to a running Prefect server",
            )
        time.sleep(1)
    return proc, api_url


def serve_forever(settings: Settings) -> int:
    """Serve the deployments until SIGINT or SIGTERM (flow runs execute in subprocesses).

    Both signals take Prefect's graceful path (the runner cancels its in-flight runs, which
    are marked Cancelled, and stops), and runs orphaned by an earlier `serve` that was killed
    outright are marked Crashed first, so they never hold the deployments' concurrency slots.
    Returns how many orphaned runs were reaped.
    """
    from prefect import serve
    from prefect.logging import get_logger
    from prefect.utilities.asyncutils import run_coro_as_sync

    deployments = build_deployments(settings)
    names = [f"{d.flow_name}/{d.name}" for d in deployments]
    reaped = run_coro_as_sync(reap_orphaned_runs(names)) or []
    try:  # their pipeline_runs rows too, rather than after STALE_RUN_HOURS
        runs.fail_orphaned(settings, reaped, f"abandoned: {REAPED}")
    except TrendmineError as exc:  # Postgres down: serve anyway, the runs will say so
        get_logger("trendmine.serve").warning("could not close orphaned runs: %s", exc)
    # Prefect's runner handles SIGTERM gracefully; send Ctrl-C down the same road.
    signal.signal(signal.SIGINT, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    serve(*deployments, print_starting_message=False)
    return len(reaped)


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

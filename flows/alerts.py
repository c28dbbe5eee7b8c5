"""The scheduled alerts deployment (`alerts/send`, TRENDMINE_ALERTS_CRON): glue around
`notify.run.run`, the same pass as `trendmine alerts send`.

Every send is recorded in a ledger before and after, so a retried task sends nothing twice.
A run whose sends failed ends Failed, naming them: the failures show in Prefect's UI as well
as in `trendmine alerts status`, and the next run retries them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from flows.runtime import flow_settings
from flows.tasks import _RETRY
from foundation.config import Settings
from foundation.db import connection
from foundation.errors import TrendmineError

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

ALERTS = "alerts/send"


@task(name="send-alerts", timeout_seconds=1800, **_RETRY)
def send_alerts(settings: Settings) -> dict[str, Any]:
    from notify.run import run

    with connection(settings, autocommit=True) as conn:
        report = run(conn, settings)
    logger = get_run_logger()
    for line in report.lines():
        logger.info("%s", line)
    return {"summary": report.lines(), "failures": report.failures}


@flow(name="alerts", description="Tracker events, feedback.loop, owners told, then alerts.")
def alerts_flow() -> dict[str, Any]:
    result = send_alerts(flow_settings())
    if result["failures"]:
        raise TrendmineError(f"{len(result['failures'])} send(s) failed: "
                             + "; ".join(result["failures"][:5]),
                             "retried at the next run; `trendmine alerts status` lists them")
    return result


def alerts_deployments(settings: Settings, **common: Any) -> list[RunnerDeployment]:
    return [alerts_flow.to_deployment(name=ALERTS.split("/")[1], cron=settings.alerts_cron,
                                      concurrency_limit=1, **common)]

"""Scheduled vendor pulls: one Prefect deployment per configured source.

The flow is glue: the pull itself (pages, rate limits, cursor after the broker's acks) is
`intake.pulls.run_pull`. A retried task resumes from the stored cursor, so a retry never
loses or skips a page; it may republish the page that was in flight, which ingest absorbs
by upserting on (source, source_id).

`flows/deployments.py` wires them into `trendmine serve`:
    deployments += pull_deployments(settings, **common)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from flows.runtime import flow_settings
from flows.tasks import _RETRY
from foundation.config import Settings
from intake.pulls import configured_pulls, run_pull

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

PULL_DEPLOYMENT_PREFIX = "pull-"


@task(name="pull-source", timeout_seconds=3600, **_RETRY)
def pull_source(settings: Settings, source: str) -> dict[str, Any]:
    """Page through one vendor API from its cursor; the cursor follows the broker's acks."""
    logger = get_run_logger()
    result = run_pull(settings, source, on_page=lambda r: logger.info(
        "%s: page %d, %d records so far", r.pull, r.pages, r.records))
    logger.info("%s: %d records (%d to the DLQ) in %d pages, %d retries", source,
                result.records, result.dead_lettered, result.pages, result.retries)
    return result.as_dict()


@flow(name="pull", log_prints=False)
def pull_flow(source: str) -> dict[str, Any]:
    """Pull new records of one source (zendesk, intercom, canny, gong) into Kafka, with the
    settings of the process running it (flows.runtime: no settings as a parameter)."""
    return pull_source(flow_settings(), source)


def pull_deployments(settings: Settings, **common: Any) -> list[RunnerDeployment]:
    """`pull/pull-<source>` on `pull_cron` for every source whose credentials are set;
    one run at a time per source (a slow pull must not race its own cursor)."""
    return [
        pull_flow.to_deployment(name=f"{PULL_DEPLOYMENT_PREFIX}{source}", cron=settings.pull_cron,
                                parameters={"source": source}, concurrency_limit=1, **common)
        for source in configured_pulls(settings)
    ]

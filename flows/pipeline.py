"""The Prefect flows: ingest, mine, trends, and the pipeline that runs them in order.

Each flow records itself in trendmine.pipeline_runs (a stage run inside a pipeline run points
at it through parent_run_id), so a failed run leaves a `failed` row with its error and a
stopped one a `cancelled` row saying what stopped it.
No flow takes settings or a path as a parameter (anyone who may call the Prefect API sets
parameters): each reads `flow_settings()`, the environment of the process running it, which
the CLI and tests point at a stack with `flows.runtime.running_with`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, unmapped

from flows.runtime import flow_settings, report, report_path, running_with
from flows.stopping import describe, is_stop, serve_died, signals_held, watch_serve
from flows.tasks import (
    consume_until_idle,
    embed_batch,
    list_unembedded,
    mine_themes,
    notify_loop,
    publish_emerging_artifact,
    rebuild_sales_tables,
    rebuild_trend_tables,
    record_run_end,
    record_run_start,
    store_embeddings,
    write_html_report,
)
from foundation.config import Settings
from foundation.secrets import scrub
from warehouse import runs


@dataclass
class RunRecord:
    run_id: int
    counts: dict[str, Any] = field(default_factory=dict)
    stage: str | None = None
    report_path: str | None = None


@contextmanager
def recorded(settings: Settings, name: str, parent_run_id: int | None = None
             ) -> Iterator[RunRecord]:
    """A pipeline_runs row around a flow body: `completed` with counts, `cancelled` when a
    signal stopped it on purpose, or `failed` with the error.

    Prefect's TerminationSignal (and Ctrl-C) are BaseExceptions: caught here too, and the
    row is written with further stop signals held, so a second SIGTERM from the runner
    cannot leave it `running`."""
    watch_serve()
    run = RunRecord(record_run_start(settings, name, parent_run_id))
    try:
        yield run
        record_run_end(settings, run.run_id, run.counts, run.report_path)
    except BaseException as exc:
        status = runs.CANCELLED if is_stop(exc) and not serve_died() else runs.FAILED
        error = (f"{run.stage}: " if run.stage else "") + describe(exc)
        with signals_held():
            try:  # plain call, not a task: the flow engine is unwinding
                runs.finish_run(settings, run.run_id, status, run.counts, error=error,
                                if_running=True)
            except Exception as rec_exc:
                get_run_logger().warning("could not record run %s as %s: %s", run.run_id,
                                         status, rec_exc)
            get_run_logger().error("run %s %s: %s", run.run_id, status,
                                   scrub(error, settings.secret_values()))
        raise


@flow(name="ingest", description="Drain Kafka (feedback + CRM topics) into Postgres.")
def ingest_flow(parent_run_id: int | None = None) -> dict[str, Any]:
    settings = flow_settings()
    with recorded(settings, "ingest", parent_run_id) as run:
        run.counts = consume_until_idle(settings)
    return run.counts


EMBED_BATCH = 512  # distinct texts per embed-batch task


@flow(name="embed", description="Embed new snippets in batches, each distinct text once.")
def embed_flow(batch: int = EMBED_BATCH) -> dict[str, Any]:
    """Batches go to the flow's task runner: a Dask cluster under `embed_on_dask`."""
    from warehouse.mine import distinct_texts

    settings = flow_settings()
    todo = list_unembedded(settings)
    texts, index = distinct_texts(todo)
    batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    report("embed", 0, len(todo))
    futures = embed_batch.map(batches, unmapped(settings.embedding_model),
                              unmapped(settings.embed_batch_size),
                              unmapped(settings.embedding_device),
                              unmapped(max(settings.embedding_workers, 1)))
    parts, done = [], 0
    for future, part in zip(futures, batches, strict=True):
        parts.append(future.result())
        done += len(part)
        report("embed", round(len(todo) * done / len(texts)), len(todo))
    vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    stored = store_embeddings(settings, todo, vectors[index]) if todo else 0
    get_run_logger().info("embedded %d snippets (%d distinct texts) in %d batches",
                          stored, len(texts), len(batches))
    return {"in": len(todo), "out": stored, "distinct": len(texts), "batches": len(batches)}


def embed_on_dask(settings: Settings, workers: int, batch: int = EMBED_BATCH,
                  address: str | None = None) -> dict[str, Any]:
    """`embed_flow` on Prefect's DaskTaskRunner: a local cluster of `workers` processes with
    one thread each (or the cluster at `address`, e.g. a `dask scheduler` on GPU hosts)."""
    from prefect_dask import DaskTaskRunner

    runner = (DaskTaskRunner(address=address) if address else DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                        "dashboard_address": None}))
    with running_with(settings):  # a plain function: the flow itself takes no settings
        return embed_flow.with_options(task_runner=runner)(batch)


@flow(name="mine", description="Embed new feedback, cluster it into themes with stable ids.")
def mine_flow(parent_run_id: int | None = None) -> dict[str, Any]:
    settings = flow_settings()
    with recorded(settings, "mine", parent_run_id) as run:
        embedded = None
        if settings.embedding_workers > 0:  # else mine() embeds in this process
            run.stage = "embed"
            embedded = embed_on_dask(settings, settings.embedding_workers)
            run.stage = None
        run.counts = mine_themes(settings, run.run_id)
        if embedded is not None:
            run.counts["embed"] = embedded
    return run.counts


@flow(name="trends", description="Rebuild theme_trends and detect emerging themes.")
def trends_flow(parent_run_id: int | None = None) -> dict[str, Any]:
    settings = flow_settings()
    with recorded(settings, "trends", parent_run_id) as run:
        run.counts = rebuild_trend_tables(settings)
        run.counts["runs_pruned"] = runs.prune(settings)  # pipeline_runs retention
    return run.counts


@flow(name="pipeline", description="ingest -> mine -> trends, then the report and artifact.")
def pipeline_flow(include_ingest: bool = True) -> dict[str, Any]:
    """Returns {"run_id", "counts" per stage, "report_path", "markdown"}."""
    settings = flow_settings()
    out = report_path(settings)
    with recorded(settings, "pipeline") as run:
        stages = ([("ingest", ingest_flow)] if include_ingest else []) + [
            ("mine", mine_flow), ("trends", trends_flow)]
        for run.stage, stage_flow in stages:
            run.counts[run.stage] = stage_flow(parent_run_id=run.run_id)
        run.stage = "sales"
        run.counts["sales"] = rebuild_sales_tables(settings)
        run.counts["loop"] = notify_loop(settings)
        run.stage = "report"
        run.report_path = write_html_report(settings, out)
        markdown = publish_emerging_artifact(settings, run.report_path, run.counts)
        run.stage = None
    return {"run_id": run.run_id, "counts": run.counts, "report_path": run.report_path,
            "markdown": markdown}

"""The Prefect flows against the real broker, the real Postgres and a real Prefect API.

Prefect's local API (a temporary SQLite database) starts once per session; each test gets
its own database and topic prefix from conftest, as everywhere else.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import yaml

from demoworld import generate_world, write_world
from flows.runtime import running_with
from foundation.config import Settings
from infra.embedded import free_port
from ingest import dlq
from ingest.consumer import IngestStats, IngestWorker
from ingest.producer import publish_files, publish_raw

from .conftest import REPO, make_settings
from .test_ingest import event, put

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline, and none wanted

EMERGING = {"eu_data_residency", "shopify_integration"}
SPAM_THEME = "bulk_edit"


def _publish_world(settings: Settings, world, out: Path) -> tuple[int, int]:
    published = unparseable = 0
    for target, paths in write_world(world, out).items():
        s = publish_files(settings, target, [str(p) for p in paths])
        published += s.published
        unparseable += s.rejected
    return published, unparseable


def _runs(db: psycopg.Connection) -> dict[str, dict]:
    cur = db.execute("SELECT * FROM trends.pipeline_runs ORDER BY run_id")
    names = [c.name for c in cur.description]
    return {r["flow"]: r for r in (dict(zip(names, row, strict=True)) for row in cur)}


# ---------------------------------------------------------------------------- the pipeline


def test_pipeline_flow_runs_end_to_end_and_records_itself(settings, db, prefect_api, tmp_path):
    from prefect.artifacts import Artifact

    from flows.pipeline import pipeline_flow
    from flows.tasks import ARTIFACT_KEY

    world = generate_world(seed=11, n_accounts=40, n_feedback=1000, weeks=8)
    published, unparseable = _publish_world(settings, world, tmp_path / "world")
    report = tmp_path / "out" / "report.html"

    with running_with(settings, report):
        result = pipeline_flow()

    runs = _runs(db)
    assert set(runs) == {"pipeline", "ingest", "mine", "trends"}
    top = runs["pipeline"]
    assert all(r["status"] == "completed" and r["ended_at"] and r["error"] is None
               for r in runs.values())
    assert all(runs[s]["parent_run_id"] == top["run_id"] for s in ("ingest", "mine", "trends"))
    assert top["model"] == settings.embedding_model and top["params"]["window_days"] == 180
    assert "database_url" not in top["params"]
    assert top["prefect_flow_run_id"] and top["seconds"] > 0
    ing = top["counts"]["ingest"]
    assert ing["in"] == published and ing["stored"] + ing["rejected"] == published
    assert runs["ingest"]["counts"] == ing
    assert top["counts"]["mine"]["out"] > 0 and top["counts"]["trends"]["out"] > 0
    lineage = db.execute("SELECT DISTINCT run_id FROM trendmine.theme_lineage").fetchall()
    assert lineage == [(runs["mine"]["run_id"],)]  # lineage points at the mine stage's row
    assert result["run_id"] == top["run_id"]
    assert report.is_file() and top["report_path"] == str(report.resolve())
    assert published > 1000 and ing["rejected"] + unparseable == world.expected_rejects

    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None and artifact.type == "markdown"
    assert "top emerging themes" in artifact.data and report.resolve().as_uri() in artifact.data
    assert artifact.data == result["markdown"]


def test_failed_stage_is_recorded_as_failed(services, tmp_path, prefect_api):
    settings = make_settings(services, tmp_path, embedding_model=str(tmp_path / "no-model"))
    put(settings, "support_tickets", [event(i) for i in range(30)])
    from flows.pipeline import pipeline_flow

    t0 = time.monotonic()
    with pytest.raises(ValueError, match="cannot load"), running_with(settings):
        pipeline_flow()
    assert time.monotonic() - t0 < 60  # a bad model is not "transient": no retries
    with psycopg.connect(settings.dsn(), autocommit=True) as db:
        runs = _runs(db)
    assert set(runs) == {"pipeline", "ingest", "mine"}  # trends never started
    assert runs["ingest"]["status"] == "completed"
    assert runs["mine"]["status"] == "failed" and "cannot load" in runs["mine"]["error"]
    assert runs["pipeline"]["status"] == "failed" and runs["pipeline"]["ended_at"]
    assert runs["pipeline"]["error"].startswith("mine: ValueError")
    assert runs["pipeline"]["counts"]["ingest"]["stored"] == 30


def test_only_broker_and_database_outages_are_retried(services):
    from kafka.errors import CommitFailedError, KafkaTimeoutError, MessageSizeTooLargeError

    from flows.tasks import is_transient
    from foundation.db import connect
    from foundation.errors import TrendmineError

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    with pytest.raises(psycopg.OperationalError) as raw:
        psycopg.connect(dead, connect_timeout=2)
    with pytest.raises(TrendmineError) as wrapped:
        connect(dead)
    assert is_transient(raw.value) and is_transient(wrapped.value)
    assert is_transient(KafkaTimeoutError()) and is_transient(CommitFailedError())
    assert not is_transient(MessageSizeTooLargeError())
    assert not is_transient(ValueError("model: cannot load"))
    assert not is_transient(TrendmineError("no theme 7"))
    with psycopg.connect(f"{services['server_url']}/postgres") as conn, \
            pytest.raises(psycopg.errors.UndefinedTable) as bad_sql:
        conn.execute("SELECT * FROM no_such_table")
    assert not is_transient(bad_sql.value)  # a bug, not an outage


# ---------------------------------------------------------------------------- ingest workers


def test_two_workers_in_one_group_split_partitions_and_store_each_record_once(settings, db):
    settings.idle_seconds = 8.0  # long enough to outlast the producer below
    stats: list[IngestStats] = []
    idle_polls = Counter()

    def work(i: int) -> None:
        def seen(_s: IngestStats) -> None:
            idle_polls[i] += 1  # called once partitions are assigned

        stats.append(IngestWorker(settings).run(once=True, on_batch=seen))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while min(idle_polls[0], idle_polls[1]) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)  # both members joined and were assigned partitions: group settled
    assert min(idle_polls[0], idle_polls[1]) >= 3, "the second worker never joined the group"

    good = [event(i, account_id=f"acct-{i % 50}") for i in range(3000)]
    bad = [event(i, source_id=f"bad:{i}", text=" ") for i in range(40)]  # empty_text
    produced = put(settings, "support_tickets", good + bad)
    produced += publish_raw(settings, "ideas", [
        (f"acct-{i}".encode(), b'{"not": "an event"}') for i in range(10)])
    for t in threads:
        t.join(timeout=120)

    assert len(stats) == 2 and all(s.consumed > 0 for s in stats), [s.consumed for s in stats]
    stored = sum(s.stored for s in stats)
    rejected = sum(s.rejected for s in stats)
    assert stored + rejected == produced == 3050
    assert (stored, rejected) == (3000, 50)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 3000
    assert len(list(dlq.read_all(settings))) == 50


# ---------------------------------------------------------------------------- deployments


def test_deployments_carry_the_configured_schedules(services, tmp_path):
    from flows.alerts import ALERTS
    from flows.deployments import INGEST, MINE_TRENDS, ON_DEMAND, build_deployments

    settings = Settings(data_dir=tmp_path, ingest_cron="*/2 * * * *", mine_cron="15 * * * *",
                        alerts_cron="*/5 * * * *")
    deps = {f"{d.flow_name}/{d.name}": d for d in build_deployments(settings)}
    assert set(deps) == {INGEST, MINE_TRENDS, ON_DEMAND, ALERTS}
    assert deps[ALERTS].schedules[0].schedule.cron == "*/5 * * * *"
    assert deps[INGEST].schedules[0].schedule.cron == "*/2 * * * *"
    assert deps[MINE_TRENDS].schedules[0].schedule.cron == "15 * * * *"
    assert deps[MINE_TRENDS].parameters == {"include_ingest": False}
    assert not deps[ON_DEMAND].schedules
    assert deps[INGEST].entrypoint == "flows.pipeline.ingest_flow"


def test_deployments_take_no_settings_and_no_paths_from_their_caller(tmp_path):
    """A deployment's parameters come from whoever may call the Prefect API: none may point
    the worker (and its credentials) at another broker, model or file."""
    from flows.deployments import build_deployments
    from flows.pulls import pull_flow

    settings = Settings(data_dir=tmp_path, canny_api_key="k")  # and a pull deployment
    deployments = build_deployments(settings)
    assert any(d.flow_name == pull_flow.name for d in deployments)
    allowed = {"include_ingest", "parent_run_id", "source"}
    for d in deployments:
        schema = d._parameter_openapi_schema.model_dump()["properties"]
        assert set(schema) <= allowed, (d.name, set(schema))
        assert not {"settings", "report_path"} & set(d.parameters)


def test_prefect_yaml_deploys_the_same_flows_with_the_default_schedules():
    from flows.alerts import ALERTS
    from flows.deployments import INGEST, MINE_TRENDS, ON_DEMAND

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    defaults = Settings()
    by_name = {d["name"]: d for d in spec["deployments"]}
    flows = {INGEST: "pipeline.py:ingest_flow", MINE_TRENDS: "pipeline.py:pipeline_flow",
             ON_DEMAND: "pipeline.py:pipeline_flow", ALERTS: "alerts.py:alerts_flow"}
    crons = {INGEST: defaults.ingest_cron, MINE_TRENDS: defaults.mine_cron, ON_DEMAND: None,
             ALERTS: defaults.alerts_cron}
    assert {n.split("/")[1] for n in flows} <= set(by_name)  # pulls: test_deploy_files
    for full, fn in flows.items():
        d = by_name[full.split("/")[1]]
        assert d["entrypoint"] == f"flows/{fn}"
        assert d["work_pool"]["name"] == "trendmine"
        got = [s["cron"] for s in d.get("schedules") or []]
        assert got == ([crons[full]] if crons[full] else [])
    assert by_name["mine-trends"]["parameters"] == {"include_ingest": False}


# ---------------------------------------------------------------------------- the demo


def _planted_theme(db: psycopg.Connection, theme_id: int, truth: dict[str, tuple]) -> str:
    """The ground-truth theme most of a mined theme's records were generated from."""
    votes: Counter = Counter()
    for (source_id,) in db.execute(
            "SELECT DISTINCT f.source_id FROM trendmine.feedback_theme ft "
            "JOIN trendmine.feedback f USING (feedback_id) WHERE ft.theme_id = %s", (theme_id,)):
        votes.update(truth.get(source_id, ("unknown",)))
    return votes.most_common(1)[0][0] if votes else "empty"


def test_demo_on_a_small_world(settings, db, prefect_api, tmp_path):
    from trendmine.cli_flows import run_demo

    out = tmp_path / "demo-report.html"
    res = run_demo(settings, feedback=3000, accounts=80, weeks=16, seed=7, out=out)

    assert res.produced == res.stored + res.rejected + res.unparseable
    assert res.produced == res.published + res.unparseable
    assert res.rejected + res.unparseable == res.world.expected_rejects
    assert len(list(dlq.read_all(settings))) == res.rejected + res.unparseable
    assert out.is_file() and out.stat().st_size > 10_000 and res.report_path == out.resolve()
    status = db.execute("SELECT status FROM trendmine.pipeline_runs WHERE run_id = %s",
                        (res.run_id,)).fetchone()[0]
    assert status == "completed"

    truth = {f.source_id: f.themes for recs in res.world.feedback.values() for f in recs}
    top5 = [_planted_theme(db, r["theme_id"], truth) for r in res.emerging[:5]]
    assert set(top5) >= EMERGING, f"planted emerging themes not in the top 5: {top5}"
    assert SPAM_THEME not in top5, f"the spam account's theme is emerging: {top5}"


def test_a_run_left_running_by_a_killed_process_is_closed_as_failed(settings, db):
    from warehouse import runs

    killed = runs.start_run(settings, "pipeline")
    recent = runs.start_run(settings, "ingest")
    db.execute(
        "UPDATE trendmine.pipeline_runs SET started_at = now() - interval '13 hours' "
        "WHERE run_id = %s",
        (killed,),
    )
    runs.start_run(settings, "mine")
    status = dict(db.execute("SELECT run_id, status FROM trendmine.pipeline_runs").fetchall())
    assert status[killed] == runs.FAILED and status[recent] == runs.RUNNING
    error = db.execute(
        "SELECT error FROM trendmine.pipeline_runs WHERE run_id = %s", (killed,)
    ).fetchone()[0]
    assert error.startswith("abandoned")


def test_runs_orphaned_by_a_killed_serve_are_reaped_and_free_the_slot(prefect_api, settings,
                                                                         db):
    """A runner killed outright leaves its run Running and the deployment's one concurrency
    slot taken; the next `serve` marks such runs Crashed before serving, and closes their
    `running` rows in pipeline_runs (with their stage rows)."""
    from prefect import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Running
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.deployments import INGEST, REAPED, build_deployments, reap_orphaned_runs
    from warehouse import runs

    ingest_dep = next(d for d in build_deployments(Settings())
                      if d.name == INGEST.split("/")[1])

    async def orphan_and_reap() -> tuple[list[str], StateType, list[str], int, int]:
        dep_id = await ingest_dep.apply()
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(dep_id)
            await client.set_flow_run_state(run.id, Running(), force=True)  # its runner dies
            row = runs.start_run(settings, "pipeline", prefect_flow_run_id=str(run.id))
            runs.start_run(settings, "ingest", parent_run_id=row)  # its stage row
            other = runs.start_run(settings, "ingest")  # someone else's run, still going
            reaped = await reap_orphaned_runs([INGEST])
            state = (await client.read_flow_run(run.id)).state.type
            again = await reap_orphaned_runs([INGEST])  # nothing left to reap
        closed = runs.fail_orphaned(settings, reaped, f"abandoned: {REAPED}")
        return reaped, state, again, closed, other

    reaped, state, again, closed, other = run_coro_as_sync(orphan_and_reap())
    assert len(reaped) >= 1 and state == StateType.CRASHED and again == []
    assert closed == 2
    statuses = dict(db.execute("SELECT run_id, status FROM trends.pipeline_runs").fetchall())
    assert statuses.pop(other) == "running" and set(statuses.values()) == {"failed"}


def test_a_failed_run_never_stores_a_secret(settings, db):
    from psycopg.conninfo import make_conninfo
    from pydantic import SecretStr

    from foundation.secrets import dsn_password
    from warehouse import runs

    dsn = settings.dsn()
    secret = dsn_password(dsn)  # the embedded Postgres's generated one
    if secret is None:  # a trust-auth server of your own ignores a password
        secret = "pw-s3cret-42"
        dsn = make_conninfo(dsn, password=secret)
    with_pw = settings.model_copy(update={"database_url": SecretStr(dsn)})
    run_id = runs.start_run(with_pw, "ingest")
    runs.finish_run(with_pw, run_id, runs.FAILED, {},
                    error=f"OperationalError: cannot use {dsn} (password {secret})")
    error = db.execute("SELECT error FROM trends.pipeline_runs WHERE run_id = %s",
                       (run_id,)).fetchone()[0]
    assert secret not in error and "***" in error

"""Metrics, logs and run records against the real broker and Postgres: the ingest counters and
lag, /metrics over HTTP (one process and serve's multiprocess directory), JSON logs with
levels and masked secrets, progress lines without a terminal, `ingest` in pipeline_runs, and
pipeline_runs retention."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request

from prometheus_client import REGISTRY

from foundation import logs
from infra.embedded import free_port
from ingest import metrics
from ingest.kafka import topic_offsets
from tests.conftest import invoke_cli
from warehouse import runs

from .test_ingest import drain, event, put


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def test_ingest_counts_records_and_rejections_by_code(settings):
    before = (_value("trendmine_records_consumed_total"),
              _value("trendmine_records_stored_total"),
              _value("trendmine_records_rejected_total", code="malformed_json"))
    put(settings, "support_tickets", [event(1), event(2), b"{broken"])
    drain(settings)
    after = (_value("trendmine_records_consumed_total"),
             _value("trendmine_records_stored_total"),
             _value("trendmine_records_rejected_total", code="malformed_json"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 2, 1]
    topic = settings.topic("feedback.support_tickets")
    lags = [_value("trendmine_consumer_lag", topic=topic, partition=str(p)) for p in range(3)]
    assert lags == [0, 0, 0]


def test_a_partition_never_committed_counts_its_records_as_lag(settings):
    put(settings, "support_tickets", [event(i) for i in range(6)])
    (row,) = [t for t in topic_offsets(settings)
              if t.topic == settings.topic("feedback.support_tickets")]
    assert row.committed is None and row.lag == row.end_offset > 0  # not 0, not unknown
    drain(settings)
    (row,) = [t for t in topic_offsets(settings)
              if t.topic == settings.topic("feedback.support_tickets")]
    assert row.lag == 0


def test_metrics_endpoint_serves_counters_and_last_success_per_flow(settings):
    run_id = runs.start_run(settings, "mine")
    runs.finish_run(settings, run_id, runs.COMPLETED, {})
    port = free_port()
    assert metrics.serve(settings, port=port)
    text = _scrape(port)
    assert "trendmine_records_consumed_total" in text
    assert 'trendmine_last_success_timestamp_seconds{flow="mine"}' in text
    settings.metrics_port = None
    assert not metrics.serve(settings)  # off by default


def test_serve_collects_what_its_flow_subprocesses_count(settings, monkeypatch):
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")  # restored after the test
    settings.metrics_port = free_port()
    path = metrics.start_multiprocess(settings)
    assert path is not None and os.environ[metrics.MULTIPROC_ENV] == str(path)
    child = ("from ingest import metrics; metrics.count_batch(5, 4, {'nul_byte': 1}); "
             "metrics.set_lag({('t', 0): 7})")
    subprocess.run([sys.executable, "-c", child], check=True, env=dict(os.environ))
    assert metrics.serve(settings)
    text = _scrape(settings.metrics_port)
    assert "trendmine_records_consumed_total 5.0" in text
    assert 'trendmine_records_rejected_total{code="nul_byte"} 1.0' in text
    assert 'trendmine_consumer_lag{partition="0",topic="t"} 7.0' in text


def test_json_logs_have_levels_fields_and_no_secret(capsys):
    try:
        logs.configure("WARNING", "json", secrets=["hunter2-secret"])
        log = logging.getLogger("ingest.test")
        log.info("not written at WARNING")
        log.warning("login with %s failed", "hunter2-secret", extra={"lag": 3})
        for backoff in ("0.06", "0.12"):  # its retries: one line, not one per try
            logging.getLogger("kafka.net.manager").warning("bootstrap failed (backoff %s secs)",
                                                           backoff)
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    finally:
        logs.configure("WARNING", "text")
    assert [x["level"] for x in lines] == ["WARNING", "WARNING"]
    assert lines[0]["logger"] == "ingest.test" and lines[0]["lag"] == 3
    assert "hunter2" not in json.dumps(lines) and "failed" in lines[0]["message"]
    assert lines[1]["logger"].startswith("kafka")  # kafka-python's warnings reach our log


def _cli(settings, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    from trendmine import cli_ingest

    return invoke_cli(settings, monkeypatch, cli_ingest.register, *args,
                      idle_seconds=2, progress_interval_s=0.5)


def test_ingest_cli_is_a_pipeline_run_and_logs_progress_without_a_terminal(
        settings, db, monkeypatch, caplog):
    put(settings, "support_tickets", [event(1), b"{broken"])
    with caplog.at_level(logging.INFO, logger="trendmine.cli_ingest"):
        res = _cli(settings, monkeypatch, "ingest", "--once")
    assert res.exit_code == 0, res.output
    assert any(r.getMessage().startswith("ingest: consumed 2, stored 1, rejected 1")
               for r in caplog.records)
    flow, status, counts = db.execute(
        "SELECT flow, status, counts FROM trends.pipeline_runs").fetchone()
    assert (flow, status) == ("ingest-cli", "completed")
    assert (counts["consumed"], counts["stored"], counts["rejected_by_code"]) == (
        2, 1, {"malformed_json": 1})


def test_pipeline_runs_older_than_the_setting_are_pruned(settings, db):
    ids = [runs.start_run(settings, "trends") for _ in range(3)]
    for i in ids[:2]:
        runs.finish_run(settings, i, runs.COMPLETED, {})
    db.execute("UPDATE trendmine.pipeline_runs SET started_at = now() - interval '100 days' "
               "WHERE run_id = ANY(%s)", ([ids[0], ids[2]],))
    settings.pipeline_runs_keep_days = 90
    assert runs.prune(settings) == 1  # the old completed one; never a running one
    left = [r[0] for r in db.execute(
        "SELECT run_id FROM trendmine.pipeline_runs ORDER BY 1").fetchall()]
    assert left == ids[1:]


def test_intake_serves_metrics_and_logs_the_client_address(services, tmp_path, capfd):
    from .conftest import make_settings
    from .test_intake import SECRET, Running, signed
    from .test_intake import event as intake_event

    s = make_settings(services, tmp_path, intake_secret=SECRET)
    with Running(s) as client:
        body = json.dumps(intake_event(1)).encode()
        assert client.post("/v1/feedback/support_tickets", content=body,
                           headers=signed(body)).status_code == 202
        assert client.post("/v1/feedback/support_tickets", content=body,
                           headers=signed(body, secret="wrong")).status_code == 401
        client.get("/no/such/path/9f3a")
        text = client.get("/metrics").text
    route = 'method="POST",route="/v1/feedback/{source}"'
    assert f'trendmine_intake_requests_total{{{route},status="202"}}' in text
    assert f'trendmine_intake_requests_total{{{route},status="401"}}' in text
    assert 'trendmine_intake_request_duration_seconds_bucket{le="0.005",' + route in text
    assert "9f3a" not in text  # unmatched paths share one series
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    answered = [x for x in lines if x.get("msg") in ("accepted", "refused")]
    assert answered and all(x["client"] == "127.0.0.1" for x in answered)

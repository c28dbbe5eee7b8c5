"""A broker restart under a running worker: Tansu keeps its log in S3 (moto's S3 server, a
real HTTP S3 implementation running in this process), the broker process is stopped and
started again mid-stream, and the long-running worker reconnects: nothing lost, nothing
stored twice, its committed offsets still there."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from infra.embedded import EmbeddedBroker, free_port, port_in_use

from .conftest import make_settings
from .test_hardening import start_worker, wait_rows
from .test_ingest import event, put

moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def s3_broker(tmp_path, monkeypatch):
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{s3._port}"
    bucket = f"tansu-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)  # inherited by the broker process
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    broker = EmbeddedBroker(tmp_path / "broker", free_port(), storage=f"s3://{bucket}/")
    broker.start()
    yield broker
    broker.stop()
    s3.stop()


def _restart(broker: EmbeddedBroker) -> None:
    broker.stop()
    deadline = time.monotonic() + 30
    while port_in_use(broker.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    broker.start()


def test_worker_survives_a_broker_restart(services, s3_broker, tmp_path):
    settings = make_settings(
        {**services, "bootstrap": f"127.0.0.1:{s3_broker.port}"},
        tmp_path,
    )
    put(settings, "support_tickets", [event(i) for i in range(300)])
    thread, stop, result = start_worker(settings)
    with psycopg.connect(settings.dsn(), autocommit=True) as db:
        assert wait_rows(db, 300, timeout=180) == 300
        _restart(s3_broker)
        assert thread.is_alive(), "the worker died with the broker"
        put(settings, "support_tickets", [event(i) for i in range(300, 800)] + [b"{bad"])
        assert wait_rows(db, 800, timeout=180) == 800
        stop.set()
        thread.join(timeout=90)
        assert not thread.is_alive()
        stats = result["stats"]
        assert (stats.stored, stats.rejected) == (800, 1)
        assert db.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM trendmine.feedback"
        ).fetchone() == (800, 800)
        assert db.execute("SELECT count(*) FROM trendmine.dead_letters").fetchone()[0] == 1

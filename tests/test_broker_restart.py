"""A broker restart under a running worker: Tansu keeps its log in S3 (moto's S3 server, a
real HTTP S3 implementation running in this process), the broker process is stopped and
started again mid-stream, and the long-running worker reconnects: nothing lost, nothing
stored twice, its committed offsets still there."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from infra.embedded import EmbeddedBroker, free_port, port_in_use
from ingest.consumer import IngestWorker

from .conftest import make_settings
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
        {"server_url": services["server_url"], "bootstrap": f"127.0.0.1:{s3_broker.port}"},
        tmp_path,
    )
    import psycopg

    stop = threading.Event()
    result: dict = {}
    worker = IngestWorker(settings)
    thread = threading.Thread(
        target=lambda: result.setdefault("stats", worker.run(once=False, stop=stop)),
        daemon=True,
    )
    put(settings, "support_tickets", [event(i) for i in range(300)])
    thread.start()
    with psycopg.connect(settings.dsn(), autocommit=True) as db:

        def wait_rows(n: int) -> int:
            deadline = time.monotonic() + 180
            rows = 0
            while time.monotonic() < deadline:
                rows = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
                if rows >= n:
                    break
                time.sleep(0.3)
            return rows

        assert wait_rows(300) == 300
        _restart(s3_broker)
        assert thread.is_alive(), "the worker died with the broker"
        put(settings, "support_tickets", [event(i) for i in range(300, 800)] + [b"{bad"])
        assert wait_rows(800) == 800
        stop.set()
        thread.join(timeout=90)
        assert not thread.is_alive()
        stats = result["stats"]
        assert (stats.stored, stats.rejected) == (800, 1)
        assert db.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM trendmine.feedback"
        ).fetchone() == (800, 800)
        assert db.execute("SELECT count(*) FROM trendmine.dead_letters").fetchone()[0] == 1

"""Ingestion against the real broker and the real Postgres: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from ingest import dlq
from ingest.consumer import IngestStats, IngestWorker
from ingest.kafka import consumer, producer
from ingest.producer import publish_files, publish_raw
from schemas.names import INGEST_TOPICS

from .conftest import REPO

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def event(i: int, **over) -> dict:
    e = {
        "source": "support_tickets",
        "source_id": f"zd:{i}",
        "account_id": f"acct-{i % 7}",
        "text": f"Ticket {i}: please add SAML single sign-on, reach me at jane{i}@acme.com",
        "created_at": (T0 + timedelta(minutes=i)).isoformat(),
    }
    e.update(over)
    return e


def put(settings, target: str, items) -> int:
    msgs = []
    for it in items:
        value = it if isinstance(it, bytes) else json.dumps(it).encode()
        msgs.append((b"k", value))
    return publish_raw(settings, target, msgs)


def drain(settings) -> IngestStats:
    return IngestWorker(settings).run(once=True)


def test_canonical_events_land_normalised_and_redacted(settings, db):
    put(settings, "support_tickets", [event(i) for i in range(50)])
    stats = drain(settings)
    assert (stats.consumed, stats.stored, stats.rejected) == (50, 50, 0)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 50
    text = db.execute("SELECT text FROM trendmine.feedback WHERE source_id = 'zd:3'").fetchone()[0]
    assert "[EMAIL]" in text and "@acme.com" not in text


BAD = {
    "malformed_json": b'{"source": "support_tickets", "source_id": ',
    "missing_field": json.dumps(
        {"source": "support_tickets", "text": "x", "created_at": T0.isoformat()}
    ).encode(),
    "unknown_source": json.dumps(event(1, source="fax_machine")).encode(),
    "bad_timestamp": json.dumps(event(2, created_at="last tuesday")).encode(),
    "invalid_utf8": json.dumps(event(3)).encode().replace(b"Ticket", b"Ticket \xff\xfe"),
    "empty_text": json.dumps(event(4, text="   ")).encode(),
    "text_too_long": json.dumps(event(5, text="word " * 5000)).encode(),
}


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_bad_record_goes_to_the_dlq_with_its_reason(settings, db, code):
    settings.max_text_chars = 10000
    put(settings, "support_tickets", [BAD[code], event(100)])
    stats = drain(settings)
    assert (stats.stored, stats.rejected) == (1, 1)
    letters = list(dlq.read_all(settings))
    assert len(letters) == 1
    d = letters[0]
    assert d.code == code
    assert d.raw == BAD[code]  # the original bytes, untouched
    assert d.topic == settings.topic("feedback.support_tickets") and d.offset is not None
    assert d.reason
    if code == "text_too_long":
        assert "10000" in d.reason


def test_replay_is_idempotent_and_edits_keep_history(settings, db):
    put(settings, "support_tickets", [event(i) for i in range(10)])
    drain(settings)
    put(settings, "support_tickets", [event(i) for i in range(10)])  # a replay
    edited = event(
        1,
        text="Ticket 1 (edited): SSO is now a renewal blocker",
        updated_at=(T0 + timedelta(days=3)).isoformat(),
    )
    stale = event(
        2, text="an older snapshot must not win", updated_at=(T0 - timedelta(days=3)).isoformat()
    )
    put(settings, "support_tickets", [edited, stale])
    drain(settings)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 10
    row = db.execute(
        "SELECT text, version FROM trendmine.feedback WHERE source_id = 'zd:1'"
    ).fetchone()
    assert row == ("Ticket 1 (edited): SSO is now a renewal blocker", 2)
    assert (
        db.execute("SELECT text FROM trendmine.feedback WHERE source_id = 'zd:2'")
        .fetchone()[0]
        .startswith("Ticket 2")
    )
    hist = db.execute(
        "SELECT h.version, h.created_at FROM trendmine.feedback_history h "
        "JOIN trendmine.feedback USING (feedback_id) WHERE source_id = 'zd:1'"
    ).fetchall()
    assert len(hist) == 1 and hist[0][0] == 1


def test_unknown_account_is_kept_and_joins_when_it_arrives(settings, db):
    put(settings, "ideas", [event(1, source="ideas", source_id="canny:1", account_id="new-co")])
    drain(settings)
    row = db.execute("SELECT account_name FROM trends.feedback").fetchone()
    assert row == (None,)
    put(
        settings,
        "accounts",
        [
            {
                "account_id": "new-co",
                "name": "New Co",
                "segment": "smb",
                "arr": 12000,
                "updated_at": T0.isoformat(),
            },
            {
                "account_id": "new-co",
                "name": "New Co",
                "segment": "Mid-Market",
                "arr": 90000,
                "updated_at": (T0 + timedelta(days=30)).isoformat(),
            },
            {
                "account_id": "new-co",
                "name": "Old snapshot",
                "segment": "smb",
                "arr": 1,
                "updated_at": (T0 - timedelta(days=30)).isoformat(),
            },
        ],
    )
    put(
        settings,
        "opportunities",
        [{"opportunity_id": "o1", "account_id": "new-co", "amount": 50000, "stage": "open"}],
    )
    drain(settings)
    assert db.execute("SELECT account_name, segment, arr FROM trends.feedback").fetchone() == (
        "New Co",
        "mid_market",
        90000,
    )
    assert db.execute("SELECT count(*) FROM trendmine.account_history").fetchone()[0] == 3
    assert db.execute("SELECT open_pipeline FROM trends.accounts").fetchone()[0] == 50000


def test_crash_between_write_and_commit_loses_and_doubles_nothing(settings, db):
    put(settings, "support_tickets", [event(i) for i in range(300)])
    worker = IngestWorker(settings)
    # First worker: writes a batch to Postgres, then "dies" before committing offsets.
    topics = [settings.topic(t) for t in INGEST_TOPICS]
    cons = consumer(settings, *topics, group_id=worker.group_id, max_poll_records=100)
    prod = producer(settings)
    from foundation.db import connect

    conn = connect(settings, autocommit=True)
    records, deadline = [], time.monotonic() + 30
    while not records and time.monotonic() < deadline:
        records = [r for ms in cons.poll(timeout_ms=500).values() for r in ms]
    worker.handle(records, conn=conn, prod=prod, stats=IngestStats())
    cons.close(autocommit=False)
    conn.close()
    prod.close()
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == len(records)
    # Restart: the uncommitted batch is consumed again and upserted idempotently.
    stats = IngestWorker(settings).run(once=True)
    assert stats.consumed == 300
    assert db.execute(
        "SELECT count(*), count(DISTINCT source_id) FROM trendmine.feedback"
    ).fetchone() == (300, 300)


def _cli_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(
        TRENDMINE_DATABASE_URL=settings.dsn(),
        TRENDMINE_KAFKA_BOOTSTRAP=settings.bootstrap(),
        TRENDMINE_TOPIC_PREFIX=settings.topic_prefix,
        TRENDMINE_BATCH_SIZE="500",
        TRENDMINE_IDLE_SECONDS="2",
    )
    return env


def _start_ingest_and_wait(settings, db, n: int, **popen) -> subprocess.Popen:
    """Publish n tickets, start `trendmine ingest` (no --once), return once > 2,000 landed."""
    put(settings, "support_tickets", [event(i) for i in range(n)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "trendmine", "ingest"],
        env=_cli_env(settings),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        **popen,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] > 2000:
            break
        time.sleep(0.1)
    return proc


def _restart_once_and_check_exact(env: dict[str, str], db, n: int) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "trendmine", "ingest", "--once"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert db.execute(
        "SELECT count(*), count(DISTINCT source_id) FROM trendmine.feedback"
    ).fetchone() == (n, n)


def test_ctrl_c_finishes_the_batch_in_hand_then_restart_is_exact(settings, db):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it (transform process
    included): the worker commits what it holds and exits 0; a restart stores the rest."""
    n = 20000
    proc = _start_ingest_and_wait(settings, db, n, stderr=subprocess.PIPE, start_new_session=True)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    landed = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
    assert 0 < landed < n, "the interrupt should land mid-run"
    _restart_once_and_check_exact(_cli_env(settings), db, n)


def test_sigkill_mid_run_then_restart_is_exact(settings, db):
    n = 20000
    proc = _start_ingest_and_wait(settings, db, n, stderr=subprocess.DEVNULL)
    landed = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
    helpers = psutil.Process(proc.pid).children(recursive=True)  # forkserver + transform
    assert helpers, "the transform process should be running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < landed < n, "the kill should land mid-run"
    _, alive = psutil.wait_procs(helpers, timeout=10)
    assert not alive, f"processes left behind by the killed worker: {alive}"
    _restart_once_and_check_exact(_cli_env(settings), db, n)


@pytest.mark.parametrize("processes", [0, 2], ids=["in-thread", "transform-processes"])
def test_produced_equals_stored_plus_rejected(settings, db, processes):
    settings.ingest_processes = processes
    good = [event(i) for i in range(3000)]
    dups = [event(i) for i in range(0, 3000, 10)]  # re-sent records
    bad = [v for v in BAD.values()] * 20
    produced = put(settings, "support_tickets", good + dups + bad)
    stats = drain(settings)
    rejected = len({d.origin for d in dlq.read_all(settings)})
    rows = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
    print(f"produced={produced} stored={stats.stored} rejected={rejected} rows={rows}")
    assert produced == stats.stored + rejected
    assert rejected == len(bad) and rows == len(good)


def test_produce_vendor_files_and_dlq_replay(settings, db):
    fixtures = REPO / "tests" / "fixtures"
    total = 0
    for target_dir in sorted(p for p in fixtures.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in target_dir.iterdir() if f.is_file())
        for f in files:
            try:
                total += publish_files(settings, target_dir.name, [f]).published
            except Exception as exc:  # an ambiguous fixture must say so clearly
                assert "format" in str(exc)
    assert total > 20
    stats = drain(settings)
    assert stats.stored > 0
    assert db.execute("SELECT count(DISTINCT source) FROM trendmine.feedback").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM trendmine.accounts").fetchone()[0] > 0
    # replay: raise the limit, replay text_too_long, and the record lands
    settings.max_text_chars = 50
    put(settings, "support_tickets", [event(9000, text="x " * 40)])
    drain(settings)
    settings.max_text_chars = 20000
    assert len(dlq.replay(settings, code="text_too_long").replayed) == 1
    drain(settings)
    assert (
        db.execute(
            "SELECT count(*) FROM trendmine.feedback WHERE source_id = 'zd:9000'"
        ).fetchone()[0]
        == 1
    )


def test_a_failing_transform_process_falls_back_to_the_worker(settings, db):
    """The transform process fails (here: the batch cannot be sent to it); nothing is lost."""
    put(settings, "ideas", [event(i, source="ideas") for i in range(200)])
    worker = IngestWorker(settings)
    worker.transform.unpicklable = lambda: None  # lambdas cannot cross a process boundary
    stats = worker.run(once=True)
    assert worker.pool_broken
    assert (stats.stored, stats.rejected) == (200, 0)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 200

"""Hostile input against the real broker and Postgres: every record ends stored or dead-lettered
(confirmed, with its stage), never rolling back the good records around it."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from foundation.db import connect
from foundation.errors import ServiceUnavailable, TrendmineError
from ingest import dlq
from ingest.consumer import IngestStats, IngestWorker
from ingest.kafka import producer
from ingest.producer import publish_files
from schemas import names
from schemas.names import INGEST_TOPICS
from tests.conftest import invoke_cli

from .test_ingest import drain, event, put


def _nested_mail(levels: int) -> str:
    html = "<p>the oldest mail</p>"
    for i in range(levels):
        html = f'<div>On Mon {i} Bob wrote:<blockquote type="cite">{html}</blockquote></div>'
    return "<p>Please add SSO for the EU tenant.</p>" + html


POISON = {
    "nul_byte": event(9001, text="NUL in the \x00 middle"),
    "nul_author": event(9002, author="Jane\x00Doe"),
    "nul_metadata": event(9003, metadata={"tags": ["ok", "bad\x00tag"]}),
    "votes": event(9004, source="ideas", source_id="canny:9004", votes=2**31),
    "year_9999": event(9005, created_at="9999-06-01T00:00:00+00:00"),
    "year_1970": event(9006, created_at="1970-01-01T00:00:00+00:00"),
    "metadata_keys": event(9007, metadata={f"k{i}": i for i in range(500)}),
}
CODES = {
    "nul_byte": "nul_byte", "nul_author": "nul_byte", "nul_metadata": "nul_byte",
    "votes": "invalid_field", "year_9999": "timestamp_out_of_range",
    "year_1970": "timestamp_out_of_range", "metadata_keys": "metadata_too_large",
}


def test_poison_records_are_dead_lettered_and_the_rest_of_the_batch_is_stored(settings, db):
    good = [event(i) for i in range(200)]
    feedback = [*good[:100], *(v for k, v in POISON.items() if k != "votes"), *good[100:]]
    nested = event(9100, text=_nested_mail(30))
    produced = put(settings, "support_tickets", [*feedback, nested])
    produced += put(settings, "ideas", [POISON["votes"]])
    produced += put(settings, "accounts", [
        {"account_id": "a1", "name": "Fine", "segment": "smb", "arr": 5000},
        {"account_id": "a2", "name": "Huge", "segment": "smb", "arr": 1e20},
    ])
    stats = drain(settings)
    rows = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
    assert rows == len(good) + 1  # the 30-level mail is stored, quickly, with its new part
    text = db.execute(
        "SELECT text FROM trendmine.feedback WHERE source_id = 'zd:9100'"
    ).fetchone()[0]
    assert text.startswith("Please add SSO for the EU tenant.") and "oldest" not in text
    assert db.execute("SELECT count(*) FROM trendmine.accounts").fetchone()[0] == 1
    letters = {d.origin: d for d in dlq.read_all(settings)}
    assert sorted(d.code for d in letters.values()) == sorted([*CODES.values(), "invalid_field"])
    assert produced == stats.stored + stats.rejected == rows + 1 + len(letters)
    # ... and each is in Postgres too, with its stage, origin and a redacted preview
    ledger = db.execute(
        "SELECT error_code, stage, source_offset, preview FROM trends.dead_letters"
    ).fetchall()
    assert len(ledger) == len(letters)
    assert {(c, s) for c, s, _, _ in ledger} >= {("nul_byte", "validate"),
                                                 ("timestamp_out_of_range", "validate")}
    assert all(o is not None for _, _, o, _ in ledger)
    assert not any("@acme.com" in p for _, _, _, p in ledger)  # the preview is redacted


def test_rows_postgres_refuses_are_bisected_out_of_the_batch(settings, db):
    """A refusal only Postgres knows about (here a CHECK constraint) costs one record."""
    db.execute(
        "ALTER TABLE trendmine.feedback ADD CONSTRAINT no_poison CHECK (text NOT LIKE '%poison%')"
    )
    items = [event(i) for i in range(300)]
    for i in (7, 150, 151, 299):
        items[i] = event(i, text=f"this one is poison {i}")
    produced = put(settings, "support_tickets", items)
    stats = drain(settings)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 296
    letters = list(dlq.read_all(settings))
    assert sorted(d.offset for d in letters) == [7, 150, 151, 299]
    assert {d.code for d in letters} == {"database_rejected"}
    assert {d.stage for d in letters} == {"database"}
    assert produced == stats.stored + stats.rejected
    row = db.execute(
        "SELECT stage, exception_class, reason FROM trends.dead_letters LIMIT 1"
    ).fetchone()
    assert row[0] == "database" and "CheckViolation" in row[1] and "no_poison" in row[2]


def test_dlq_records_carry_connect_headers_and_stay_under_the_size_limit(settings, db):
    settings.dlq_max_bytes = 4096
    big = b'{"source": "support_tickets", "broken": "' + b"x" * 20000
    put(settings, "support_tickets", [big, event(1)])
    drain(settings)
    (letter,) = list(dlq.read_all(settings))
    assert letter.truncated_from == len(big) and len(letter.raw) < 4096
    assert letter.code == "malformed_json" and letter.stage == "parse"
    assert len(letter.reason) <= dlq.MAX_REASON_CHARS
    # replay cannot send a truncated copy back: it stays listed, said to be unreplayable
    res = dlq.replay(settings)
    assert res.replayed == [] and "bytes were kept" in res.unreplayable[0][1]


def test_connect_headers(settings):
    prod = producer(settings)
    meta = dlq.confirm(prod, [dlq.send(
        prod, settings, b"raw", "malformed_json", "why " * 1000, topic="t", partition=2,
        offset=41, stage="parse", exception="pydantic_core.ValidationError",
    )], 10)[0]
    prod.close()
    c_headers = {}
    from kafka import TopicPartition

    from ingest.kafka import consumer
    c = consumer(settings, group_id=None)
    tp = TopicPartition(settings.topic(names.DLQ_TOPIC), meta.partition)
    c.assign([tp])
    c.seek(tp, meta.offset)
    for msgs in c.poll(timeout_ms=5000).values():
        c_headers = dict(msgs[0].headers)
    c.close()
    assert c_headers[names.CONNECT_HEADER_TOPIC] == b"t"
    assert c_headers[names.CONNECT_HEADER_PARTITION] == b"2"
    assert c_headers[names.CONNECT_HEADER_OFFSET] == b"41"
    assert c_headers[names.CONNECT_HEADER_STAGE] == b"parse"
    assert c_headers[names.CONNECT_HEADER_EXCEPTION] == b"pydantic_core.ValidationError"
    assert len(c_headers[names.CONNECT_HEADER_MESSAGE]) <= dlq.MAX_REASON_CHARS


def test_a_dlq_the_broker_refuses_stops_the_batch_and_commits_nothing(settings, db):
    """The broker does not take the dead letter (here: over the producer's request limit):
    the batch's transaction rolls back, so its good rows wait with their offsets."""
    put(settings, "support_tickets", [event(1), b"{" + b" " * 5000, event(2)])
    worker = IngestWorker(settings)
    from ingest.kafka import consumer

    cons = consumer(settings, *[settings.topic(t) for t in INGEST_TOPICS], group_id="g")
    records = []
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while len(records) < 3 and datetime.now(UTC) < deadline:
        records += [r for ms in cons.poll(timeout_ms=500).values() for r in ms]
    cons.close(autocommit=False)
    small = producer(settings, max_request_size=1024)
    conn = connect(settings, autocommit=True)
    with pytest.raises(dlq.DeadLetterUnwritable, match="MessageSizeTooLarge"):
        worker.handle(records, conn=conn, prod=small, stats=IngestStats())
    small.close()
    conn.close()
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM trendmine.dead_letters").fetchone()[0] == 0


def test_dlq_replay_by_code_leaves_the_others_replayable(settings, db):
    settings.max_text_chars = 50
    put(settings, "support_tickets", [
        event(1, text="x " * 40),  # text_too_long
        *[json.dumps(event(10 + i, created_at="soon")).encode() for i in range(3)],
        b"{broken",
    ])
    drain(settings)
    settings.max_text_chars = 20000
    first = dlq.replay(settings, code="text_too_long")
    assert (len(first.replayed), first.done_before) == (1, [])
    again = dlq.replay(settings, code="text_too_long")  # idempotent
    assert (again.replayed, again.done_before) == ([], first.replayed)
    drain(settings)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 1
    pending = db.execute(
        "SELECT error_code, count(*) FROM trends.dead_letters WHERE replayed_at IS NULL "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert pending == [("bad_timestamp", 3), ("malformed_json", 1)]
    assert len(dlq.replay(settings).replayed) == 4  # the rest are still there to replay
    assert dlq.replay(settings).replayed == []


# ---------------------------------------------------------------- honest exits, produce, CLI


def test_ingest_once_that_cannot_join_fails_instead_of_reporting_zero(settings):
    put(settings, "support_tickets", [event(1)])
    with pytest.raises(ServiceUnavailable, match="could not join the consumer group"):
        IngestWorker(settings).run(once=True, join_timeout=0.0)


def test_produce_stops_part_way_and_says_what_was_published(settings, tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text("\n".join(json.dumps(event(i)) for i in range(30)) + "\n")
    with pytest.raises(TrendmineError) as info:
        publish_files(settings, "support_tickets", [str(good), str(tmp_path / "missing.jsonl")])
    assert "no such file" in str(info.value)
    assert "published 30, rejected to the DLQ 0 (1 whole file(s))" in str(info.value)


def test_dlq_cli_prints_stored_markup_as_text(settings, monkeypatch):
    from trendmine import cli_ingest

    put(settings, "support_tickets", [event(1, source="[/x] [bold]fax")])
    drain(settings)
    res = invoke_cli(settings, monkeypatch, cli_ingest.register, "dlq", env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "[/x] [bold]fax" in res.output and "unknown_source: 1" in res.output


def test_pii_is_redacted_in_every_stored_free_text_field(settings, db):
    put(settings, "ideas", [event(
        1, source="ideas", source_id="canny:1",
        text="SSO please; my number is 030 90182077, password: hunter2",
        author="Jane Doe <jane.doe@acme.com>",
        url="https://ideas.acme.example/p/sso?by=jane.doe@acme.com&token=tok_8a7b6c5d4e3f",
        metadata={"reporter": {"email": "jane at acme dot com", "phone": "07700 900461"},
                  "tags": ["sso", "call +1 415 555 0123"], "sku": "SKU 0012-3456-7890"},
    )])
    drain(settings)
    text, author, url, metadata = db.execute(
        "SELECT text, author, url, metadata::text FROM trendmine.feedback"
    ).fetchone()
    assert text == "SSO please; my number is [PHONE], password: [SECRET]"
    assert author == "Jane Doe <[EMAIL]>"
    assert url == "https://ideas.acme.example/p/sso?by=[EMAIL]&token=[SECRET]"
    stored = json.loads(metadata)
    assert stored["reporter"] == {"email": "[EMAIL]", "phone": "[PHONE]"}
    assert stored["tags"] == ["sso", "call [PHONE]"] and stored["sku"] == "SKU 0012-3456-7890"
    # the BI role reads trends.feedback: nothing raw there either
    row = db.execute("SELECT author, url FROM trends.feedback").fetchone()
    assert "@" not in row[0] and "@" not in row[1]


# ---------------------------------------------------------------- outages


def start_worker(settings) -> tuple[threading.Thread, threading.Event, dict]:
    """A long-running IngestWorker in a thread; its stats land in result['stats']."""
    stop = threading.Event()
    result: dict = {}
    worker = IngestWorker(settings)
    thread = threading.Thread(
        target=lambda: result.setdefault("stats", worker.run(once=False, stop=stop)),
        daemon=True,
    )
    thread.start()
    return thread, stop, result


def wait_rows(db, n: int, timeout: float = 90) -> int:
    """Feedback rows once there are n of them (or what there is after timeout seconds)."""
    deadline = time.monotonic() + timeout
    rows = 0
    while time.monotonic() < deadline:
        rows = db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0]
        if rows >= n:
            break
        time.sleep(0.2)
    return rows


def test_worker_survives_its_postgres_connections_being_killed(settings, db):
    """What a Postgres restart looks like to the worker: its connection dies mid-run. The
    batch is retried on a new connection (backoff); nothing is lost or doubled."""
    put(settings, "support_tickets", [event(i) for i in range(500)])
    thread, stop, result = start_worker(settings)
    assert wait_rows(db, 500) == 500
    killed = db.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()[0]
    assert killed >= 1
    put(settings, "support_tickets", [event(i) for i in range(500, 1500)] + [b"{bad"])
    assert wait_rows(db, 1500) == 1500
    stop.set()
    thread.join(timeout=60)
    stats = result["stats"]
    assert (stats.stored, stats.rejected) == (1500, 1)
    assert db.execute(
        "SELECT count(*), count(DISTINCT source_id) FROM trendmine.feedback"
    ).fetchone() == (1500, 1500)
    assert db.execute("SELECT count(*) FROM trendmine.dead_letters").fetchone()[0] == 1


def test_size_and_time_budgets_dead_letter_with_their_stage(settings, db):
    settings.record_time_budget_s = 1e-9  # every record is over it
    settings.max_record_bytes = 2000
    put(settings, "support_tickets", [event(1), event(2, text="x" * 3000)])
    stats = drain(settings)
    assert (stats.stored, stats.rejected) == (0, 2)
    got = dict(db.execute("SELECT error_code, stage FROM trends.dead_letters").fetchall())
    assert got == {"over_budget": "normalise", "record_too_large": "parse"}
    settings.record_time_budget_s = 2.0
    assert len(dlq.replay(settings, code="over_budget").replayed) == 1
    assert drain(settings).stored == 1
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 1


def test_produce_records_its_dead_letters_in_postgres_once(settings, db, tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps(event(1)) + "\n{broken\n")
    stats = publish_files(settings, "support_tickets", [str(f)])
    assert (stats.published, stats.rejected) == (1, 1)
    rows = db.execute("SELECT stage, error_code, source_offset FROM trends.dead_letters").fetchall()
    assert rows == [("produce", "unparseable_canonical", None)]
    listing = dlq.listing(settings)  # syncs the topic's letters: the same one, not a second
    assert listing.total == 1 and listing.by_code == [("unparseable_canonical", 1)]

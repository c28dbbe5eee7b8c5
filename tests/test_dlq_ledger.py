"""The dead-letter ledger against the real broker and Postgres: stable keys across offset
resets, original bytes kept (redacted for BI), incremental topic reads, replay chains, and the
`trendmine dlq` commands' selection, dry runs, JSON and exit codes."""

from __future__ import annotations

import json

import pytest

from foundation.errors import TrendmineError
from ingest import dlq
from ingest.consumer import IngestWorker
from ingest.kafka import producer
from ingest.validate import Rejection
from schemas import names
from tests.conftest import invoke_cli

from .test_ingest import drain, event, put

TOO_LONG = event(1, text="please add SSO " * 10 + " mail jane.doe@acme.com")


def _topic(settings) -> str:  # type: ignore[no-untyped-def]
    return settings.topic("feedback.support_tickets")


def _rows(db) -> list[tuple]:  # type: ignore[no-untyped-def]
    return db.execute(
        "SELECT dead_letter_id, error_code, attempt, first_letter_id, replayed_at IS NOT NULL "
        "FROM trendmine.dead_letters ORDER BY dead_letter_id").fetchall()


def cli(settings, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    from trendmine import cli_ingest

    return invoke_cli(settings, monkeypatch, cli_ingest.register, "dlq", *args,
                      env={"COLUMNS": "250"})


def test_a_reread_keeps_one_row_and_another_record_at_the_same_offset_gets_its_own(settings, db):
    settings.max_text_chars = 100
    put(settings, "support_tickets", [TOO_LONG, b"{broken", event(2)])
    drain(settings)
    assert len(_rows(db)) == 2
    # an offset reset: another group reads the topic again from the start
    IngestWorker(settings, group_id=settings.topic("reset-group")).run(once=True)
    assert len(_rows(db)) == 2
    assert db.execute("SELECT count(*) FROM trendmine.dead_letters "
                      "WHERE last_rejected_at IS NOT NULL").fetchone()[0] == 2
    # a topic reset: other records arrive at the offsets of the old ones
    offsets = [o for (o,) in db.execute(
        "SELECT source_offset FROM trendmine.dead_letters ORDER BY 1").fetchall()]
    letters = [dlq.Letter(b"{other" + str(o).encode(), Rejection("malformed_json", "bad"),
                          _topic(settings), 0, o) for o in offsets]
    with db.transaction():
        dlq.record(db, settings, letters, [None] * len(letters))
    assert len(_rows(db)) == 4  # none dropped
    originals = {bytes(r[0]) for r in db.execute(
        "SELECT original FROM trendmine.dead_letters").fetchall()}
    assert {b"{broken", json.dumps(TOO_LONG).encode()} <= originals


def test_ledger_keeps_the_original_bytes_and_bi_sees_only_redacted_text(settings, db):
    settings.max_text_chars = 100
    raw = json.dumps(TOO_LONG).encode()
    put(settings, "support_tickets", [raw])
    drain(settings)
    original, key, source_id, sha = db.execute(
        "SELECT original, letter_key, source_id, content_sha256 FROM trendmine.dead_letters"
    ).fetchone()
    assert bytes(original) == raw and source_id == "zd:1" and len(key) == 64
    assert key == dlq.identity(_topic(settings), raw).key and sha == dlq.identity(None, raw).sha256
    view_cols = {r[0] for r in db.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'trends' AND table_name = 'dead_letters'").fetchall()}
    assert "original" not in view_cols and "record_key" not in view_cols
    redacted, preview = db.execute("SELECT redacted, preview FROM trends.dead_letters").fetchone()
    assert "jane.doe@acme.com" not in redacted + preview and "[EMAIL]" in redacted


def test_replay_works_from_the_ledger_and_a_second_failure_links_to_the_first(settings, db):
    settings.max_text_chars = 100
    put(settings, "support_tickets", [TOO_LONG])
    drain(settings)
    ((first, *_),) = _rows(db)
    assert dlq.replay(settings).replayed == [first]
    drain(settings)  # still too long: rejected again, as attempt 1 of the same letter
    assert [r[1:] for r in _rows(db)] == [("text_too_long", 0, None, True),
                                          ("text_too_long", 1, first, False)]
    second = _rows(db)[1][0]
    assert dlq.replay(settings).replayed == [second]
    drain(settings)
    assert _rows(db)[2][2:4] == (2, first)  # every retry points at the first letter
    settings.max_text_chars = 20000
    dlq.replay(settings)
    drain(settings)
    assert db.execute("SELECT count(*) FROM trendmine.feedback").fetchone()[0] == 1
    (shown,) = dlq.show(settings, [first])
    assert shown["failed_replays"] == [second, _rows(db)[2][0]] and "original" not in shown


def test_letters_only_on_the_topic_are_read_incrementally_and_after_a_reset_again(settings, db):
    prod = producer(settings)
    topic = _topic(settings)

    def send(i: int) -> None:
        dlq.confirm(prod, [dlq.send(prod, settings, b"{bad %d" % i, "malformed_json", "bad",
                                    topic=topic)], 10)

    try:
        for i in range(3):
            send(i)
        assert dlq.sync(db, settings) == 3
        assert dlq.sync(db, settings) == 0  # nothing new: nothing re-read
        send(3)
        assert dlq.sync(db, settings) == 1
        assert len(_rows(db)) == 4
        # a cursor whose last record is not there any more: the topic was reset
        db.execute(f"UPDATE {names.DEAD_LETTER_CURSOR_TABLE} SET last_key = 'other'")
        assert dlq.sync(db, settings) == 4
        assert len(_rows(db)) == 4  # read again, recorded once
    finally:
        prod.close()


def test_a_row_from_before_the_ledger_adopts_its_bytes_from_the_topic(settings, db):
    prod = producer(settings)
    raw = json.dumps(event(5, created_at="soon")).encode()
    try:
        dlq.confirm(prod, [dlq.send(prod, settings, raw, "bad_timestamp", "bad",
                                    topic=_topic(settings), partition=0, offset=7)], 10)
    finally:
        prod.close()
    db.execute(
        "INSERT INTO trendmine.dead_letters (letter_key, source_topic, source_partition, "
        "source_offset, stage, error_code, reason, value_bytes, preview, dlq_topic) "
        "VALUES ('legacy:1', %s, 0, 7, 'validate', 'bad_timestamp', 'bad', %s, '', %s), "
        "       ('legacy:2', %s, 0, 8, 'validate', 'bad_timestamp', 'bad', 10, '', %s)",
        (_topic(settings), len(raw), settings.topic(names.DLQ_TOPIC), _topic(settings),
         settings.topic(names.DLQ_TOPIC)),
    )
    dlq.sync(db, settings)
    rows = db.execute("SELECT letter_key, original IS NOT NULL FROM trendmine.dead_letters "
                      "ORDER BY dead_letter_id").fetchall()
    assert rows == [(dlq.identity(_topic(settings), raw).key, True), ("legacy:2", False)]
    res = dlq.replay(settings)
    assert len(res.replayed) == 1
    assert len(res.unreplayable) == 1 and "no longer on" in res.unreplayable[0][1]


def test_dlq_commands_select_dry_run_discard_and_exit_honestly(settings, db, monkeypatch):
    settings.max_text_chars = 100
    put(settings, "support_tickets", [TOO_LONG, b"{broken"])
    drain(settings)
    ids = {code: i for i, code, *_ in _rows(db)}

    res = cli(settings, monkeypatch, "replay", "--code", "no_such_code")
    assert res.exit_code != 0 and "known codes: malformed_json, text_too_long" in str(
        res.exception or res.output)
    with pytest.raises(TrendmineError, match="no dead letter with id 999"):
        dlq.replay(settings, ids=[999])

    res = cli(settings, monkeypatch, "list", "--format", "json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    assert listed["total"] == 2 and listed["by_code"] == {"malformed_json": 1, "text_too_long": 1}
    assert all("original" not in row for row in listed["letters"])

    res = cli(settings, monkeypatch, "replay", "--id", str(ids["text_too_long"]), "--dry-run",
              "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["replayed"] == [ids["text_too_long"]]
    assert not any(r[4] for r in _rows(db))  # a dry run changes nothing

    res = cli(settings, monkeypatch, "discard", "--code", "malformed_json")
    assert res.exit_code == 0 and "discarded 1" in res.output
    assert db.execute("SELECT original FROM trendmine.dead_letters WHERE dead_letter_id = %s",
                      (ids["malformed_json"],)).fetchone()[0] is None

    res = cli(settings, monkeypatch, "replay")
    assert res.exit_code == 0, res.output
    assert "replayed 1; 1 selected were replayed or discarded before" in res.output

    res = cli(settings, monkeypatch, "show", "--id", str(ids["text_too_long"]), "--format",
              "json")
    (shown,) = json.loads(res.output)
    assert shown["replayed_at"] and shown["source_id"] == "zd:1"


def test_replay_of_letters_whose_bytes_are_gone_exits_1_and_says_so(settings, db, monkeypatch):
    db.execute(
        "INSERT INTO trendmine.dead_letters (letter_key, source_topic, source_partition, "
        "source_offset, stage, error_code, reason, value_bytes, preview, dlq_topic) "
        "VALUES ('legacy:1', %s, 0, 3, 'validate', 'bad_timestamp', 'bad', 10, '', %s)",
        (_topic(settings), settings.topic(names.DLQ_TOPIC)),
    )
    res = cli(settings, monkeypatch, "replay", "--code", "bad_timestamp")
    assert res.exit_code == 1
    assert "cannot replay 1: its original bytes were not kept" in res.output
    assert "stay replayable" not in res.output

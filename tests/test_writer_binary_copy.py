"""The feedback writer stages rows with a binary COPY (encoded by the transform): values must
land exactly as a text COPY stored them, and a value the columns cannot hold must still be
refused (and isolated), not wrapped around: psycopg's binary int4 silently turns 2**31 into
-2**31. Duplicates of one record in a batch keep the newest, then the later arrival."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.writer import (
    FEEDBACK_COLS,
    encode_feedback,
    text_hash,
    write_feedback,
    write_isolated,
)

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def _row(i: int, **over) -> tuple:
    text = over.pop("text", f"Ticket {i}: SAML SSO, café ünïcode, tab\there, quote \" and \\")
    values = {
        "source": "support_tickets", "source_id": f"zd:{i}", "account_id": f"A-{i}",
        "account_ref": None,
        "opportunity_id": None, "author": "Jane [EMAIL]", "votes": i, "url": None,
        "text": text, "text_hash": text_hash(text),
        "metadata": json.dumps({"tags": ["a", "é"], "n": 1.5, "deep": {"x": None}}),
        "created_at": T0 + timedelta(minutes=i), "updated_at": None,
        "kafka_topic": "feedback.support_tickets", "kafka_partition": 0, "kafka_offset": i,
        **over,
    }
    return tuple(values[c] for c in FEEDBACK_COLS)


def test_rows_round_trip_through_the_binary_stage(db):
    plus_two = timezone(timedelta(hours=2))
    rows = [
        _row(0),
        _row(1, created_at=datetime(2026, 3, 2, 11, 0, tzinfo=plus_two),
             updated_at=datetime(2026, 3, 3, 0, 0, 0, 1, tzinfo=plus_two), votes=None,
             metadata="{}", url="https://x.example/t/1", opportunity_id="opp-1"),
        _row(2, kafka_offset=2**40, kafka_partition=7, votes=2**31 - 1),
    ]
    with db.transaction():
        changed, refused = write_isolated(db, write_feedback, [encode_feedback(r) for r in rows])
    assert (changed, refused) == (3, [])
    got = db.execute(
        f"SELECT {', '.join(FEEDBACK_COLS)} FROM trendmine.feedback ORDER BY source_id"
    ).fetchall()
    meta = FEEDBACK_COLS.index("metadata")
    for stored, sent in zip(got, rows, strict=True):
        assert stored[meta] == json.loads(sent[meta])  # jsonb comes back parsed
        assert stored[:meta] + stored[meta + 1:] == sent[:meta] + sent[meta + 1:]


def test_values_the_columns_cannot_hold_are_refused_not_wrapped(db):
    rows = [
        _row(0),
        _row(1, votes=2**31),  # one past int4
        _row(2, kafka_partition=2**31),
        _row(3),
    ]
    with db.transaction():
        changed, refused = write_isolated(db, write_feedback, [encode_feedback(r) for r in rows])
    assert changed == 2
    assert sorted(i for i, _ in refused) == [1, 2]
    stored = db.execute("SELECT source_id FROM trendmine.feedback ORDER BY 1").fetchall()
    assert stored == [("zd:0",), ("zd:3",)]
    with pytest.raises(OverflowError):  # past int8: refused before it is sent
        encode_feedback(_row(4, kafka_offset=2**63))


def test_a_batch_keeps_the_newest_copy_of_each_record(db):
    later = T0 + timedelta(hours=1)
    rows = [
        _row(0, text="first"),
        _row(0, text="edited", updated_at=later),
        _row(0, text="stale", updated_at=T0),  # arrives last, but older
        _row(1, text="one"),
        _row(1, text="one, again"),  # same stamp: the later arrival wins
    ]
    with db.transaction():
        changed, refused = write_isolated(db, write_feedback, [encode_feedback(r) for r in rows])
    assert (changed, refused) == (2, [])
    stored = db.execute("SELECT source_id, text FROM trendmine.feedback ORDER BY 1").fetchall()
    assert stored == [("zd:0", "edited"), ("zd:1", "one, again")]


def test_an_edit_keeps_the_version_it_replaces_and_a_replay_keeps_nothing(db):
    def write(*rows: tuple) -> None:
        with db.transaction():
            write_feedback(db, [encode_feedback(r) for r in rows])

    write(_row(0, text="first"), _row(1))
    write(_row(0, text="first"), _row(1))  # a replay: nothing changes
    write(_row(1, votes=99))  # a newer vote count alone is not a new version of the text
    write(_row(0, text="edited", updated_at=T0 + timedelta(hours=1)))
    hist = db.execute(
        "SELECT f.source_id, h.version, h.text_hash FROM trendmine.feedback_history h "
        "JOIN trendmine.feedback f USING (feedback_id)"
    ).fetchall()
    assert hist == [("zd:0", 1, text_hash("first"))]
    assert db.execute(
        "SELECT version FROM trendmine.feedback ORDER BY source_id"
    ).fetchall() == [(2,), (2,)]

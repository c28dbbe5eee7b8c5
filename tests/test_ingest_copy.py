"""The transform formats feedback rows as COPY text itself (ingest.writer.copy_line), so the
worker's writer thread only streams bytes. What lands in Postgres must be exactly what
psycopg's own adaptation of the same values stores, for every awkward value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.transform import Message, Messages
from ingest.writer import FEEDBACK_COLS, FeedbackRow, copy_line, prepared_row, write_feedback

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
AWKWARD_TEXT = [
    "plain",
    "tab\there, newline\nthere, CR\rand CRLF\r\n",
    "back\\slash \\N \\. and \\t literally",
    "\\",
    "unicode: é ü ß 日本語 🚀 \u2028 \u00a0 end",
    "quotes ' \" and a tab at the end\t",
]


def _values(i: int, text: str, **over) -> tuple:
    row = {
        "source": "support_tickets",
        "source_id": f"zd:{i}\\x\t",
        "account_id": None if i % 2 else f"A-{i}\n",
        "opportunity_id": None,
        "author": "Jane \\ Doe" if i % 3 == 0 else None,
        "votes": None if i % 2 else i * 1000,
        "url": "https://x.test/a?b=c\td" if i % 2 == 0 else None,
        "text": text,
        "text_hash": f"{i:064d}",
        "metadata": json.dumps({"k": text, "n": [1, 2.5, None, True], "bs": "a\\b"}),
        "created_at": T0 + timedelta(days=i),
        "updated_at": None if i % 2 else (T0 + timedelta(days=i, hours=1)).astimezone(
            timezone(timedelta(hours=-7, minutes=-30))
        ),
        "kafka_topic": "t.feedback.support_tickets",
        "kafka_partition": i % 3,
        "kafka_offset": 1000 + i,
    }
    row.update(over)
    return tuple(row[c] for c in FEEDBACK_COLS)


def _stored(db, prefix: str) -> list[tuple]:
    cols = ", ".join(c for c in FEEDBACK_COLS if c != "source_id")
    return db.execute(
        f"SELECT replace(source_id, %s, ''), {cols} FROM trendmine.feedback "
        "WHERE source_id LIKE %s ORDER BY 1",
        (prefix, prefix + "%"),
    ).fetchall()


def test_preformatted_copy_lines_store_what_psycopg_would(db):
    values = [_values(i, t) for i, t in enumerate(AWKWARD_TEXT)]
    lines = [prepared_row(v) for v in values]
    assert all(isinstance(r.copy, bytes) for r in lines)

    def with_prefix(v: tuple, prefix: str) -> tuple:
        return (v[0], prefix + v[1], *v[2:])

    fast = [prepared_row(with_prefix(v, "fast:")) for v in values]
    slow = [  # the same values, left for psycopg to adapt (the fallback path)
        FeedbackRow(r.key, r.stamp, r.origin, with_prefix(v, "slow:"))
        for r, v in zip(lines, values, strict=True)
    ]
    with db.transaction():
        assert write_feedback(db, fast) == len(values)
    with db.transaction():
        assert write_feedback(db, slow) == len(values)
    stored_fast, stored_slow = _stored(db, "fast:"), _stored(db, "slow:")
    assert len(stored_fast) == len(values)
    assert stored_fast == stored_slow
    texts = {row[FEEDBACK_COLS.index("text")] for row in stored_fast}
    assert texts == set(AWKWARD_TEXT)


def test_values_copy_cannot_carry_are_left_to_psycopg():
    assert copy_line(_values(1, "a NUL \x00 inside")) is None
    assert copy_line(_values(1, "a lone surrogate \ud800")) is None
    row = prepared_row(_values(1, "lone \udc80"))
    assert isinstance(row.copy, tuple)  # psycopg refuses it row by row, as before


def test_the_newest_edit_wins_within_a_batch(db):
    older = prepared_row(_values(2, "older text"))
    newer_values = list(_values(2, "newer text"))
    newer_values[FEEDBACK_COLS.index("updated_at")] = T0 + timedelta(days=30)
    newer = prepared_row(tuple(newer_values))
    with db.transaction():
        assert write_feedback(db, [newer, older]) == 1
    (text,) = db.execute(
        "SELECT text FROM trendmine.feedback WHERE source_id = %s", (older.key[1],)
    ).fetchone()
    assert text == "newer text"


def test_messages_cross_as_columns_and_come_back_as_rows():
    msgs = [Message("t", p, o, 1700000000000 + o, b"k", b"{}") for p, o in [(0, 5), (2, 9)]]
    cols = Messages.of(msgs)
    assert cols.offsets == [5, 9] and cols.partitions == [0, 2]
    assert cols.rows() == msgs


@pytest.mark.parametrize("encoding", ["LATIN1"])
def test_a_non_utf8_connection_still_stores_the_lines(db, encoding):
    db.execute(f"SET client_encoding TO {encoding}")
    row = prepared_row(_values(4, "café, naïve"))
    with db.transaction():
        assert write_feedback(db, [row]) == 1
    db.execute("SET client_encoding TO UTF8")
    (text,) = db.execute(
        "SELECT text FROM trendmine.feedback WHERE source_id = %s", (row.key[1],)
    ).fetchone()
    assert text == "café, naïve"

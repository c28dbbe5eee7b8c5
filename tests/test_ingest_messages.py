"""The worker sends each batch to its transform process as columns (ingest.transform.Messages):
six lists pickle ~10x cheaper than a list of Message tuples, a cost the worker's fetching
thread would otherwise pay per record. The transform must see the same records either way."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

from ingest.transform import Message, Messages, Transformer
from schemas.names import Source, feedback_topic

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _value(i: int) -> bytes:
    if i % 5 == 4:
        return b'{"source": broken'
    return json.dumps({
        "source": "support_tickets", "source_id": f"zd:{i}", "account_id": f"A-{i % 3}",
        "text": f"Ticket {i}: SAML SSO please, write to jane{i}@acme.com",
        "created_at": (T0 + timedelta(hours=i)).isoformat(),
    }).encode()


def test_columns_cross_a_process_boundary_and_transform_like_rows():
    topic = feedback_topic(Source.SUPPORT_TICKETS)
    msgs = [Message(topic, i % 2, 100 + i, 1700000000000 + i, b"k", _value(i)) for i in range(20)]
    cols = pickle.loads(pickle.dumps(Messages.of(msgs)))
    assert cols.offsets == [m.offset for m in msgs]
    assert cols.rows() == msgs
    transform = Transformer({topic: Source.SUPPORT_TICKETS}, max_text_chars=20000)
    by_rows, by_cols = transform(msgs), transform(cols)
    assert by_cols.feedback == by_rows.feedback and len(by_cols.feedback) == 16
    assert by_cols.rejects == by_rows.rejects
    assert [i for i, _ in by_cols.rejects] == [4, 9, 14, 19]
    assert all(b"[EMAIL]" in row and b"@acme" not in row for row in by_cols.feedback)
    assert by_cols.feedback_index == [i for i in range(20) if i % 5 != 4]
    assert not by_cols.repeats


def test_a_record_twice_in_a_batch_is_flagged_for_the_writer_to_dedupe():
    topic = feedback_topic(Source.SUPPORT_TICKETS)
    ideas = feedback_topic(Source.IDEAS)
    transform = Transformer(
        {topic: Source.SUPPORT_TICKETS, ideas: Source.IDEAS}, max_text_chars=20000
    )
    same_id_other_source = json.loads(_value(0)) | {"source": "ideas"}
    msgs = [
        Message(topic, 0, 0, 0, None, _value(0)),
        Message(ideas, 0, 0, 0, None, json.dumps(same_id_other_source).encode()),
    ]
    assert not transform(msgs).repeats  # (source, source_id) is the key
    assert transform([*msgs, Message(topic, 0, 1, 0, None, _value(0))]).repeats

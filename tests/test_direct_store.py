"""ingest.direct.store_files: vendor files into the real Postgres without a broker.

The records must land as the worker would store them (same validation, normalisation and
redaction), all in one transaction, idempotently; a small demo world must arrive complete.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demoworld import generate_world
from demoworld.load import load_world
from foundation.errors import TrendmineError
from ingest.consumer import IngestWorker
from ingest.direct import store_files
from ingest.transform import Transformer

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _ticket(i: int, **over) -> dict:
    e = {"source": "support_tickets", "source_id": f"zd:{i}", "account_id": f"A-{i % 2 + 1}",
         "text": f"Ticket {i}: we need SAML SSO, write to jane{i}@acme.com",
         "created_at": (T0 + timedelta(hours=i)).isoformat()}
    e.update(over)
    return e


def _jsonl(path: Path, lines: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.fixture
def files(tmp_path) -> dict[str, list[Path]]:
    tickets = [_ticket(i) for i in range(20)]
    bad = [
        _ticket(100, priority="high"),  # unknown_field
        _ticket(101, text="   "),  # empty_text
        _ticket(102, created_at="last Tuesday"),  # bad_timestamp
        '{"source": "support_tickets", "source_id": "zd:103", "text": "cut off',  # not JSON
    ]
    accounts = [
        {"account_id": "A-1", "name": "Tiny Co", "segment": "smb", "arr": 1200.0,
         "updated_at": T0.isoformat()},
        {"account_id": "A-1", "name": "Tiny Co", "segment": "smb", "arr": 2400.0,
         "updated_at": (T0 + timedelta(days=30)).isoformat()},
        {"account_id": "A-2", "name": "Mid Co", "segment": "mid_market", "arr": 56000},
    ]
    return {
        "accounts": [_jsonl(tmp_path / "accounts" / "accounts.jsonl", accounts)],
        "support_tickets": [_jsonl(tmp_path / "tickets" / "tickets.jsonl", tickets + bad)],
    }


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM trendmine.{table}").fetchone()[0]


def test_store_files_lands_records_as_the_worker_would(settings, db, files):
    counts = store_files(settings, files, received_at=T0)
    assert (counts.files, counts.parsed, counts.unparseable) == (2, 26, 1)
    assert counts.rejected == Counter(unknown_field=1, empty_text=1, bad_timestamp=1)
    assert counts.stored == 23 and counts.feedback == 20 and counts.accounts == 2
    assert _count(db, "feedback") == 20
    texts = [r[0] for r in db.execute("SELECT text FROM trendmine.feedback")]
    assert all("[EMAIL]" in t and "@acme.com" not in t for t in texts)  # redacted
    assert _count(db, "account_history") == 3
    arr = dict(db.execute("SELECT account_id, arr FROM trendmine.accounts").fetchall())
    assert arr == {"A-1": 2400.0, "A-2": 56000.0}  # the newest snapshot wins
    # A-2 has no updated_at of its own: it is stamped with the time it was received.
    assert db.execute("SELECT updated_at FROM trendmine.accounts WHERE account_id = 'A-2'"
                      ).fetchone()[0] == T0
    offsets = sorted(r[0] for r in db.execute("SELECT kafka_offset FROM trendmine.feedback"))
    assert offsets == list(range(20))  # positions in the file, as on the topic

    again = store_files(settings, files, received_at=T0)
    assert again.feedback == 0 and _count(db, "feedback") == 20  # idempotent
    assert _count(db, "account_history") == 3


def test_a_bad_target_or_missing_file_stores_nothing(settings, db, files, tmp_path):
    with pytest.raises(TrendmineError, match="unknown target"):
        store_files(settings, {**files, "tweets": files["support_tickets"]})
    with pytest.raises(TrendmineError, match="no such file"):
        store_files(settings, {**files, "ideas": [tmp_path / "missing.json"]})
    assert _count(db, "feedback") == 0 and _count(db, "accounts") == 0


def test_the_transformer_is_configured_as_the_workers(settings):
    settings.max_text_chars, settings.redact_pii = 123, False
    ours, worker = Transformer.from_settings(settings), IngestWorker(settings).transform
    assert ours.kinds == worker.kinds
    assert (ours.max_text_chars, ours.redactor.enabled) == (123, False)
    assert (worker.max_text_chars, worker.redactor.enabled) == (123, False)
    assert ours.limits == worker.limits


def test_a_small_demo_world_arrives_complete(settings, db, tmp_path):
    world = generate_world(seed=3, n_accounts=40, n_feedback=1000, weeks=6)
    counts = load_world(settings, world, tmp_path / "world")
    assert not counts.rejected and not counts.unparseable
    assert counts.feedback == world.n_feedback
    by_source = dict(db.execute(
        "SELECT source, count(*) FROM trendmine.feedback GROUP BY source").fetchall())
    assert by_source == {s: len(rs) for s, rs in world.feedback.items()}
    assert _count(db, "accounts") == len(world.accounts)
    assert _count(db, "account_history") == len(world.account_snapshots)
    assert _count(db, "opportunities") == len(world.opportunities)

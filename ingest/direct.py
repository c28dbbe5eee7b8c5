"""Store vendor export files in Postgres without a broker: for tests, benchmarks and backfills.

    counts = store_files(settings, {"accounts": [path, ...], "support_tickets": [...]})
    counts.feedback, counts.rejected, counts.unparseable

The records take the path of `trendmine produce` + `trendmine ingest`, minus Kafka: the
connectors parse each file (its format detected as `produce` does), the worker's own
Transformer (`Transformer.from_settings`: same topics, record limits and redaction)
validates, normalises and redacts them, and the writer upserts all of them in one
transaction: the files are stored completely or not at all, and storing them again
changes nothing. Without a broker there is no dead-letter topic: unparseable and rejected
records are counted (rejections by the worker's codes), not kept.

Each record is stored as if it were a message of its target's topic (partition 0, offsets
counted per topic from 0 in each call) received at `received_at`, which is also the snapshot
time of an account or deal without its own updated_at, as Kafka's timestamp is for the worker.
Everything is held in memory until the one write: split a backfill of millions of records
into several calls.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from foundation.config import Settings
from foundation.db import connect
from foundation.errors import TrendmineError
from ingest import connectors
from ingest.producer import resolve_format, topic_for
from ingest.transform import Message, Transformed, Transformer
from ingest.writer import write_accounts, write_feedback, write_opportunities


@dataclass
class StoreCounts:
    files: int = 0
    parsed: int = 0  # records the connectors read from the files
    unparseable: int = 0  # records no connector could map (`produce` dead-letters them)
    rejected: Counter[str] = field(default_factory=Counter)  # by code, as the worker's DLQ
    feedback: int = 0  # feedback rows inserted or changed
    accounts: int = 0  # accounts upserted (the newest snapshot per account)
    opportunities: int = 0  # deals upserted (the newest snapshot per deal)

    @property
    def stored(self) -> int:
        """Records that reached a table (a duplicate or an older snapshot included)."""
        return self.parsed - sum(self.rejected.values())


def store_files(
    settings: Settings,
    files_by_target: Mapping[str, Iterable[Path | str]],
    *,
    received_at: datetime | None = None,
) -> StoreCounts:
    """Parse, transform and store every file (target -> paths) in one transaction."""
    transform = Transformer.from_settings(settings)
    stamp = int((received_at or datetime.now(UTC)).timestamp() * 1000)
    counts, batch, offsets = StoreCounts(), Transformed(), Counter[str]()
    for target, paths in files_by_target.items():
        topic = settings.topic(topic_for(target))
        for path in paths:
            messages: list[Message] = []
            for item in _parse(target, Path(path), counts):
                key = item.key.encode() if item.key else None
                value = json.dumps(item.value).encode()
                messages.append(Message(topic, 0, offsets[topic], stamp, key, value))
                offsets[topic] += 1
            part = transform(messages)
            batch.feedback += part.feedback
            batch.accounts += part.accounts
            batch.opportunities += part.opportunities
            counts.rejected.update(rejection.code for _, rejection in part.rejects)
    with connect(settings, autocommit=True) as conn, conn.transaction():
        counts.accounts = write_accounts(conn, batch.accounts)
        counts.opportunities = write_opportunities(conn, batch.opportunities)
        counts.feedback = write_feedback(conn, batch.feedback)
    return counts


def _parse(target: str, path: Path, counts: StoreCounts) -> Iterable[connectors.Parsed]:
    if not path.is_file():
        raise TrendmineError(f"no such file: {path}", "give the path of an export file")
    data = path.read_bytes()
    fmt = resolve_format(target, None, data, path.name)
    try:
        items = list(connectors.parse(target, fmt, data))
    except ValueError as exc:  # the file as a whole is not the format it was taken for
        raise TrendmineError(f"{path.name}: {exc}", "check the file's format") from exc
    counts.files += 1
    for item in items:
        if isinstance(item, connectors.Unparseable):
            counts.unparseable += 1
        else:
            counts.parsed += 1
            yield item

"""Load a generated world straight into Postgres, without Kafka (tests and benchmarks).

The records take the same path as `trendmine ingest` minus the broker: the vendor files are
parsed by `ingest.connectors`, then `IngestWorker.transform` validates, normalises and
redacts them, and the `ingest.writer` upserts them in one transaction.
"""

from __future__ import annotations

import json
from pathlib import Path

from demoworld.world import World
from demoworld.writers import BAD_DIR, write_world
from foundation.config import Settings
from foundation.db import connect
from ingest import connectors
from ingest.consumer import IngestWorker
from ingest.producer import topic_for
from ingest.transform import Message
from ingest.writer import write_accounts, write_feedback, write_opportunities

# Accounts and deals first, as `trendmine demo` publishes them.
_ORDER = ("accounts", "opportunities", "crm_notes", "support_tickets", "ideas", "sales_calls")


def load_world(settings: Settings, world: World, workdir: Path) -> dict[str, int]:
    """Write `world` in vendor formats under `workdir` and store it; returns counts.

    The deliberately broken records under ``bad/`` are skipped (they would go to the DLQ).
    """
    files = write_world(world, workdir)
    stamp = int(world.end.timestamp() * 1000)
    messages: list[Message] = []
    for target in sorted(files, key=lambda t: _ORDER.index(t) if t in _ORDER else 99):
        topic = settings.topic(topic_for(target))
        for path in files[target]:
            if path.parent.name == BAD_DIR:
                continue
            data = path.read_bytes()
            fmt = connectors.detect_format(target, data[:65536], path.name)
            for item in connectors.parse(target, fmt, data):
                if isinstance(item, connectors.Parsed):
                    messages.append(Message(
                        topic, 0, len(messages), stamp,
                        item.key.encode() if item.key else None, json.dumps(item.value).encode()))
    batch = IngestWorker(settings).transform(messages)
    with connect(settings, autocommit=True) as conn, conn.transaction():
        write_accounts(conn, batch.accounts)
        write_opportunities(conn, batch.opportunities)
        stored = write_feedback(conn, batch.feedback)
    return {"messages": len(messages), "feedback": stored, "rejected": len(batch.rejects)}

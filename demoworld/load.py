"""Load a generated world straight into Postgres, without Kafka (tests and benchmarks).

The vendor files take the ingest path minus the broker (`ingest.direct.store_files`):
connectors, the worker's validation / normalisation / redaction, the writer, one transaction.
"""

from __future__ import annotations

from pathlib import Path

from demoworld.world import World
from demoworld.writers import BAD_DIR, write_world
from foundation.config import Settings
from ingest.direct import StoreCounts, store_files


def load_world(settings: Settings, world: World, workdir: Path) -> StoreCounts:
    """Write `world` in vendor formats under `workdir` and store it, stamped at the world's end.

    The deliberately broken records under ``bad/`` are left out (they would go to the DLQ).
    """
    files = write_world(world, workdir)
    good = {t: [p for p in paths if p.parent.name != BAD_DIR] for t, paths in files.items()}
    return store_files(settings, good, received_at=world.end)

"""A seeded demo world of B2B SaaS customer feedback, written in the vendors' export formats.

    world = generate_world(seed=7)                # 240 accounts, 20,000 records, 16 weeks
    paths = write_world(world, Path("demo-data"))  # {"crm_notes": [...], "accounts": [...]}
    world.planted                                 # the ground truth: which trends were planted

Each written file parses with ``ingest.connectors`` (formats auto-detected) without a single
Unparseable record, except the deliberately broken canonical lines under ``bad/``
(``world.expected_rejects`` of them, listed last under their target). Re-exported
duplicates: ``world.expected_duplicates``. The text (themes, templates, names) lives in
``data/*.yaml``, read once by ``resources.py``; this package holds the logic.
"""

from __future__ import annotations

from demoworld.world import DEFAULT_END, World, generate_world
from demoworld.writers import BAD_DIR, TARGETS, write_world

__all__ = ["BAD_DIR", "DEFAULT_END", "TARGETS", "World", "generate_world", "write_world"]

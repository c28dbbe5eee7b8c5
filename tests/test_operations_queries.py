"""Every SQL block in docs/operations.md runs on a migrated database (a monitoring query that
names a column that does not exist fails here, not at 3 a.m.)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from warehouse import runs

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_monitoring_section_has_its_queries():
    assert len(BLOCKS) >= 5
    assert any("trends.dead_letters" in b for b in BLOCKS)


@pytest.mark.parametrize("sql", BLOCKS, ids=[b.split("\n")[0][:40] for b in BLOCKS])
def test_every_sql_block_runs(settings, db, sql):
    run_id = runs.start_run(settings, "mine")
    runs.finish_run(settings, run_id, runs.COMPLETED, {"mine": {"pool": 3}})
    db.execute(sql).fetchall()

"""Horizontal ingest: several `trendmine ingest` processes in one consumer group, against the
real broker and Postgres. One member is SIGKILLed mid-stream and one joins late: nothing is
lost, nothing is doubled, and the partitions spread over the members."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from ingest.producer import publish_raw

from .conftest import REPO
from .test_ingest import _cli_env, event

ACCOUNTS = 97  # distinct keys, so the records spread over every partition


def _publish(settings, start: int, n: int) -> None:
    msgs = []
    for i in range(start, start + n):
        account = f"acct-{i % ACCOUNTS}"
        msgs.append((account.encode(), json.dumps(event(i, account_id=account)).encode()))
    assert publish_raw(settings, "support_tickets", msgs) == n


def _spawn(settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trendmine", "ingest"], env=_cli_env(settings), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def _count(db) -> tuple[int, int]:
    return db.execute(
        "SELECT count(*), count(DISTINCT (source, source_id)) FROM trendmine.feedback"
    ).fetchone()


def _wait_for(db, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(db)[0] < n and time.monotonic() < deadline:
        time.sleep(0.25)


def _stop(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: finish the batch, commit, report
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (proc.returncode, out[-1000:], err[-2000:])
    return int(re.search(r"stored (\d+)", out).group(1))


def test_three_members_one_killed_one_late_nothing_lost_or_doubled(settings, db):
    first, second = 30000, 10000
    _publish(settings, 0, first)
    a, b = _spawn(settings), _spawn(settings)
    try:
        _wait_for(db, 3000, timeout=120)
        landed = _count(db)[0]
        b.send_signal(signal.SIGKILL)  # dies mid-stream, holding uncommitted work
        b.wait()
        assert 0 < landed < first, "the kill should land mid-stream"
        c = _spawn(settings)  # joins late: the group rebalances onto a and c
        time.sleep(20)  # past the dead member's session timeout and c's join
        _publish(settings, first, second)  # new records on every partition
        _wait_for(db, first + second, timeout=300)
        stored_a, stored_c = _stop(a), _stop(c)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    assert _count(db) == (first + second, first + second)  # nothing lost, nothing doubled
    assert stored_a > 0 and stored_c > 0, (stored_a, stored_c)  # the partitions spread

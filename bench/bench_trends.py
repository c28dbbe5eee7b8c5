"""Benchmark: rebuild trends for 100,000 mined feedback items (not a unit test).

    python bench/bench_trends.py [--items 100000]

Starts its own embedded Postgres in a temp directory, migrates a fresh database, writes
synthetic accounts (with ARR history), opportunities, feedback, snippets, themes and
assignments straight into the tables with COPY, then times rebuild_trends.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.config import Settings
from foundation.db import connection, ensure_database
from infra.embedded import EmbeddedStack, free_port
from infra.stack import migrate_database
from warehouse.trends import rebuild_trends

SOURCES = ["crm_notes", "support_tickets", "ideas", "sales_calls"]
SEGMENTS = ["enterprise", "mid_market", "smb"]


def generate(
    conn, items: int, accounts: int, themes: int, seed: int = 0, end: datetime | None = None
) -> None:
    rng = np.random.default_rng(seed)
    end = end or datetime(2025, 6, 30, tzinfo=UTC)
    start = end - timedelta(days=365)
    seg = rng.choice(SEGMENTS, size=accounts, p=[0.1, 0.25, 0.65])
    arr = np.where(
        seg == "enterprise",
        rng.uniform(2e5, 2e6, accounts),
        np.where(
            seg == "mid_market", rng.uniform(4e4, 2e5, accounts), rng.uniform(2e3, 4e4, accounts)
        ),
    )
    with conn.cursor() as cur:
        with cur.copy(
            "COPY trendmine.accounts (account_id, name, segment, arr, updated_at) FROM STDIN"
        ) as cp:
            for i in range(accounts):
                cp.write_row((f"acc{i}", f"Account {i}", seg[i], round(arr[i], 2), end))
        with cur.copy(
            "COPY trendmine.account_history (account_id, valid_from, segment, arr) FROM STDIN"
        ) as cp:
            for i in range(accounts):  # three snapshots a year: ARR grows
                for k in range(3):
                    cp.write_row(
                        (
                            f"acc{i}",
                            start + timedelta(days=120 * k),
                            seg[i],
                            round(arr[i] * (0.8 + 0.1 * k), 2),
                        )
                    )
        n_opps = accounts // 2
        with cur.copy(
            "COPY trendmine.opportunities (opportunity_id, account_id, amount, "
            "stage, updated_at) FROM STDIN"
        ) as cp:
            for j in range(n_opps):
                cp.write_row(
                    (
                        f"opp{j}",
                        f"acc{j * 2}",
                        round(float(rng.uniform(5e3, 3e5)), 2),
                        rng.choice(["open", "won", "lost"], p=[0.5, 0.3, 0.2]),
                        end,
                    )
                )
        with cur.copy("COPY trendmine.themes (theme_id, label) FROM STDIN") as cp:
            for t in range(1, themes + 1):
                cp.write_row((t, f"theme {t}"))
        cur.execute("SELECT setval('trendmine.themes_theme_id_seq', %s)", (themes,))
        popularity = rng.dirichlet(np.full(themes, 0.5))
        acct = rng.zipf(1.3, size=items) % accounts
        secs = rng.uniform(0, 365 * 86400, size=items)
        snippets = rng.choice([1, 2, 3], size=items, p=[0.6, 0.3, 0.1])
        with cur.copy(
            "COPY trendmine.feedback (feedback_id, source, source_id, account_id, "
            "opportunity_id, text, text_hash, created_at) FROM STDIN"
        ) as cp:
            for i in range(items):
                a = int(acct[i])
                opp = f"opp{a // 2}" if a % 2 == 0 and a // 2 < n_opps and i % 5 == 0 else None
                cp.write_row(
                    (
                        i + 1,
                        SOURCES[i % 4],
                        f"s{i}",
                        None if i % 50 == 0 else f"acc{a}",
                        opp,
                        "text",
                        f"h{i}",
                        start + timedelta(seconds=float(secs[i])),
                    )
                )
        with cur.copy(
            "COPY trendmine.feedback_snippet (feedback_id, ord, text, text_hash) FROM STDIN"
        ) as cp:
            for i in range(items):
                for o in range(snippets[i]):
                    cp.write_row((i + 1, o, "snippet", f"h{i}.{o}"))
        assigned = rng.choice(themes, size=(items, 3), p=popularity) + 1
        with cur.copy(
            "COPY trendmine.feedback_theme (feedback_id, ord, theme_id, similarity, "
            "method) FROM STDIN"
        ) as cp:
            for i in range(items):
                for o in range(snippets[i]):
                    if rng.random() < 0.85:  # the rest is noise
                        cp.write_row((i + 1, o, int(assigned[i, o]), 0.8, "cluster"))
        cur.execute("SELECT setval('trendmine.feedback_feedback_id_seq', %s)", (items,))
    conn.execute("ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=5_000)
    ap.add_argument("--themes", type=int, default=150)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp), free_port(), free_port())
        stack.start(postgres=True, broker=False)
        try:
            settings = Settings(
                data_dir=Path(tmp), pg_port=stack.postgres.port, database_name="bench"
            )
            ensure_database(settings)
            migrate_database(settings)
            with connection(settings, autocommit=True) as conn:
                t0 = time.perf_counter()
                generate(conn, args.items, args.accounts, args.themes)
                print(f"generated {args.items:,} feedback items in {time.perf_counter() - t0:.1f}s")
                for run in (1, 2):
                    t0 = time.perf_counter()
                    counts = rebuild_trends(conn, settings)
                    took = time.perf_counter() - t0
                    print(
                        f"rebuild {run}: {took:.2f}s for {args.items:,} items "
                        f"({counts['trend_rows']:,} trend rows, {counts['emerging']} emerging; "
                        f"trends {counts['trends_seconds']:.2f}s)"
                    )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

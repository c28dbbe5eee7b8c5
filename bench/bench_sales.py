"""Benchmark: the sales loop on 100,000 mined feedback items (not a unit test).

    python bench/bench_sales.py [--items 100000] [--accounts 5000] [--themes 150]

Starts its own embedded Postgres and broker in a temp directory, writes the synthetic world of
bench_trends.py (plus close dates, loss reasons and ICP fit), then times the sales rebuild,
each trends view, and a decision on the most requested theme published to feedback.loop.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trends import generate

from foundation.config import Settings
from foundation.db import connection, ensure_database
from infra.embedded import EmbeddedStack, free_port
from infra.stack import migrate_database
from ingest.kafka import create_topics
from warehouse import sales
from warehouse.loop import decide, publish_pending

_DEALS = """
UPDATE trendmine.opportunities SET
  close_date = CASE WHEN stage = 'open' THEN current_date + (hashint4(length(opportunity_id)
                    + substr(opportunity_id, 4)::int) & 127)
               ELSE current_date - (abs(hashint4(substr(opportunity_id, 4)::int)) % 330) END,
  loss_reason = CASE WHEN stage = 'lost' THEN 'price' END
"""
_FIT = ("UPDATE trendmine.accounts SET icp_fit = CASE WHEN abs(hashtext(account_id)) % 10 = 0 "
        "THEN NULL ELSE (abs(hashtext(account_id || 'f')) % 100) / 100.0 END")


def timed(label: str, fn) -> object:
    t0 = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t0:.2f}s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=5_000)
    ap.add_argument("--themes", type=int, default=150)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp), free_port(), free_port())
        stack.start(postgres=True, broker=True)
        try:
            settings = Settings(data_dir=Path(tmp), pg_port=stack.postgres.port,
                                kafka_port=stack.broker.port, database_name="bench")
            ensure_database(settings)
            migrate_database(settings)
            create_topics(settings)
            with connection(settings, autocommit=True) as conn:
                generate(conn, args.items, args.accounts, args.themes)
                conn.execute(_DEALS)
                conn.execute(_FIT)
                conn.execute("ANALYZE")
                n_opps = conn.execute("SELECT count(*) FROM trendmine.opportunities").fetchone()
                print(f"{args.items:,} items, {args.accounts:,} accounts, {n_opps[0]:,} deals, "
                      f"{args.themes} themes")
                for run in (1, 2):
                    counts = timed(f"rebuild_sales {run}",
                                   lambda: sales.rebuild_sales(conn, settings))
                print(f"  {counts}")
                rows = timed("deal_themes (all)", lambda: sales.deal_themes(conn, settings))
                print(f"  {len(rows):,} deal x theme rows, "
                      f"{sum(r.sales_special for r in rows)} sales specials")
                timed("theme_fit", lambda: sales.theme_fit(conn, settings))
                timed("theme_sources", lambda: sales.theme_sources(conn))
                top = conn.execute("SELECT theme_id FROM trendmine.feedback_theme GROUP BY 1 "
                                   "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
                d = timed("decide (most requested theme)",
                          lambda: decide(conn, settings, top, "shipped", "bench", "bench"))
                sent = timed(f"publish_pending ({d.requesters:,} requesters, acks=all)",
                             lambda: publish_pending(conn, settings))
                print(f"  {sent:,} events")
                timed("loop_requesters", lambda: conn.execute(
                    "SELECT count(*) FROM trends.loop_requesters").fetchone())
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

"""Kafka -> Postgres ingest rate of `trendmine ingest` vs a bare kafka-python consumer.

    python bench/bench_ingest.py [--n 100000] [--processes N] [--in-flight M] [--no-bare]

Starts its own embedded Postgres and broker, publishes N canonical events (with duplicates
and bad records mixed in), then in one run: (1) a bare KafkaConsumer reads every message in
its own group, (2) the same with kafka-python's pure-Python CRC-32C (what it does when the
`crc32c` package is absent), (3) IngestWorker ingests them into Postgres. Prints the rates,
the ratios, CPU per event by process (over the whole run, and after the first batch is
stored: the transform process's start and imports, ~0.8 s of CPU during the group join, are
in the first figure only), and produced = stored + rejected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from kafka.record import default_records
from kafka.record._crc32c import crc as crc32c_py

from foundation.config import Settings
from foundation.db import ensure_database
from infra.embedded import EmbeddedStack, free_port
from infra.stack import migrate_database
from ingest import consumer as ingest_consumer
from ingest import dlq
from ingest.consumer import IngestWorker
from ingest.kafka import consumer, create_topics, producer
from schemas.names import INGEST_TOPICS, Source, feedback_topic

PHRASES = [
    "We need SAML single sign-on before the renewal, contact ops@acme.io",
    "CSV export times out on large reports; call me at +1 415 555 0142",
    "Please add a native Salesforce integration for opportunities",
    "Dashboards are slow to load for our EU team every Monday morning",
]


def make_events(n: int) -> list[tuple[str, bytes]]:
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    sources = list(Source)
    out = []
    for i in range(n):
        src = sources[i % 4]
        if i % 200 == 199:
            out.append((src.value, b'{"source": broken'))
            continue
        sid = i - 1 if i % 50 == 49 else i  # 2% duplicates of the previous record
        out.append(
            (
                src.value,
                json.dumps(
                    {
                        "source": src.value,
                        "source_id": f"bench:{sid}",
                        "account_id": f"acct-{sid % 500}",
                        "text": f"{PHRASES[sid % 4]} (ref {sid})",
                        "created_at": (t0 + timedelta(seconds=sid)).isoformat(),
                    }
                ).encode(),
            )
        )
    return out


def bare_rate(settings: Settings, n: int, group: str = "bench-bare") -> float:
    topics = [settings.topic(t) for t in INGEST_TOPICS]
    c = consumer(settings, *topics, group_id=group, max_poll_records=5000)
    got, first, last = 0, None, time.monotonic()
    while got < n and time.monotonic() - last < 15:
        batch = c.poll(timeout_ms=500)
        for msgs in batch.values():
            first = first or time.monotonic()
            last = time.monotonic()
            got += len(msgs)
    print(f"bare consumer ({group}) read {got} of {n}")
    rate = got / (last - first)
    c.close()
    return rate


@contextmanager
def python_crc():
    """kafka-python's own fallback CRC-32C, as when the `crc32c` package is not installed."""
    saved = default_records.calc_crc32c
    default_records.calc_crc32c = crc32c_py
    try:
        yield
    finally:
        default_records.calc_crc32c = saved


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    """CPU of the living processes plus what their reaped children spent (a finished
    Postgres backend or transform process counts in its parent's children_* times)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


class CpuMeter:
    """CPU seconds spent by each part of the stack while the worker ingests: the worker
    process itself, its transform processes, Postgres (every backend) and the broker."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.me = psutil.Process()
        self.pg = psutil.Process(stack.postgres.pid())
        self.broker = psutil.Process(stack.broker.pid())

    def snapshot(self) -> dict[str, float]:
        mine = self.me.cpu_times()
        helpers = [c for c in self.me.children(recursive=True) if c.pid != self.broker.pid]
        return {
            "worker": mine.user + mine.system,
            "transform": _cpu_seconds(helpers),
            "postgres": _cpu_seconds([self.pg, *self.pg.children(recursive=True)]),
            "broker": _cpu_seconds([self.broker]),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--processes", type=int, default=None,
                    help="transform processes (default: TRENDMINE_INGEST_PROCESSES)")
    ap.add_argument("--in-flight", type=int, default=None,
                    help="batches in flight (default: ingest.consumer.BATCHES_IN_FLIGHT)")
    ap.add_argument("--no-bare", action="store_true",
                    help="skip the two bare-consumer passes (A/B runs of the ingest alone)")
    args = ap.parse_args()
    if args.in_flight is not None:
        ingest_consumer.BATCHES_IN_FLIGHT = args.in_flight
    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp), free_port(), free_port())
        stack.start()
        try:
            s = Settings(
                data_dir=Path(tmp), pg_port=stack.postgres.port, kafka_port=stack.broker.port
            )
            if args.processes is not None:
                s.ingest_processes = args.processes
            ensure_database(s)
            migrate_database(s)
            create_topics(s)
            events = make_events(args.n)
            prod = producer(s)
            t = time.monotonic()
            for src, value in events:
                prod.send(s.topic(feedback_topic(src)), key=b"k", value=value)
            prod.flush()
            print(f"produced {len(events)} in {time.monotonic() - t:.1f}s")
            raw = raw_py = float("nan")
            if not args.no_bare:
                raw = bare_rate(s, len(events))
                with python_crc():
                    raw_py = bare_rate(s, len(events), group="bench-bare-python-crc")
            meter = CpuMeter(stack)
            before = meter.snapshot()
            first: dict = {}  # CPU and count once the first batch is stored (pool started)

            def on_batch(st) -> None:
                if st.consumed and not first:
                    first.update(meter.snapshot(), consumed=st.consumed)

            cpu = time.process_time()
            stats = IngestWorker(s).run(once=True, on_batch=on_batch)
            cpu = time.process_time() - cpu
            # The worker's Postgres backend has just exited: once the postmaster has reaped
            # it, its CPU moves to the postmaster's children times (before that it is counted
            # nowhere, and Postgres came out at 0 or -1 us).
            time.sleep(1.0)
            after = meter.snapshot()
            rejected = len({d.origin for d in dlq.read_all(s)})
            ratio = stats.rate / raw
            spent = {k: (after[k] - before[k]) / len(events) * 1e6 for k in after}
            rest = stats.consumed - first.get("consumed", 0)
            steady = {k: (after[k] - first[k]) / rest * 1e6 for k in after} if rest else {}
            load = os.getloadavg()
            print(f"transform processes {s.ingest_processes}, batches in flight "
                  f"{ingest_consumer.BATCHES_IN_FLIGHT}, batch size {s.batch_size}")
            print(f"bare kafka-python consumer:          {raw:,.0f} msg/s")
            print(f"bare consumer, pure-Python CRC-32C:  {raw_py:,.0f} msg/s")
            print(
                f"trendmine ingest:                    {stats.rate:,.0f} events/s "
                f"(ratio {ratio:.2f}; {stats.rate / raw_py:.2f} against the pure-Python-CRC "
                f"consumer); worker process CPU {cpu / len(events) * 1e6:.0f} us/event"
            )
            print(
                "CPU per event while ingesting: "
                + ", ".join(f"{k} {v:.0f} us" for k, v in spent.items())
                + f", total {sum(spent.values()):.0f} us; load average {load[0]:.1f}"
            )
            print(
                "  after the first batch (transform process started and warm): "
                + ", ".join(f"{k} {v:.0f} us" for k, v in steady.items())
                + f", total {sum(steady.values()):.0f} us"
            )
            print(
                f"produced={len(events)} stored={stats.stored} rejected={rejected} "
                f"exact={len(events) == stats.stored + rejected}"
            )
            out = Path(__file__).parent / "results" / "ingest.json"
            out.write_text(
                json.dumps(
                    {
                        "n": len(events),
                        "bare_rate": raw,
                        "bare_rate_python_crc": raw_py,
                        "ingest_rate": stats.rate,
                        "ratio": ratio,
                        "stored": stats.stored,
                        "rejected": rejected,
                        "cpu_us_per_event": spent,
                        "cpu_us_per_event_after_first_batch": steady,
                        "load_average_1m": load[0],
                    },
                    indent=2,
                )
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

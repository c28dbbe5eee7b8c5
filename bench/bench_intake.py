"""Signed requests/s that `trendmine intake serve` sustains, every one acknowledged by the broker.

    python bench/bench_intake.py [--requests 20000] [--seconds 30] [--connections 256]
                                 [--workers 1] [--batch 1]

Starts an embedded broker (no Postgres: the receiver does not use it), then
`python -m trendmine intake serve` as its own process, and drives it with a loopback load
generator: asyncio streams, HTTP/1.1 keep-alive, `--connections` concurrent connections,
bounded by `--requests` and `--seconds` (whichever comes first). Each request is one
canonical event (or `--batch` events) with a real X-Trendmine-Signature, signed before the
clock starts. Afterwards the topic is read back: accepted records must equal the records
on the topic (202 means acknowledged, acks=all). Prints requests/s, latency percentiles and
the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from kafka import TopicPartition

from foundation.config import Settings
from infra.embedded import EmbeddedStack, free_port
from ingest.kafka import consumer, create_topics
from intake.signatures import sign_canonical
from schemas.names import feedback_topic

SECRET = "bench-secret-0123456789abcdef"
SOURCE = "support_tickets"


def signed_requests(n: int, batch: int, port: int) -> list[bytes]:
    """n complete HTTP requests, signed now (the replay window is 300 s)."""
    ts = int(time.time())
    out = []
    for i in range(n):
        events = [{"source": SOURCE, "source_id": f"bench-{i}-{j}", "account_id": f"acct-{i % 97}",
                   "text": f"Please add SAML SSO for our team, request {i}-{j}",
                   "created_at": "2026-11-20T10:00:00+00:00"} for j in range(batch)]
        body = json.dumps(events[0] if batch == 1 else events).encode()
        head = (f"POST /v1/feedback/{SOURCE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-Trendmine-Timestamp: {ts}\r\n"
                f"X-Trendmine-Signature: {sign_canonical(SECRET, ts, body)}\r\n\r\n")
        out.append(head.encode() + body)
    return out


async def _connection(port: int, queue: list[bytes], deadline: float,
                      latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue and time.perf_counter() < deadline:
            request = queue.pop()
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            length = int(head[at + 15:head.index(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, requests: list[bytes], connections: int, seconds: float
               ) -> tuple[float, list[float], dict[int, int]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    await asyncio.gather(*(_connection(port, queue, t0 + seconds, latencies, statuses)
                           for _ in range(connections)))
    return time.perf_counter() - t0, latencies, statuses


def _run(coro):
    """The load generator on uvloop when installed (it costs the machine less CPU)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _cpu_s(pid: int) -> float:
    """CPU seconds of the server and its worker processes (user + system)."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def count_on_topic(settings: Settings) -> int:
    name = settings.topic(feedback_topic(SOURCE))
    c = consumer(settings, group_id=None)
    try:
        tps = [TopicPartition(name, p) for p in sorted(c.partitions_for_topic(name) or [])]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        n, last = 0, time.monotonic()
        while time.monotonic() - last < 3:
            for msgs in c.poll(timeout_ms=300, max_records=10000).values():
                n += len(msgs)
                last = time.monotonic()
        return n
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1, help="events per request")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        stack = EmbeddedStack(Path(tmp), free_port(), free_port())
        stack.start(postgres=False, broker=True)
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{stack.broker.port}",
                            topic_prefix="bench.", data_dir=Path(tmp))
        create_topics(settings)
        port = free_port()
        env = {**os.environ, "TRENDMINE_KAFKA_BOOTSTRAP": settings.bootstrap(),
               "TRENDMINE_TOPIC_PREFIX": "bench.", "TRENDMINE_INTAKE_SECRET": SECRET,
               "TRENDMINE_DATA_DIR": tmp, "PYTHONPATH": str(Path(__file__).parents[1])}
        log = Path(tmp) / "intake.log"
        with log.open("wb") as err:
            server = subprocess.Popen(
                [sys.executable, "-m", "trendmine", "intake", "serve", "--port", str(port),
                 "--workers", str(args.workers)], env=env, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"intake serve did not start:\n{log.read_text()[-2000:]}")
                    time.sleep(0.2)
            warm = _run(load(port, signed_requests(200, args.batch, port), 8, 20))
            requests = signed_requests(args.requests, args.batch, port)
            load_before = os.getloadavg()
            cpu_before, gen_before = _cpu_s(server.pid), time.process_time()
            wall, lat, statuses = _run(load(port, requests, args.connections, args.seconds))
            cpu, gen_cpu = _cpu_s(server.pid) - cpu_before, time.process_time() - gen_before
            load_after = os.getloadavg()
        finally:
            server.terminate()
            server.wait(30)
        accepted = statuses.get(202, 0)
        expected = (accepted + warm[2].get(202, 0)) * args.batch  # warm-up is on the topic too
        on_topic = count_on_topic(settings)
        stack.stop()

    lat.sort()
    pct = {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1000 for p in (50, 90, 99)}
    print(f"requests: {len(lat)} in {wall:.1f} s over {args.connections} connections, "
          f"{args.workers} worker(s), {args.batch} event(s) each; statuses {statuses}")
    print(f"throughput: {len(lat) / wall:,.0f} signed requests/s "
          f"({accepted * args.batch / wall:,.0f} events/s acknowledged)")
    print(f"latency ms: p50 {pct[50]:.1f}  p90 {pct[90]:.1f}  p99 {pct[99]:.1f}  "
          f"mean {statistics.fmean(lat) * 1000:.1f}")
    print(f"on the topic: {on_topic} records for {expected} accepted (warm-up included): "
          f"{'OK' if on_topic == expected else 'MISMATCH'}")
    print(f"server CPU: {cpu:.1f} s = {cpu / max(len(lat), 1) * 1000:.2f} ms per request "
          f"(~{len(lat) / cpu if cpu else 0:,.0f} requests per CPU-second)")
    print(f"load generator CPU: {gen_cpu / max(len(lat), 1) * 1000:.2f} ms per request")
    print(f"load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""The ingest worker: consume a batch -> validate -> normalise -> redact -> upsert -> commit.

Order per batch (at-least-once from Kafka, exactly-once in effect in Postgres; see Checkpoint):
1. every dead letter of the batch is acknowledged by the broker (inside the transaction),
2. the Postgres transaction holding its rows and its dead-letter records commits,
3. only then are the Kafka offsets committed.
A crash anywhere replays the batch: upserts are idempotent, and a dead letter published twice
is the same record (source topic, source id, content), recorded once in the ledger.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import psutil
import psycopg
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition

from foundation.config import Settings
from foundation.db import connect
from foundation.errors import ServiceUnavailable
from ingest import dlq, metrics
from ingest.kafka import consumer, producer
from ingest.transform import Messages, Transformed, Transformer
from ingest.validate import DATABASE, Rejection
from ingest.writer import (
    write_accounts,
    write_feedback,
    write_isolated,
    write_opportunities,
)
from schemas.names import (
    INGEST_TOPICS,
)

log = logging.getLogger(__name__)
STOP_JOIN_GRACE_S = 15.0  # a stop during the group join waits this long for the join to finish
# Batches handed to the writer and not yet settled: the next batch is polled and
# transformed while earlier ones are written, so the transform processes (the heaviest
# stage: they also encode the rows) never wait on the database. Measured in
# docs/benchmarks.md (ingest). Each batch in flight holds batch_size records.
BATCHES_IN_FLIGHT = 3
# An offset commit refused because the group moved on: not an error for an idempotent batch.
_REBALANCED = (
    CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError
)


def _init_transform_process(worker_pid: int) -> None:
    """Transform processes leave Ctrl-C to the worker, which finishes the batch in hand, and
    exit when the worker is gone: a pool process waits on a queue it holds both ends of, so
    a SIGKILLed worker would otherwise leave it (and the forkserver) behind forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                gone = psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                os._exit(0)

    threading.Thread(target=watch, name="worker-watch", daemon=True).start()


def _warm_up() -> None:
    import ingest.transform  # noqa: F401  (pydantic, bs4, the regexes)


def _next_offsets(polled: dict) -> dict:
    """The offsets to commit once a polled batch is stored: last offset + 1 per partition."""
    return {
        TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
        for tp, msgs in polled.items()
        if msgs
    }


@dataclass
class IngestStats:
    consumed: int = 0
    stored: int = 0  # messages that landed in a table (a replayed duplicate included)
    rejected: int = 0
    rows_changed: int = 0  # feedback rows inserted or changed
    batches: int = 0
    by_topic: Counter = field(default_factory=Counter)
    by_code: Counter = field(default_factory=Counter)
    lag: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    first_record: float | None = None
    last_record: float | None = None

    @property
    def rate(self) -> float:
        """Records per second from the first record to the last (excludes the group join)."""
        if self.first_record is None or self.last_record is None:
            return 0.0
        return self.consumed / max(self.last_record - self.first_record, 1e-6)

    def as_dict(self) -> dict:
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "rejected": self.rejected,
            "rows_changed": self.rows_changed,
            "batches": self.batches,
            "rejected_by_code": dict(self.by_code),
            "records_per_s": round(self.rate, 1),
        }


class IngestWorker:
    """One member of the `trendmine-ingest` consumer group."""

    def __init__(self, settings: Settings, *, group_id: str | None = None) -> None:
        self.settings = settings
        self.group_id = group_id or settings.topic(settings.consumer_group)
        self.pool_broken = False
        self._conn: psycopg.Connection | None = None  # run() opens it; handle() may renew it
        self.transform = Transformer.from_settings(settings)

    # ------------------------------------------------------------------ one batch
    def handle(
        self,
        records,
        *,
        conn=None,
        prod,
        stats: IngestStats,
        transformed: Future | None = None,
    ) -> None:
        """Store one batch; every record ends in a table or, confirmed, on the DLQ.

        The transform's dead letters are sent first and travel while the rows are written;
        rows Postgres refuses are isolated (bisection) and dead-lettered too; every dead
        letter is acknowledged by the broker before the transaction commits, so a DLQ that
        cannot be written rolls the batch back. The caller commits offsets afterwards.
        `transformed` is the batch already being transformed in the worker process.
        """
        batch = self._transformed(records, transformed)
        letters = [self._letter(records[i], rej) for i, rej in batch.rejects]
        futures = [letter.send(prod, self.settings) for letter in letters]
        changed, refused = self._store(conn or self._conn, records, batch, prod, letters, futures)
        rejected = len(letters) + len(refused)
        for letter in (*letters, *refused):
            stats.by_code[letter.rejection.code] += 1
        stats.rows_changed += changed
        stats.consumed += len(records)
        stats.rejected += rejected
        stats.stored += len(records) - rejected
        metrics.count_batch(len(records), len(records) - rejected,
                            Counter(letter.rejection.code for letter in (*letters, *refused)))
        stats.batches += 1
        for rec in records:
            stats.by_topic[rec.topic] += 1

    def _transformed(self, records, transformed: Future | None) -> Transformed:
        try:
            return transformed.result() if transformed else self.transform(records)
        except Exception as exc:  # the transform itself never raises on bad data
            # A transform process died (OOM killer, a main module that cannot be re-imported)
            # or the batch could not cross to it: do the work here (a real bug re-raises
            # here) and tell run() to stop using the pool.
            log.warning("transform process failed (%r); transforming in the worker now", exc)
            self.pool_broken = True
            return self.transform(records)

    @staticmethod
    def _letter(rec, rejection: Rejection) -> dlq.Letter:
        return dlq.Letter.of(rec, rejection)

    def _store(self, conn, records, batch: Transformed, prod, letters, futures):
        """One transaction: rows (refused ones isolated), dead letters confirmed and recorded.

        A lost Postgres connection (restart, failover) retries the batch on a new connection
        with backoff, for up to db_retry_seconds; upserts make the retry harmless.
        Returns (feedback rows changed, dead letters for the rows Postgres refused).
        """
        deadline = time.monotonic() + self.settings.db_retry_seconds
        delay = 0.5
        while True:
            try:
                if conn is None or conn.closed:
                    conn = self._conn = connect(self.settings, autocommit=True)
                with conn.transaction():
                    changed, refused = self._write_rows(conn, records, batch)
                    confirmed = dlq.confirm(
                        prod,
                        [*futures, *(r.send(prod, self.settings) for r in refused)],
                        self.settings.dlq_ack_timeout_s,
                    )
                    dlq.record(conn, self.settings, [*letters, *refused], confirmed)
                return changed, refused
            except (psycopg.OperationalError, psycopg.InterfaceError, ServiceUnavailable) as exc:
                if time.monotonic() + delay > deadline:
                    raise ServiceUnavailable(
                        f"Postgres stayed unreachable for {self.settings.db_retry_seconds:.0f} s "
                        f"while storing a batch ({type(exc).__name__}: {exc})",
                        "check the database; the batch was not committed and will be re-read",
                    ) from exc
                log.warning("Postgres connection lost (%s); retrying in %.1f s", exc, delay)
                if conn is not None and not conn.closed:
                    conn.close()
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _write_rows(self, conn, records, batch: Transformed) -> tuple[int, list[dlq.Letter]]:
        """Write the batch's rows; the ones Postgres refuses come back as dead letters."""
        refused: list[dlq.Letter] = []

        def dead(rec, exc: BaseException) -> None:
            cls = type(exc)
            first_line = (str(exc).strip().splitlines() or [cls.__name__])[0]
            refused.append(self._letter(rec, Rejection(
                "database_rejected", f"Postgres refused the row: {first_line}", DATABASE,
                f"{cls.__module__}.{cls.__qualname__}",
            )))

        write = partial(write_feedback, unique=not batch.repeats)
        changed, bad = write_isolated(conn, write, batch.feedback)
        for i, exc in bad:
            dead(records[batch.feedback_index[i]], exc)
        _, bad = write_isolated(conn, write_accounts, batch.accounts)
        for i, exc in bad:
            dead(records[batch.account_index[i]], exc)
        _, bad = write_isolated(conn, write_opportunities, batch.opportunities)
        for i, exc in bad:
            dead(records[batch.opportunity_index[i]], exc)
        return changed, refused

    def _transform_pool(self) -> ProcessPoolExecutor | None:
        if self.settings.ingest_processes < 1:
            return None
        # forkserver: the consumer already runs threads, and forking those is unsafe.
        pool = ProcessPoolExecutor(
            max_workers=self.settings.ingest_processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_transform_process,
            initargs=(os.getpid(),),
        )
        for _ in range(self.settings.ingest_processes):
            pool.submit(_warm_up)  # start and import now, while the group join runs
        return pool

    def run(
        self,
        *,
        once: bool = True,
        stop: threading.Event | None = None,
        on_batch: Callable[[IngestStats], None] | None = None,
        join_timeout: float = 60.0,
    ) -> IngestStats:
        """Consume until stopped (or, with once, until idle_seconds pass with nothing new).

        The stages overlap: this thread polls, the transform pool works on the batches just
        polled, the writer thread stores them in order (BATCHES_IN_FLIGHT at most are handed
        to it and not yet settled). The loop only polls, hands off and settles; what
        "settled" means (and in which order) is `Checkpoint`'s job.
        """
        stop = stop or threading.Event()
        stats = IngestStats()
        topics = [self.settings.topic(t) for t in INGEST_TOPICS]
        cons = consumer(self.settings, *topics, group_id=self.group_id)
        prod = producer(self.settings)
        self._conn = connect(self.settings, autocommit=True)
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trendmine-writer")
        pool = self._transform_pool()
        checkpoint = Checkpoint(cons, stats, on_batch)
        try:
            idle_since = stopping_since = None
            join_deadline = time.monotonic() + join_timeout
            while True:
                if stop.is_set():
                    # A consumer closed half-way through its group join never leaves the group,
                    # and the broker then holds every later join for the rebalance timeout
                    # (max_poll_interval_ms): finish the join first, so close() leaves cleanly.
                    stopping_since = stopping_since or time.monotonic()
                    if cons.assignment() or time.monotonic() - stopping_since > STOP_JOIN_GRACE_S:
                        break
                polled = cons.poll(timeout_ms=500, max_records=self.settings.batch_size)
                records = [r for msgs in polled.values() for r in msgs]
                now = time.monotonic()
                if pool and self.pool_broken:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
                transformed = (
                    pool.submit(self.transform, Messages.of(records))
                    if pool and records
                    else None
                )
                checkpoint.settle(keep=BATCHES_IN_FLIGHT - 1 if records else 0)
                if records:
                    stats.first_record = stats.first_record or now
                    job = writer.submit(
                        self.handle,
                        records,
                        prod=prod,
                        stats=stats,
                        transformed=transformed,
                    )
                    checkpoint.hand_off(job, _next_offsets(polled))
                    idle_since = None
                    continue
                if not cons.assignment():
                    if now > join_deadline and once:
                        self._check_joined(cons, topics, join_timeout)
                        break  # no partitions for us (more workers than partitions)
                    continue
                idle_since = idle_since or now
                if once and now - idle_since >= self.settings.idle_seconds:
                    break
                if on_batch:
                    on_batch(stats)
            checkpoint.settle()  # Ctrl-C / stop: finish and commit the batches in hand
        finally:
            # After a failed write, the batches queued behind it are not written: their
            # offsets stay uncommitted and they are re-read.
            writer.shutdown(wait=True, cancel_futures=True)
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)
            prod.flush()
            prod.close()
            cons.close(autocommit=False)
            if self._conn is not None:
                self._conn.close()
        return stats


    def _check_joined(self, cons, topics: list[str], join_timeout: float) -> None:
        """Without partitions after the join timeout: fine only when the group was joined
        and other members hold the partitions. Never report "consumed 0" for a failure."""
        if cons.group_metadata().state != MemberState.STABLE:
            raise ServiceUnavailable(
                f"could not join the consumer group {self.group_id} within {join_timeout:.0f} s "
                f"at {self.settings.bootstrap()}; nothing was consumed",
                "check the broker and its group coordinator, then run again",
            )
        existing = cons.topics()
        if not any(t in existing for t in topics):
            raise ServiceUnavailable(
                f"none of the ingest topics exist on {self.settings.bootstrap()} "
                f"(e.g. {topics[0]}); nothing was consumed",
                "run `trendmine up` (it creates them) or create them on your cluster",
            )


class Checkpoint:
    """Settles the batches in flight, oldest first; a batch counts as done only after, in
    this order:

    1. DLQ confirmation: each of its dead letters (rejected by the transform, or refused by
       Postgres and bisected out) is acknowledged by the broker, inside the writer thread's
       open transaction, so a dead letter the broker refuses rolls the batch back;
    2. DB commit: that transaction, holding its rows and their dead_letters records, has
       committed (`settle` waits on the writer's future; a failed write re-raises here and
       its offsets, and those of every batch after it, stay uncommitted);
    3. offset commit: only now are its Kafka offsets committed, from the polling thread;
    4. lag: the lag figures are refreshed from the fetch high-water marks, and `on_batch`
       is told.
    The writer is one thread, so batches are written in the order they were polled, and a
    batch's offsets are committed only after every batch before it is stored. A crash before
    step 3 replays the batch: upserts are idempotent, and a dead letter published twice has
    the same ledger key (source topic, source id, content).
    """

    def __init__(
        self, cons, stats: IngestStats, on_batch: Callable[[IngestStats], None] | None = None
    ) -> None:
        self.cons = cons
        self.stats = stats
        self.on_batch = on_batch
        self.pending: deque[tuple[Future, dict]] = deque()

    def hand_off(self, written: Future, offsets: dict) -> None:
        """Remember a batch now being written and the offsets to commit once it is."""
        self.pending.append((written, offsets))

    def settle(self, keep: int = 0) -> None:
        """Settle (steps 1-4) every batch already written, and wait for the oldest ones until
        at most `keep` are still in flight."""
        while self.pending and (len(self.pending) > keep or self.pending[0][0].done()):
            written, offsets = self.pending.popleft()
            written.result()
            self._commit(offsets)
            self.stats.last_record = time.monotonic()
            self._update_lag()
            if self.on_batch:
                self.on_batch(self.stats)

    def _commit(self, offsets: dict) -> None:
        try:
            self.cons.commit(offsets)
        except _REBALANCED as exc:
            # The group rebalanced (or is rebalancing) while the batch was written: whoever
            # holds its partitions next re-reads them from the last commit. The batch is
            # already stored, and upserts make the re-read harmless.
            log.warning(
                "offset commit refused during a rebalance (%s); the batch will be re-read",
                type(exc).__name__,
            )

    def _update_lag(self) -> None:
        """Lag from the fetch high-water marks (no ListOffsets: see docs/architecture.md). A
        partition never committed starts at its earliest offset, so it counts from there."""
        lag: Counter = Counter()
        by_partition = {}
        for tp in self.cons.assignment():
            hw = self.cons.highwater(tp)
            if hw is not None:
                n = max(hw - self.cons.position(tp), 0)
                lag[tp.topic] += n
                by_partition[(tp.topic, tp.partition)] = n
        self.stats.lag = dict(lag)
        metrics.set_lag(by_partition)

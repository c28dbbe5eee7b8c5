"""A stop signal that ends a run at a safe point instead of wherever it lands.

When `trendmine serve` stops (Ctrl-C or SIGTERM) its runner cancels the flow run in progress
by sending the run's process SIGTERM (and a terminal's Ctrl-C sends SIGINT to it directly).
Prefect's own handler raises at whatever line the process is on, and an exception raised
while Python runs a weakref callback or a `__del__` is printed and dropped: the run then goes
on as if nothing happened. Inside `stop_on_signal` both signals only set an event that the
ingest loop checks between batches; the batch in hand is stored and committed, then
`Stopped` is raised, which Prefect treats as a termination and `recorded` writes as a failed
run with the reason.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.exceptions import TerminationSignal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(TerminationSignal):
    """The run was stopped by a signal after finishing its batch in hand."""

    def __init__(self, signum: int, done: str = "") -> None:
        super().__init__(signal=signum)
        self.done = done

    def __str__(self) -> str:
        name = signal.Signals(self.signal).name
        return f"stopped by {name} (serve shutting down){': ' if self.done else ''}{self.done}"


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """SIGINT / SIGTERM set the yielded event while inside (main thread only; elsewhere the
    event is never set and signals keep their handlers)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    stop.signum = None  # type: ignore[attr-defined]

    def handler(signum: int, _frame: object) -> None:
        stop.signum = signum  # type: ignore[attr-defined]
        stop.set()

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

"""A stop signal that ends a run at a safe point instead of wherever it lands.

When `trendmine serve` stops (Ctrl-C or SIGTERM) its runner cancels the flow run in progress
by sending the run's process SIGTERM (and a terminal's Ctrl-C sends SIGINT to it directly).
Prefect's own handler raises at whatever line the process is on, and an exception raised
while Python runs a weakref callback or a `__del__` is printed and dropped: the run then goes
on as if nothing happened. Inside `stop_on_signal` both signals only set an event that the
ingest loop checks between batches; the batch in hand is stored and committed, then
`Stopped` is raised, which Prefect treats as a termination and `recorded` writes as a
`cancelled` run with the reason.

A run under `serve` also watches serve itself (`watch_serve`): when serve dies without
stopping its runs (SIGKILL, OOM killer), the run stops itself the same way and is recorded
`failed` with that reason, instead of ingesting on unsupervised.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.exceptions import TerminationSignal

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SERVE_PID_ENV = "TRENDMINE_SERVE_PID"  # set by `serve` for the flow runs it starts
WATCH_INTERVAL_S = 1.0
_serve_died: str | None = None  # why this process stops itself, once serve is gone
_watching = False


class Stopped(TerminationSignal):
    """The run was stopped by a signal after finishing its batch in hand."""

    def __init__(self, signum: int, done: str = "") -> None:
        super().__init__(signal=signum)
        self.done = done

    def __str__(self) -> str:
        return f"{stop_reason(self.signal)}{': ' if self.done else ''}{self.done}"


def stop_reason(signum: int | None) -> str:
    name = signal.Signals(signum).name if signum else "a signal"
    return f"stopped by {name} ({_serve_died or 'serve shutting down or the run cancelled'})"


def is_stop(exc: BaseException) -> bool:
    """A stop on purpose (a signal, Ctrl-C), not an error in the run."""
    return isinstance(exc, TerminationSignal | KeyboardInterrupt)


def serve_died() -> bool:
    return _serve_died is not None


def describe(exc: BaseException) -> str:
    """One line for pipeline_runs.error: what stopped the run, or the error."""
    if isinstance(exc, Stopped):
        return str(exc)
    if isinstance(exc, TerminationSignal):
        return stop_reason(exc.signal)
    if isinstance(exc, KeyboardInterrupt):
        return stop_reason(signal.SIGINT)
    return f"{type(exc).__name__}: {exc}"


def watch_serve() -> None:
    """If this process is a flow run started by `serve`, stop it (SIGTERM to itself, taking
    the same road as serve's own stop) as soon as serve is gone. Idempotent."""
    global _watching
    pid = os.environ.get(SERVE_PID_ENV, "")
    if _watching or not pid.isdigit() or int(pid) != os.getppid():
        return  # not a direct child of serve (a process the run itself started, or the CLI)
    _watching = True

    def watch() -> None:
        global _serve_died
        while os.getppid() == int(pid):
            time.sleep(WATCH_INTERVAL_S)
        _serve_died = f"`trendmine serve` (pid {pid}) died without stopping its runs"
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-serve", daemon=True).start()


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT / SIGTERM wait while inside (main thread only): a second stop signal must not
    cut short the write that records the first. Used only on the way out of a run that is
    ending anyway, so a signal that comes meanwhile is dropped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda _signum, _frame: None) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


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

"""Stopping a job on SIGTERM/SIGINT without losing its ledger row or a commit.

A Python signal handler runs on the main thread, usually while that thread is
blocked inside a py4j call (a Spark action). Raising from the handler there
turns into a bare ``Py4JError`` and leaves the JVM running the action; a py4j
call from the handler reuses the busy connection. So the handler here never
raises and never calls the JVM. It only sets a flag; a separate thread (its
own py4j connection) cancels the running Spark jobs, and goes on cancelling
any job started after the stop until the job's work is over. The action the
main thread waits in then fails with Spark's "cancelled" error, and the job
frame (:func:`lakehouse.runtime.job.run_job`) records the run as interrupted: exit 75,
with its ledger row. Delta commits are atomic: a cancelled action committed
nothing, and an action that finished before the cancel committed whole.

Writes that must happen even while stopping (ledger rows, quality results)
run inside :func:`bookkeeping`, during which nothing is cancelled.

A streaming job asks for a graceful stop instead
(:meth:`StopToken.without_cancelling`): the flag is set and the running
micro-batch finishes.

The handler runs on the main thread between any two bytecodes, also inside
a ``with lock:`` block of that very thread (a log line being written, this
token's own lock). Taking such a lock there again hangs the driver for
good, so the handler takes none: it marks the stop (a plain attribute) and
queues the signal's name (``queue.SimpleQueue``, safe to re-enter); a
thread of its own then logs it and calls :meth:`StopToken.set`.

The handlers stay installed until the run's ledger row is written, so a
second signal (a process group's SIGTERM plus the launcher's forwarded one)
meets the same handler, not the default disposition that would kill the
driver before it records the run.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
from collections.abc import Callable, Iterator

from lakehouse.core.errors import TransientError

log = logging.getLogger("lakehouse")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CANCEL_INTERVAL_S = 0.25

_current: StopToken | None = None


class Interrupted(TransientError):
    """SIGTERM/SIGINT stopped a job; Delta commits are atomic, so running it again is safe."""

    def __init__(self, reason: str, detail: str = "Delta commits are whole: a re-run is safe"):
        self.signal = reason
        super().__init__(f"interrupted by {reason}; {detail}")


class StopToken:
    """A stop request: set by a signal, read by whoever waits or loops.

    ``cancel`` cancels every running Spark job (``SparkContext.cancelAllJobs``);
    without it, or outside :meth:`working`, a stop only sets the flag.
    """

    def __init__(self, cancel: Callable[[], None] | None = None):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._cancel = cancel
        self._cancelling = cancel is not None
        self._working = False
        self._work_over = threading.Event()
        self._holds = 0
        # held while a cancel is being posted: a write that starts holding after
        # it submits its Spark jobs behind the cancel, never into it
        self._cancel_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._callbacks: list[Callable[[str], None]] = []
        self._reason: str | None = None
        # the first signal's name, set by the handler itself (no lock: see the module)
        self._signalled: str | None = None
        self.cancelled = False  # Spark jobs were cancelled for this stop

    # ------------------------------------------------------------ the request

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self._signalled is not None or self._event.is_set()

    @property
    def reason(self) -> str | None:
        """What asked for the stop (a signal's name), None while nothing has."""
        return self._reason or self._signalled

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop is requested."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise :class:`Interrupted` once a stop was requested (call between actions)."""
        if self.reason is not None:
            raise Interrupted(self.reason)

    def set(self, reason: str) -> None:
        """Ask for a stop (what a signal comes to, off the main thread; also callable directly)."""
        with self._lock:
            first = self._reason is None
            if first:
                self._reason = reason
            self._event.set()
            callbacks = list(self._callbacks) if first else []
            start = first and self._working and self._cancelling
        for callback in callbacks:
            try:
                callback(reason)
            except Exception as exc:  # a listener's failure must not stop the stop
                log.warning("stop listener failed: %s", exc)
        if start:
            self._start_cancelling()

    def on_stop(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` when a stop is requested (at once if it already was)."""
        with self._lock:
            self._callbacks.append(callback)
            already = self._reason
        if already is not None:
            callback(already)

    # ------------------------------------------------------------ cancelling Spark jobs

    @contextlib.contextmanager
    def working(self) -> Iterator[StopToken]:
        """The job's work: a stop inside cancels Spark jobs until the block ends."""
        with self._lock:
            self._working = True
            start = self.requested and self._cancelling
        if start:
            self._start_cancelling()
        try:
            yield self
        finally:
            with self._lock:
                self._working = False
            self._work_over.set()
            thread = self._thread
            if thread is not None:
                thread.join(timeout=10)

    @contextlib.contextmanager
    def without_cancelling(self) -> Iterator[StopToken]:
        """A graceful stop inside this block: only the flag is set (streaming)."""
        with self._lock:
            before, self._cancelling = self._cancelling, False
        try:
            yield self
        finally:
            with self._lock:
                self._cancelling = before
                start = before and self.requested and self._working
            if start:
                self._start_cancelling()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """No cancelling while this block runs (writes that must land while stopping)."""
        with self._cancel_lock, self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1

    def _start_cancelling(self) -> None:
        with self._lock:
            if self._thread is not None or self._cancel is None:
                return
            # started under the lock: whoever sees the thread may join it
            self._thread = threading.Thread(
                target=self._cancel_loop, name="lakehouse-stop", daemon=True
            )
            self._thread.start()

    def _cancel_loop(self) -> None:
        assert self._cancel is not None
        while True:
            with self._cancel_lock:
                with self._lock:
                    active = self._working and self._cancelling
                    held = self._holds > 0
                if not active:
                    return
                if not held:
                    self.cancelled = True
                    try:
                        self._cancel()
                    except Exception as exc:  # the JVM is going away: nothing left to cancel
                        log.debug("cancelling Spark jobs failed: %s", exc)
                        return
            if self._work_over.wait(CANCEL_INTERVAL_S):
                return

    # ------------------------------------------------------------ signal handlers

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopToken]:
        """SIGTERM/SIGINT set this token while the block runs; the token is :func:`current`."""
        global _current

        inbox: queue.SimpleQueue[str | None] = queue.SimpleQueue()

        def handler(signum: int, _frame: object) -> None:
            # no lock, no logging, no I/O: see the module's docstring
            name = signal.Signals(signum).name
            if self._signalled is None:
                self._signalled = name
            inbox.put(name)

        previous_token, _current = _current, self
        try:
            if threading.current_thread() is not threading.main_thread():
                yield self
                return
            relay = threading.Thread(
                target=self._relay_signals, args=(inbox,), name="lakehouse-signals", daemon=True
            )
            relay.start()
            previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
            try:
                yield self
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)
                inbox.put(None)  # after the signals already queued
                relay.join(timeout=10)
        finally:
            _current = previous_token

    def _relay_signals(self, inbox: queue.SimpleQueue[str | None]) -> None:
        """Log each signal the handler queued and act on it, off the main thread."""
        while (name := inbox.get()) is not None:
            if self._reason is None:
                log.warning("%s received: stopping (the run will be recorded)", name)
            else:
                log.warning("%s received again: already stopping", name)
            self.set(name)


def current() -> StopToken | None:
    """The token of the running job, if any."""
    return _current


@contextlib.contextmanager
def bookkeeping() -> Iterator[None]:
    """A write that must land even while the job is stopping: nothing is cancelled meanwhile."""
    token = _current
    if token is None:
        yield
        return
    with token.holding():
        yield

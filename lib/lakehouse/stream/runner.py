"""Running the query: start it, wait for it, stop it gracefully, restart it on transient
errors; and the brokers' pre-check before each start."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakehouse.config.model import KafkaSource
from lakehouse.core.errors import TransientError, is_transient, one_line
from lakehouse.core.retry import Backoff
from lakehouse.stream.kafka_meta import check_source
from lakehouse.stream.sink import STOP_MARK, BronzeSink

log = logging.getLogger("lakehouse.stream")


class StopFlag(Protocol):
    """What the runner needs of a stop request (see lakehouse.core.stopping.StopToken)."""

    @property
    def requested(self) -> bool: ...

    def wait(self, seconds: float) -> bool: ...


@dataclass
class StreamResult:
    """How the streaming part of a run ended."""

    status: str  # "drained" | "stopped" | "max_batches"
    attempts: int
    errors: list[str] = field(default_factory=list)


class StreamRunner:
    """Starts the query, waits for it, stops it gracefully, restarts it on transient errors.

    A graceful stop closes the sink (no new micro-batch writes anything),
    waits until the batch that was running is committed (or ``stop_grace``
    runs out), then stops the query; whatever was not committed is read
    again by the next run, and the sink makes that replay harmless.
    """

    def __init__(
        self,
        start: Callable[[], StreamingQuery],
        *,
        sink: BronzeSink,
        backoff: Backoff,
        stop: StopFlag,
        stop_grace: float,
        max_batches: int | None = None,
        preflight: Callable[[], None] | None = None,
        poll: float = 0.5,
    ):
        self.start = start
        self.sink = sink
        self.backoff = backoff
        self.stop = stop
        self.stop_grace = stop_grace
        self.max_batches = max_batches
        sink.limit = max_batches
        self.preflight = preflight
        self.poll = poll

    def run(self) -> StreamResult:
        """Run until drained, stopped or out of retries (then raise TransientError)."""
        attempt = 1
        errors: list[str] = []
        while True:
            if self.stop.requested:
                return StreamResult("stopped", attempt, errors)
            try:
                if self.preflight is not None:
                    self.preflight()
                query = self.start()
                status = self._wait(query)
                failure = query.exception()
                if self.sink.failure is not None:
                    raise self.sink.failure  # a quality gate: exit 3, not retried
                if failure is not None and STOP_MARK in str(failure) and self.sink.closed:
                    # the batch after the last one we wanted refused to start: expected
                    status = "stopped" if self.stop.requested else "max_batches"
                    failure = None
                if failure is None:
                    return StreamResult(status, attempt, errors)
                raise failure
            except Exception as exc:
                errors.append(one_line(exc))
                if not is_transient(exc):
                    raise  # a quality gate or a failure for good: a stop request never hides it
                if self.stop.requested:  # not retried now; the batch is read again next run
                    raise TransientError(
                        f"stopping after a failed micro-batch: {one_line(exc)}"
                    ) from exc
                if attempt >= self.backoff.attempts:
                    raise TransientError(
                        f"gave up after {attempt} attempt(s): {one_line(exc)}"
                    ) from exc
                delay = self.backoff.delay(attempt)
                log.warning("stream failed (%s); restarting in %.1fs", one_line(exc), delay)
                if self.stop.wait(delay):
                    return StreamResult("stopped", attempt, errors)
                attempt += 1

    def _wait(self, query: StreamingQuery) -> str:
        while True:
            try:
                if query.awaitTermination(self.poll):
                    return "drained"
            except Exception:
                return "failed"  # the caller reads query.exception()
            if self.stop.requested:
                self._graceful_stop(query)
                return "stopped"
            if self.max_batches is not None and self.sink.completed >= self.max_batches:
                self._graceful_stop(query)
                return "max_batches"

    def _graceful_stop(self, query: StreamingQuery) -> None:
        target = self.sink.close()
        deadline = time.monotonic() + self.stop_grace
        while target is not None and query.isActive and time.monotonic() < deadline:
            progress = query.lastProgress
            if progress and progress.get("batchId", -1) >= target:
                break  # that batch is committed
            time.sleep(0.1)
        query.stop()


def kafka_preflight(spark: SparkSession, kafka: KafkaSource) -> Callable[[], None]:
    """A check, with the pipeline's client options, that its brokers answer and accept it.

    Raises ConfigError when they refuse the credentials (the runner does not
    retry it: exit 2) and TransientError when none answers (retried).
    """

    def check() -> None:
        log.info("Kafka pre-check: %s", check_source(spark, kafka))

    return check

"""Backfills: ``batch_load`` over a date range, resumable, retried, in parallel.

- :func:`date_range` / :func:`catchup_range` turn arguments into dates
  (bad input raises :class:`UsageError` before any Spark work); a catch-up
  fills every hole since the first successful load, not only the dates after
  the last one;
- :func:`plan` decides run or skip per date from the ledger: a date loaded
  successfully under the same pipeline fingerprint is skipped unless forced;
- :class:`Backfill` loads the dates to run inside one Spark application,
  ``parallel`` at a time (threads, each its own Spark session and FAIR
  scheduler pool), retrying transient failures with backoff. Every attempt
  is a ``batch_load`` ledger row with its attempt number, so a killed
  backfill resumes by running the same command again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TextIO

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.util import inheritable_thread_target

from lakehouse.batch.load import Report, load_dates, quiet
from lakehouse.batch.source import source_state
from lakehouse.batch.writers import writer_for
from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.errors import (
    ExitCode,
    LakehouseError,
    TransientError,
    UsageError,
    exit_code_for,
    is_transient,
    one_line,
)
from lakehouse.core.retry import Backoff
from lakehouse.core.stopping import Interrupted, StopToken, bookkeeping
from lakehouse.lake import ledger_queries
from lakehouse.lake.ledger import Ledger, RunRecord, new_run_id, utcnow
from lakehouse.lake.session import FAIR_POOLS

log = logging.getLogger(__name__)

LOAD_JOB = "batch_load"
# test hook: "2026-03-02=transient:2,2026-03-03=permanent" (date=kind[:how many attempts]);
# kind "sigterm": the load signals its own process, then stalls in a Spark job
INJECT_ENV = "LAKEHOUSE_INJECT_FAILURES"


# ---------------------------------------------------------------- which dates


def date_range(start: date, end: date, max_days: int) -> list[date]:
    """Every date from ``start`` to ``end``, both included."""
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    days = (end - start).days + 1
    if days > max_days:
        raise UsageError(
            f"{start}..{end} is {days} days, more than --max-days {max_days} (raise it to go on)"
        )
    return [start + timedelta(days=i) for i in range(days)]


def catchup_range(
    span: tuple[date, date] | None,
    loaded: set[date],
    until: date,
    lookback: int,
    max_days: int,
) -> tuple[list[date], set[date]]:
    """The dates ``--catchup`` plans: every hole up to ``until``, plus ``lookback`` days again.

    ``span``: the first and the last date with a successful load of the
    pipeline (any config); ``loaded``: the dates with a successful load
    under the current pipeline fingerprint. A hole is a date from the first
    loaded date to ``until`` that is not in ``loaded``: after the last load,
    but also before it (a date that failed for good between two good ones,
    or one loaded only under another config). The lookback is the
    ``lookback`` days ending with the last loaded date, run again for the
    events that arrived late for them.

    Returns every date from the first one to run to ``until`` (the plan
    skips the loaded ones among them) and the subset to re-load even though
    it was loaded (the lookback).

    Raises:
        UsageError: nothing was ever loaded, a negative lookback, or more
            than ``max_days`` from the first date to run to ``until``.
    """
    if span is None:
        raise UsageError("--catchup: no successful load of this pipeline yet; use --start/--end")
    if lookback < 0:
        raise UsageError("--lookback must not be negative")
    first_loaded, last_loaded = span
    span_days = max((until - first_loaded).days + 1, 0)
    holes = [first_loaded + timedelta(days=i) for i in range(span_days)]
    holes = [d for d in holes if d not in loaded]
    again = {last_loaded - timedelta(days=i) for i in range(lookback)}
    again = {d for d in again if d in loaded and d <= until}  # a hole runs as a hole
    if not holes and not again:
        return [], set()
    start = min([*holes, *again])
    days = (until - start).days + 1
    if days > max_days:
        why = "never loaded successfully with this pipeline config"
        fix = "load the oldest dates first with --start/--end"
        if start in again:
            why, fix = "in the lookback", "give a smaller --lookback"
        raise UsageError(
            f"--catchup: {start}..{until} is {days} days, more than --max-days {max_days} "
            f"(the first date to load, {start}, is {why}); raise --max-days, or {fix}"
        )
    return date_range(start, until, max_days), again


@dataclass(frozen=True)
class DatePlan:
    """One date of the plan: run it or skip it, and why."""

    day: date
    run: bool
    why: str


def plan(
    dates: Iterable[date],
    loaded: Collection[date],
    *,
    force: bool,
    again: Collection[date] = frozenset(),
    changed: Collection[date] = frozenset(),
    only_changed: bool = False,
) -> list[DatePlan]:
    """Run or skip each date.

    Skip: loaded before under the same pipeline fingerprint and source kind,
    from the source as it is now. ``changed``: loaded, but its source changed
    since (late events in bronze, files landed again). ``only_changed``: run
    nothing but those (and the forced or lookback ones): a date never loaded
    is skipped, not loaded.
    """
    out = []
    for day in dates:
        if force and day in loaded:
            out.append(DatePlan(day, True, "loaded before; --force"))
        elif day in changed:
            out.append(DatePlan(day, True, "loaded before; its source changed since"))
        elif day in again:
            out.append(DatePlan(day, True, "loaded before; lookback for late events"))
        elif day in loaded:
            out.append(DatePlan(day, False, "loaded before from its source as it is now"))
        elif only_changed:
            out.append(DatePlan(day, False, "not loaded before (--changed-only)"))
        else:
            out.append(DatePlan(day, True, "not loaded yet with this pipeline config"))
    return out


def loaded_dates(
    ledger: Ledger, pipeline: str, fingerprint: str, kind: str | None = None
) -> dict[date, str | None]:
    """Dates with a successful load under this pipeline fingerprint (and source kind,
    when given), each with the source state of its latest such load (None: not
    recorded, a load made before states were)."""
    return ledger_queries.loaded_dates(ledger.snapshot(), LOAD_JOB, pipeline, fingerprint, kind)


STATE_READERS = 8


def changed_dates(
    spark: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    loaded: Mapping[date, str | None],
    dates: Iterable[date],
    kind: str,
) -> set[date]:
    """The loaded dates among ``dates`` whose source is not in the state they were loaded
    from. A date whose load recorded no state, or whose source is gone now (landed files
    cleaned up), is not counted as changed: there is nothing new to load."""
    candidates = [d for d in dates if loaded.get(d) is not None]
    if not candidates:
        return set()
    reader = inheritable_thread_target(spark)(
        lambda d: source_state(spark, settings, pipeline, d, kind)
    )
    with ThreadPoolExecutor(min(STATE_READERS, len(candidates))) as pool:
        now = dict(zip(candidates, pool.map(reader, candidates), strict=True))
    return {d for d, state in now.items() if state is not None and state != loaded[d]}


def loaded_span(ledger: Ledger, pipeline: str) -> tuple[date, date] | None:
    """The first and the last date with a successful load of the pipeline (any
    config), or None when it was never loaded."""
    return ledger_queries.loaded_span(ledger.snapshot(), LOAD_JOB, pipeline)


# ---------------------------------------------------------------- failure injection


class InjectedFailure(LakehouseError):
    """A permanent failure injected by the test hook."""


def parse_injections(text: str | None) -> dict[date, tuple[str, int]]:
    """``date=kind[:n]`` pairs, comma-separated; kind transient|permanent; n attempts (1)."""
    out: dict[date, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        try:
            day_text, spec = item.split("=", 1)
            kind, _, count = spec.partition(":")
            if kind not in INJECTED_KINDS:
                raise ValueError
            out[date.fromisoformat(day_text)] = (kind, int(count or 1))
        except ValueError:
            raise UsageError(
                f"{INJECT_ENV}: bad item {item!r}: use YYYY-MM-DD=transient[:N], =permanent "
                "or =sigterm"
            ) from None
    return out


INJECTED_KINDS = ("transient", "permanent", "sigterm")
STALL_S = 60


def inject(
    injections: dict[date, tuple[str, int]],
    day: date,
    attempt: int,
    spark: SparkSession | None = None,
) -> None:
    """Raise the failure injected for ``day`` on this attempt, if any (or stall, for
    ``sigterm``: a Spark job of a minute that only a cancel ends early)."""
    kind, count = injections.get(day, ("", 0))
    if attempt > count:
        return
    if kind == "sigterm" and spark is not None:
        os.kill(os.getpid(), signal.SIGTERM)

        def stall(x: int) -> int:
            time.sleep(STALL_S)
            return x

        spark.range(1).select(F.udf(stall, "long")("id")).collect()
        return
    if kind == "transient":
        raise TransientError(f"injected transient failure for {day} (attempt {attempt})")
    raise InjectedFailure(f"injected permanent failure for {day}")


# ---------------------------------------------------------------- execution


@dataclass
class DateResult:
    """How one date ended."""

    day: date
    status: str  # done | failed | not_run
    exit_code: int = 0
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None
    delays: list[float] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


def worst_exit_code(codes: Iterable[int]) -> int:
    """0 all done; 1 any other failure; else 3 quality; else 75 transient after retries."""
    codes = set(codes)
    for code in (ExitCode.FAILURE, ExitCode.QUALITY, ExitCode.TRANSIENT):
        if code in codes:
            return int(code)
    return 0 if codes <= {0} else int(ExitCode.FAILURE)


class Progress:
    """done / failed / running counts, elapsed and ETA: a bar on a terminal, else log lines."""

    def __init__(self, total: int, skipped: int, out: TextIO | None = None):
        self.total = total
        self.skipped = skipped
        self.out = out or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.done = self.failed = self.running = 0
        self.began = time.monotonic()
        self._lock = threading.Lock()

    def started(self) -> None:
        with self._lock:
            self.running += 1
            self._draw()

    def finished(self, result: DateResult) -> None:
        with self._lock:
            self.running -= 1
            if result.status == "done":
                self.done += 1
            elif result.status == "failed":
                self.failed += 1
            if self.tty:
                self._draw()
            else:
                log.info(
                    "%s %s after %d attempt(s), %.1fs%s [%s]",
                    result.day,
                    result.status,
                    result.attempts,
                    result.seconds,
                    f": {result.error}" if result.error else "",
                    self.text(),
                )

    def text(self) -> str:
        elapsed = time.monotonic() - self.began
        finished = self.done + self.failed
        eta = elapsed / finished * (self.total - finished) if finished else None
        return (
            f"{finished}/{self.total}: done {self.done}, failed {self.failed}, skipped "
            f"{self.skipped}, running {self.running}; {elapsed:.0f}s"
            + (f", ETA {eta:.0f}s" if eta is not None else "")
        )

    def _draw(self) -> None:
        if not self.tty:
            return
        width = 24
        filled = int(width * (self.done + self.failed) / max(self.total, 1))
        self.out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.text()}   ")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def scheduler_pool(thread_name: str) -> str:
    """The FAIR pool of a loading thread (``backfill_N``): one of those the package declares.

    Beyond :data:`FAIR_POOLS` threads, pools are shared (jobs within one pool run in turn).
    """
    index = thread_name.rsplit("_", 1)[-1]
    return f"backfill_{int(index) % FAIR_POOLS}" if index.isdigit() else "backfill_0"


def parallel_for(pipeline: Pipeline, asked: int, tell: Report = quiet) -> int:
    """How many loads may run at once: ``asked``, unless the pipeline's silver writer
    does not stay inside its dates (then loads of different dates could conflict, or
    one could read what another is writing): one at a time."""
    writer = writer_for(pipeline)
    if asked > 1 and not writer.isolated_by_date:
        tell(
            f"backfill {pipeline.name}: silver mode {writer.mode} writes outside its dates; "
            f"loading one group at a time (not {asked})"
        )
        return 1
    return asked


class Backfill:
    """Loads dates in one Spark application: ``group`` dates per load (one pass, one
    commit), ``parallel`` loads at once, retrying transient failures with backoff."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        pipeline: Pipeline,
        ledger: Ledger,
        *,
        parallel: int,
        backoff: Backoff,
        group: int = 1,
        fail_fast: bool = False,
        source: str | None = None,
        parent_run_id: str,
        env: str | None = None,
        injections: dict[date, tuple[str, int]] | None = None,
        tell: Report = quiet,
        sleep: Callable[[float], bool] | None = None,
        stop: StopToken | None = None,
    ):
        self.spark = spark
        self.settings = settings
        self.pipeline = pipeline
        self.ledger = ledger
        self.parallel = parallel_for(pipeline, parallel, tell)
        self.group = max(1, group)
        self.backoff = backoff
        self.fail_fast = fail_fast
        self.source = source
        self.parent_run_id = parent_run_id
        self.env = env
        self.injections = injections if injections is not None else {}
        self.tell = tell  # a line per loaded date, for a person (the job prints it)
        self.stop = threading.Event()
        self.interrupted: str | None = None  # the signal that stopped the backfill
        if stop is not None:
            stop.on_stop(self._interrupt)
        self._local = threading.local()
        # waits between attempts; returns True when the backfill is stopping
        self.sleep = sleep or self.stop.wait

    def _interrupt(self, reason: str) -> None:
        """A signal: no new load starts; the running ones are cancelled (core.stopping)."""
        self.interrupted = reason
        self.stop.set()

    def run(self, dates: list[date], progress: Progress) -> list[DateResult]:
        """Load ``dates``; results in date order."""
        if not dates:
            return []
        dates = sorted(dates)
        groups = [dates[i : i + self.group] for i in range(0, len(dates), self.group)]
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="backfill") as pool:
            futures = [pool.submit(self._group, days, progress) for days in groups]
            try:
                results = [r for f in futures for r in f.result()]
            except BaseException:
                self.stop.set()  # signal: no new load starts, running ones finish or fail
                for f in futures:
                    f.cancel()
                raise
        return sorted(results, key=lambda r: r.day)

    def _group(self, days: list[date], progress: Progress) -> list[DateResult]:
        if self.stop.is_set():
            return [
                DateResult(d, "not_run", error="not started (the backfill was stopping)")
                for d in days
            ]
        sc = self.spark.sparkContext
        sc.setLocalProperty("spark.scheduler.pool", scheduler_pool(threading.current_thread().name))
        label = f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
        sc.setJobGroup(f"backfill {self.pipeline.name} {label}", f"batch_load {label}", True)
        for _ in days:
            progress.started()
        results = self._attempts(days)
        for result in results:
            progress.finished(result)
        if self.fail_fast and any(r.status == "failed" for r in results):
            self.stop.set()
        return results

    def _new_record(self, day: date, attempt: int) -> RunRecord:
        return RunRecord(
            run_id=new_run_id(),
            job=LOAD_JOB,
            started_at=utcnow(),
            pipeline=self.pipeline.name,
            logical_date=day,
            attempt=attempt,
            conf_fingerprint=self.pipeline.fingerprint(),
            env=self.env,
            details={"backfill_run_id": self.parent_run_id},
        )

    def _attempts(self, days: list[date]) -> list[DateResult]:
        """Attempts of one group of dates; a date that fails for good leaves the group."""
        began = time.monotonic()
        results = {d: DateResult(d, "failed") for d in days}
        pending = list(days)
        for attempt in range(1, self.backoff.attempts + 1):
            if not pending:
                break
            records = {d: self._new_record(d, attempt) for d in pending}
            for d in pending:
                results[d].attempts = attempt
            try:
                for d in list(pending):
                    try:
                        inject(self.injections, d, attempt, self.spark)
                    except InjectedFailure as exc:  # that date alone fails for good
                        self._fail(records[d], results[d], exc)
                        pending.remove(d)
                if not pending:
                    break
                outcomes = load_dates(
                    self.spark,
                    self.settings,
                    self.pipeline,
                    pending,
                    {d: records[d].run_id for d in pending},
                    source=self.source,
                    group_run_id=records[pending[0]].run_id if len(pending) > 1 else None,
                    tell=self.tell,
                )
            except Exception as exc:  # the whole load failed: every pending date shares it
                if self.interrupted:  # cancelled: stop here, no retry, no date-by-date reload
                    stopped = Interrupted(self.interrupted)
                    for d in pending:
                        self._fail(records[d], results[d], stopped)
                    break
                if len(pending) > 1 and not is_transient(exc):
                    # one date's drift or bad data must not fail the others: alone, each
                    # date gets the outcome it would have had without the group
                    log.warning(
                        "%s..%s failed together (%s); loading them one at a time",
                        pending[0],
                        pending[-1],
                        one_line(exc),
                    )
                    for d in pending:
                        results[d] = self._attempts([d])[0]
                    pending = []
                    break
                for d in pending:
                    self._fail(records[d], results[d], exc)
                self._flush()
                if not is_transient(exc) or attempt == self.backoff.attempts:
                    break
                delay = self.backoff.delay(attempt)
                for d in pending:
                    results[d].delays.append(round(delay, 3))
                log.warning(
                    "%s: attempt %d failed (%s); retry in %.1fs",
                    ", ".join(str(d) for d in pending),
                    attempt,
                    exc,
                    delay,
                )
                if self.sleep(delay):
                    break
                continue
            for d in list(pending):
                outcome = outcomes[d]
                if isinstance(outcome, BaseException) and self.interrupted:
                    self._fail(records[d], results[d], Interrupted(self.interrupted))
                elif isinstance(outcome, BaseException):
                    self._fail(records[d], results[d], outcome)
                else:
                    self._succeed(records[d], results[d], outcome)
            break
        self._flush()
        seconds = round(time.monotonic() - began, 3)
        for result in results.values():
            result.seconds = seconds
        return [results[d] for d in days]

    def _fail(self, record: RunRecord, result: DateResult, exc: BaseException) -> None:
        code = exit_code_for(exc)
        record.finish("failed", code, error=exc, error_message=one_line(exc))
        self._finished.append(record)
        result.status = "failed"
        result.exit_code, result.error = int(code), one_line(exc)

    def _succeed(self, record: RunRecord, result: DateResult, outcome: Any) -> None:
        record.rows_in = outcome.rows_in
        record.rows_out = outcome.rows_out
        record.rows_quarantined = outcome.rows_quarantined
        record.details.update(outcome.details)
        record.finish(outcome.status, outcome.exit_code, error_message=outcome.message)
        self._finished.append(record)
        result.status = "done"
        result.exit_code, result.error = int(outcome.exit_code), None
        result.counts = {
            k: outcome.details.get(k) for k in ("inserted", "updated", "deleted", "unchanged")
        }
        if outcome.status == "skipped":
            result.error = outcome.message

    @property
    def _finished(self) -> list[RunRecord]:
        """This thread's finished attempts, not yet in the ledger."""
        if not hasattr(self._local, "records"):
            self._local.records = []
        return self._local.records

    def _flush(self) -> None:
        """One ledger commit for the attempts of a group (after each attempt)."""
        records, self._local.records = self._finished, []
        try:
            with bookkeeping():  # recorded even while the backfill is being stopped
                self.ledger.append_many(records)
        except Exception as exc:  # the loads themselves are done (or failed) either way
            days = ", ".join(str(r.logical_date) for r in records)
            log.warning("%s: attempts not recorded in the ledger: %s", days, exc)


def injections_from_env(environ: dict[str, str] | None = None) -> dict[date, tuple[str, int]]:
    """The test hook's failures from ``LAKEHOUSE_INJECT_FAILURES``."""
    return parse_injections((environ if environ is not None else os.environ).get(INJECT_ENV))

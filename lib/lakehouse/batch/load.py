"""A batch load of a group of dates into silver, in one pass and one commit, as named steps.

Each date of the group is loaded exactly as if it were alone: its own
source, refusals, deduplication, quality verdict, counts and ledger
Outcome. :class:`DateGroupLoad` runs the steps in order:

1. ``open_sources`` - each date's source (:mod:`lakehouse.batch.source`),
   several at once; a date without one is skipped or failed
   (``silver.on_missing_source``).
2. ``combine`` - one frame of every date's rows, each tagged with its date.
3. ``prepare`` - refusals, the partition column, deduplication per date
   (:mod:`lakehouse.batch.prepare`) and the quality rules' flags,
   materialized once: counts, rules, quarantine and write all read it.
4. ``count_reasons`` / ``find_new_columns`` / ``check_schema`` - what each
   date holds, new source columns, drift against silver (exit 2).
5. ``judge`` - the quality rules, per date (``row_count_change`` sees the
   group's earlier dates as if they had loaded one by one).
6. ``decide`` - which dates are written; a failed gate or a date that would
   be emptied fails that date alone.
7. ``write`` - the quarantine (:mod:`lakehouse.batch.quarantine`), the
   silver write by ``silver.mode`` (:mod:`lakehouse.batch.writers`; a dry
   run asks the same writer for its plan and commits nothing), then the
   quality results.
8. ``outcomes`` - a ledger Outcome and a line for a person per date.

Every commit carries ``userMetadata`` naming the run. No SQL text is built
from config or argument values: conditions are Column expressions over
validated identifiers; the string predicates Delta needs (``replaceWhere``)
are formatted from ``datetime.date`` values and checked identifiers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.util import inheritable_thread_target

from lakehouse.batch.prepare import (
    check_schema,
    per_date,
    prepare,
    silver_columns,
    silver_schema,
    with_audit,
)
from lakehouse.batch.quarantine import refused_rows, write_load_quarantine
from lakehouse.batch.source import (
    SourceFrame,
    read_source,
    record_of,
    source_kind,
)
from lakehouse.batch.writers import (
    LoadCounts,
    commit_metadata,
    days_filter,
    ensure_silver,
    plan_changes,
    retry_in_load,
    write_silver,
    writer_for,
)
from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.columns import (
    AUDIT_COLUMNS,
    DUPLICATE,
    EXTRA,
    LOGICAL_DATE,
    RECORD,
    SOURCE,
)
from lakehouse.core.errors import LakehouseError, MissingSourceError, QualityGateError
from lakehouse.core.retry import retry
from lakehouse.decode.events import REASON
from lakehouse.lake.delta_io import materialize, release
from lakehouse.lake.ledger import Outcome
from lakehouse.lake.ledger_queries import recent_checked_counts, snapshot
from lakehouse.lake.tables import PipelineTables
from lakehouse.quality import (
    QUALITY_REASON,
    HistoryOf,
    QualityReport,
    RuleSet,
    history_for,
    max_window,
    result_rows,
    write_results,
)

log = logging.getLogger(__name__)

SOURCE_READERS = 8  # dates whose sources are opened at once by a multi-date load

Report = Callable[[str], None]  # where a load's lines for a person go


def quiet(line: str) -> None:
    """The default :data:`Report`: domain code prints nothing itself."""


class NothingToLoadError(LakehouseError):
    """Every source row was refused, and the mode would have emptied the day."""


def load_date(
    session: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    day: date,
    run_id: str,
    *,
    source: str | None = None,
    dry_run: bool = False,
    tell: Report = quiet,
) -> Outcome:
    """Load one date (``batch_load``); raises what made it fail."""
    result = load_dates(
        session,
        settings,
        pipeline,
        [day],
        {day: run_id},
        source=source,
        dry_run=dry_run,
        tell=tell,
    )[day]
    if isinstance(result, BaseException):
        raise result
    return result


def load_dates(
    session: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    days: Sequence[date],
    run_ids: Mapping[date, str],
    *,
    source: str | None = None,
    dry_run: bool = False,
    group_run_id: str | None = None,
    tell: Report = quiet,
) -> dict[date, Outcome | BaseException]:
    """Load several dates in one pass and one commit, each exactly as if it were alone.

    Each date keeps its own source, refusals, deduplication, counts and
    Outcome (or the exception that failed it: a missing source, nothing
    valid to replace the day with). A failure of the whole pass (schema
    drift, a conflict after the retries) raises. Safe to call from several
    threads at once: each call works in a session of its own. ``tell``
    gets a line per date for a person (the jobs print it; the default drops it).
    """
    load = DateGroupLoad(
        session,
        settings,
        pipeline,
        days,
        run_ids,
        source=source,
        dry_run=dry_run,
        group_run_id=group_run_id,
        tell=tell,
    )
    return load.run()


class DateGroupLoad:
    """One load of a group of dates; :meth:`run` takes the steps in order (see the
    module docstring). Used once."""

    def __init__(
        self,
        session: SparkSession,
        settings: Settings,
        pipeline: Pipeline,
        days: Sequence[date],
        run_ids: Mapping[date, str],
        *,
        source: str | None,
        dry_run: bool,
        group_run_id: str | None,
        tell: Report,
    ):
        self.writer = writer_for(pipeline)  # a pipeline without silver is a ConfigError here
        self.kind = source_kind(pipeline, source)
        assert pipeline.silver is not None
        self.silver = pipeline.silver
        self.settings = settings
        self.pipeline = pipeline
        self.days = sorted(days)
        self.run_ids = run_ids
        self.dry_run = dry_run
        self.group_run_id = group_run_id
        self.tell = tell
        # a session of its own: the MERGE's userMetadata is a session setting
        self.spark = session.newSession()
        self.tables = PipelineTables(settings, pipeline)
        self.target = self.tables.silver
        self.base: dict[str, Any] = {
            "mode": self.silver.mode,
            "source_kind": self.kind,
            "target": self.target,
        }
        self.results: dict[date, Outcome | BaseException] = {}
        self.frames: dict[date, SourceFrame] = {}
        self.rules = RuleSet(pipeline.quality, keys=pipeline.keys, event_time=pipeline.event_time)
        self.day_col = F.col(LOGICAL_DATE)
        self.prepared: DataFrame | None = None
        self.extra: list[str] = []
        # per date, from count_reasons and decide
        self.stats: dict[date, dict[str | None, int]] = {}
        self.valid: dict[date, int] = {}
        self.duplicates: dict[date, int] = {}
        self.refused: dict[date, dict[str, int]] = {}
        self.reports: dict[date, QualityReport] = {}
        self.writing: list[date] = []
        self.counts: dict[date, LoadCounts] = {}
        self.metadata = ""  # the silver commit's userMetadata (set by write)

    def run(self) -> dict[date, Outcome | BaseException]:
        """Load the dates; per date its Outcome or what failed it."""
        began = time.monotonic()
        self.open_sources()
        if not self.frames:
            return self.results
        combined = self.combine()
        self.check_rules()
        self.prepared = materialize(self.prepare(combined, ()))
        try:
            self.count_reasons()
            if not self.frames:
                return self.results
            self.find_new_columns(combined)
            where = ", ".join(f.location for f in self.frames.values())
            check_schema(
                self.spark,
                self.pipeline,
                self.target,
                with_audit(self.prepared, self.run_col),
                self.extra,
                where,
            )
            self.judge()
            self.decide()
            self.write()
        finally:
            release(self.prepared)
        self.outcomes(time.monotonic() - began)
        return self.results

    # ------------------------------------------------------------ steps

    def open_sources(self) -> None:
        """Each date's source; a date without one is skipped or failed."""
        # opening a source lists its files and reads their schema on the driver: for
        # many dates, several at once (a thread each; a session is thread-safe)
        opener = inheritable_thread_target(self.spark)(  # the caller's pool and job group
            lambda d: read_source(self.spark, self.settings, self.pipeline, d, self.kind)
        )
        with ThreadPoolExecutor(min(SOURCE_READERS, len(self.days)) or 1) as pool:
            opened = list(pool.map(opener, self.days))
        for day, frame in zip(self.days, opened, strict=True):
            if frame is None:
                self.missing(day)
            else:
                self.frames[day] = frame

    def missing(self, day: date) -> None:
        """``day`` has no source (or not a row in it): skipped or failed, by config."""
        pipeline = self.pipeline
        where = (
            f"{self.tables.bronze} ({pipeline.partition_by}={day.isoformat()})"
            if self.kind == "bronze"
            else self.tables.files(day)
        )
        message = f"no {self.kind} source for {day.isoformat()}: {where} is missing or empty"
        if self.silver.on_missing_source == "skip":
            self.tell(f"batch_load {pipeline.name} {day}: skipped ({message})")
            self.results[day] = Outcome(
                status="skipped", message=message, details={**self.base, "source": where}
            )
        else:
            self.results[day] = MissingSourceError(f"{message} (on_missing_source: fail)")

    def combine(self) -> SourceFrame:
        """One frame of every date's rows, each row tagged with its logical date."""
        frames = self.frames
        union = None
        for day, frame in frames.items():
            df = frame.df.withColumn(LOGICAL_DATE, F.lit(day))
            union = df if union is None else union.unionByName(df, allowMissingColumns=True)
        assert union is not None
        first = next(iter(frames.values()))
        # per-date values that need not travel through the shuffles: added where written
        self.run_col = per_date(self.day_col, {d: self.run_ids[d] for d in frames})
        self.source_col = per_date(self.day_col, {d: f.location for d, f in frames.items()})
        self.record_col = record_of(self.day_col, frames)
        return SourceFrame(
            union,
            first.location if len(frames) == 1 else f"{len(frames)} dates",
            self.kind,
            extra_columns=sorted({c for f in frames.values() for c in f.extra_columns}),
            json_keys=first.json_keys,
        )

    def check_rules(self) -> None:
        """The rules against the data's columns, before a row is read (exit 2)."""
        if self.rules:
            self.rules.validate(
                T.StructType(
                    [f for f in silver_schema(self.pipeline).fields if f.name not in AUDIT_COLUMNS]
                ),
                self.spark,
            )

    def prepare(self, combined: SourceFrame, extra: Sequence[str]) -> DataFrame:
        """Rows ready for silver or the quarantine, flagged by the rules (not yet computed)."""
        df = prepare(combined, self.pipeline, self.day_col, None, extra, within=[LOGICAL_DATE])
        if not self.rules:
            return df
        return self.rules.flag(df, group_by=[LOGICAL_DATE], only=F.col(REASON).isNull())

    def count_reasons(self) -> None:
        """Rows per date and reason; a source without a single row counts as missing."""
        assert self.prepared is not None
        for row in self.prepared.groupBy(LOGICAL_DATE, REASON).count().collect():
            self.stats.setdefault(row[LOGICAL_DATE], {})[row[REASON]] = int(row["count"])
        for day in [d for d in self.frames if d not in self.stats]:
            self.missing(day)
            del self.frames[day]

    def find_new_columns(self, combined: SourceFrame) -> None:
        """Source columns outside the schema; with schema evolution, their values are
        carried along (the rows are prepared once more)."""
        assert self.prepared is not None
        self.extra = list(combined.extra_columns)
        if not combined.json_keys:
            return
        found = self.prepared.select(F.explode(EXTRA)).distinct().collect()
        self.extra = sorted(r[0] for r in found if r[0])
        if self.extra and self.silver.schema_evolution:
            release(self.prepared)
            self.prepared = materialize(self.prepare(combined, self.extra))

    def judge(self) -> None:
        """The quality rules' verdict per date (none without rules)."""
        if not self.rules:
            return
        assert self.prepared is not None
        self.reports = self.rules.evaluate(
            self.prepared,
            group_by=[LOGICAL_DATE],
            history=_quality_history(
                self.spark, self.settings, self.pipeline, list(self.stats), self.published
            ),
            # a date's source is judged as of the end of that date, not today
            now={d: _day_end(d) for d in self.stats},
        )

    def published(self, day: date, report: QualityReport) -> bool:
        """Whether ``day`` ends written, a successful load (as :meth:`decide` decides)."""
        kept = self.stats[day].get(None, 0) - report.rows_dropped - report.rows_quarantined
        empties = self.writer.empties_dates(self.silver)
        return not self.dry_run and not report.gate_failed and (kept > 0 or not empties)

    def decide(self) -> None:
        """Split each date's counts; fail a date whose gate failed or that would be emptied;
        the others are written."""
        empties = self.writer.empties_dates(self.silver)
        for day, counted in self.stats.items():
            by_reason = dict(counted)
            self.valid[day] = by_reason.pop(None, 0)
            self.duplicates[day] = by_reason.pop(DUPLICATE, 0)
            refused = self.refused[day] = {str(k): v for k, v in by_reason.items()}
            report = self.reports.get(day)
            if report is not None:
                self.valid[day] -= report.rows_dropped + report.rows_quarantined
                if report.rows_quarantined:
                    refused[QUALITY_REASON] = report.rows_quarantined
                if report.gate_failed:
                    where = "would go" if self.dry_run else "are"
                    self.results[day] = QualityGateError(
                        f"{day.isoformat()}: {report.message()} (nothing written to "
                        f"{self.silver.table}; the rows {where} in the "
                        f"{self.pipeline.name}_loads quarantine)"
                    )
                    continue
            if self.valid[day] == 0 and empties:
                self.results[day] = NothingToLoadError(
                    f"no valid rows for {day.isoformat()} in {self.frames[day].location} "
                    f"({sum(refused.values())} refused: {refused}); not emptying the day"
                )
            else:
                self.writing.append(day)

    def write(self) -> None:
        """Quarantine, silver and quality results (a dry run: only the silver plan)."""
        assert self.prepared is not None
        pipeline, writing = self.pipeline, self.writing
        publish = F.col(REASON).isNull()
        if self.rules:
            publish = publish & ~F.col(self.rules.MOVE) & ~F.col(self.rules.DROP)
        rows = with_audit(
            self.prepared.filter(publish & days_filter(self.day_col, writing)), self.run_col
        ).select(*silver_columns(pipeline, self.extra))
        the_run = self.group_run_id or self.run_ids[(writing or sorted(self.stats))[0]]
        self.metadata = commit_metadata(the_run, pipeline, writing, self.silver.mode)
        if self.dry_run:  # the writer's plan, not committed; nothing else is written
            if writing:
                self.counts = plan_changes(
                    self.spark,
                    self.target,
                    rows,
                    pipeline,
                    writing,
                    extra=self.extra,
                    source_rows=self.valid,
                )
            return
        self.quarantine()
        if writing:
            ensure_silver(self.spark, self.target, pipeline)
            self.counts = write_silver(
                self.spark,
                self.target,
                rows,
                pipeline,
                writing,
                metadata=self.metadata,
                extra=self.extra,
                source_rows=self.valid,
            )
        self.store_results()  # after silver: a load retried after a failed write counts once

    def quarantine(self) -> None:
        """Every counted date's refused rows replace its rows in the load quarantine."""
        assert self.prepared is not None
        counted = sorted(self.stats)  # a fully refused date's rejects are kept too
        rejected = with_audit(
            refused_rows(self.prepared, self.rules, counted).withColumn(RECORD, self.record_col),
            self.run_col,
        ).withColumn(SOURCE, self.source_col)
        retry(
            lambda: write_load_quarantine(
                self.spark,
                self.tables.load_quarantine,
                rejected,
                counted,
                count=sum(sum(self.refused[d].values()) for d in counted),
            ),
            self.silver.retry.backoff(),
            retryable=retry_in_load,
        )

    def store_results(self) -> None:
        """The rules' results of every counted date, in the quality results table."""
        if not self.reports:
            return
        checked_at = datetime.now(timezone.utc)
        write_results(
            self.spark,
            self.settings.quality_path,
            [
                row
                for d in sorted(self.stats)
                if d in self.reports
                for row in result_rows(
                    self.reports[d],
                    run_id=self.run_ids[d],
                    job="batch_load",
                    pipeline=self.pipeline.name,
                    logical_date=d,
                    checked_at=checked_at,
                )
            ],
        )

    def outcomes(self, elapsed: float) -> None:
        """A line for a person and the ledger Outcome of every written date."""
        for day in self.writing:
            c = self.counts[day]
            refused = self.refused[day]
            report = self.reports.get(day)
            self.tell(
                summary(
                    self.pipeline.name,
                    day,
                    self.silver.mode,
                    c,
                    self.duplicates[day],
                    refused,
                    elapsed,
                    dry_run=self.dry_run,
                    quality=report,
                )
            )
            self.results[day] = Outcome(
                status="dry_run" if self.dry_run else "success",
                rows_in=sum(self.stats[day].values()),  # every source row of the date
                rows_out=0 if self.dry_run else c.inserted + c.updated,
                rows_quarantined=0 if self.dry_run else sum(refused.values()),
                details={
                    **self.base,
                    "source": self.frames[day].location,
                    "source_state": self.frames[day].state,
                    **c.as_dict(),
                    "valid_rows": self.valid[day],
                    "duplicates_in_source": self.duplicates[day],
                    "quarantined_by_reason": refused,
                    "new_columns": self.extra,
                    **({"quality": report.summary()} if report is not None else {}),
                    "dry_run": bool(self.dry_run),
                    "user_metadata": self.metadata,
                    "loaded_with": [d.isoformat() for d in self.writing],
                },
            )


def _day_end(day: date) -> datetime:
    """Midnight UTC after ``day``: the clock a date's source is judged by."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)


def _quality_history(
    spark: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    days: Sequence[date],
    published: Callable[[date, QualityReport], bool],
) -> HistoryOf | None:
    """Rows checked by earlier successful loads, newest first, per date being loaded.

    A date's history is what the ledger would hold had the dates of the group
    been loaded one at a time, in date order: the counts of the group's
    earlier dates that ``published`` says are written (newest first; they
    replace older runs of those dates), then the ledger's. None without a
    ``row_count_change`` rule.
    """
    window = max_window(pipeline.quality)
    if not window:
        return None
    recent = recent_checked_counts(
        snapshot(spark, settings.ledger_path),
        job="batch_load",
        pipeline=pipeline.name,
        limit=window + len(days),
    )

    def history(day: date, earlier: Mapping[date, QualityReport]) -> list[int]:
        loaded = [(d, r.rows_checked) for d, r in sorted(earlier.items()) if published(d, r)]
        replaced = {d for d, _ in loaded}
        runs = [*reversed(loaded), *[(d, n) for d, n in recent if d not in replaced]]
        return history_for(runs, day, window)

    return history


def summary(
    pipeline: str,
    day: date,
    mode: str,
    counts: LoadCounts,
    duplicates: int,
    refused: dict[str, int],
    elapsed: float,
    *,
    dry_run: bool,
    quality: QualityReport | None = None,
) -> str:
    """The one human line a load prints per date (before the job's JSON record)."""
    verb = "would insert" if dry_run else "inserted"
    checked = ""
    if quality is not None:
        broken = ", ".join(f"{r.rule} {r.rows_failed or 'failed'}" for r in quality.broken)
        checked = f"; quality: {len(quality.results)} rules, broken: {broken or 'none'}"
    refused_text = ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "none"
    tail = " (day already identical: nothing written)" if counts.skipped_write else ""
    version = f", version {counts.version}" if counts.version is not None else ""
    return (
        f"batch_load {pipeline} {day.isoformat()} [{mode}]: {verb} {counts.inserted}, "
        f"updated {counts.updated}, deleted {counts.deleted}, unchanged {counts.unchanged}; "
        f"{duplicates} source duplicates dropped, refused: {refused_text}{checked}{version}; "
        f"{elapsed:.1f}s{tail}"
    )

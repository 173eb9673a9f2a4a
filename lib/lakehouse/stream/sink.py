"""The micro-batch sink of ``stream_ingest``: a gate, a per-batch writer, the run's totals.

:class:`BronzeSink` is the ``foreachBatch`` function. It composes

- :class:`SinkGate`: which micro-batches may still write (a stop or the batch
  limit closes it; a batch that starts after that fails before writing);
- :class:`BronzeBatchWriter`: one micro-batch, counted, checked and written
  (bronze, quarantine), safe to run twice for the same batch id;
- :class:`RunTotals`: what the batches of this run did, for the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.columns import EXTRA
from lakehouse.core.errors import ConfigError, QualityGateError
from lakehouse.decode.events import (
    DETAIL,
    INGESTED_AT,
    KAFKA_COLUMNS,
    LATE,
    QUARANTINE_SCHEMA,
    RAW_HEADERS,
    RAW_KEY,
    RAW_VALUE,
    REASON,
    bronze_projection,
    bronze_schema,
    mark_late,
    quarantine_projection,
)
from lakehouse.lake.delta_io import ensure_table, idempotent_append, insert_if_absent, table_version
from lakehouse.quality import QUALITY_REASON, ROW_KINDS, QualityReport, RuleSet
from lakehouse.stream.checkpoint import CheckpointInfo, CheckpointLog
from lakehouse.stream.plan import BRANCH, KEPT, SEEN, helper_columns, stream_rules

log = logging.getLogger("lakehouse.stream")

MAX_BATCHES_IN_DETAILS = 50
MAX_UNKNOWN_FIELDS = 20  # names of fields outside the schema kept per batch and per run
STOP_MARK = "lakehouse-stop-requested"


class StopRequested(RuntimeError):
    """Raised by the sink for a micro-batch that starts after a stop was requested."""


class BatchGateError(QualityGateError):
    """A ``fail`` rule stopped a micro-batch before it wrote anything (exit 3)."""

    def __init__(self, message: str, report: QualityReport):
        super().__init__(message)
        self.report = report


@dataclass
class BatchMetrics:
    """What one micro-batch did."""

    batch_id: int
    input_rows: int = 0
    bronze_inserted: int = 0
    duplicates: int = 0
    late: int = 0
    quarantined: int = 0
    quality_dropped: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, list[int]] = field(default_factory=dict)
    late_watermark: str | None = None
    # valid events with JSON fields outside the schema (bronze keeps them with keep_raw)
    unknown_field_rows: int = 0
    unknown_fields: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        """One log line."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.by_reason.items())) or "none"
        offsets = " ".join(f"{tp}:{lo}-{hi}" for tp, (lo, hi) in sorted(self.offsets.items()))
        unknown = (
            f"; {self.unknown_field_rows} with fields outside the schema "
            f"({', '.join(self.unknown_fields)})"
            if self.unknown_field_rows
            else ""
        )
        return (
            f"batch {self.batch_id}: {self.input_rows} in, {self.bronze_inserted} new in bronze, "
            f"{self.duplicates} duplicate, {self.late} late, {self.quarantined} quarantined "
            f"({reasons}){unknown}; offsets {offsets or '-'}; {self.duration_s:.2f}s"
        )


@dataclass
class _Tally:
    """A micro-batch's one aggregation, read: its rows per outcome and what they add up to."""

    stats: list[Any]  # rows of (outcome, topic, partition, day) with counts and rule totals
    kept_rows: int = 0  # rows of the `kept` branch (after the dedup)
    kept_days: set[Any] = field(default_factory=set)
    valid: int = 0  # valid, on-time rows of the `seen` branch


class SinkGate:
    """Which micro-batches may still write: open until a stop or the batch limit closes it."""

    def __init__(self, limit: int | None = None):
        self._lock = threading.Lock()
        self._closed = False
        self._in_flight: int | None = None
        self._last_done: int | None = None
        self.limit = limit  # close after this many batches (--max-batches)

    @property
    def closed(self) -> bool:
        """True once a stop or the batch limit has closed the gate."""
        with self._lock:
            return self._closed

    def close(self) -> int | None:
        """Refuse new micro-batches; return the batch whose commit the caller should await.

        A batch already running finishes; a batch that starts after this fails
        at once, before writing anything, and is run again by the next run.
        """
        with self._lock:
            self._closed = True
            return self._in_flight if self._in_flight is not None else self._last_done

    def enter(self, batch_id: int) -> None:
        """Admit batch ``batch_id``, or raise :class:`StopRequested` once closed."""
        with self._lock:
            if self._closed:
                raise StopRequested(f"{STOP_MARK}: batch {batch_id} left for the next run")
            self._in_flight = batch_id

    def leave(self) -> None:
        """The admitted batch ended (written or failed)."""
        with self._lock:
            self._in_flight = None

    def done(self, batch_id: int, completed: int) -> None:
        """Batch ``batch_id`` was written, the ``completed``-th of this run."""
        with self._lock:
            self._last_done = batch_id
            if self.limit is not None and completed >= self.limit:
                self._closed = True  # exact, whatever the runner's polling interval


class RunTotals:
    """What this run's micro-batches did: their metrics and their rules' reports."""

    def __init__(self, judged: bool):
        self._lock = threading.Lock()
        self.judged = judged  # the pipeline has row rules (else no quality report)
        self.batches: list[BatchMetrics] = []
        self.quality: list[QualityReport] = []  # one per written micro-batch
        self.failed_quality: QualityReport | None = None  # the batch a `fail` rule stopped

    def add(self, metrics: BatchMetrics, report: QualityReport | None) -> int:
        """Count a written batch; returns how many this run has written."""
        with self._lock:
            if report is not None:
                self.quality.append(report)
            self.batches.append(metrics)
            return len(self.batches)

    @property
    def completed(self) -> int:
        """Micro-batches written in this run."""
        with self._lock:
            return len(self.batches)

    def sums(self) -> dict[str, Any]:
        """Sums over the batches of this run, for the ledger row and the summary."""
        with self._lock:
            batches = list(self.batches)
        by_reason: dict[str, int] = {}
        unknown: set[str] = set()
        for b in batches:
            for reason, n in b.by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0) + n
            unknown.update(b.unknown_fields)
        return {
            "batches": len(batches),
            "input_rows": sum(b.input_rows for b in batches),
            "bronze_inserted": sum(b.bronze_inserted for b in batches),
            "duplicates": sum(b.duplicates for b in batches),
            "late": sum(b.late for b in batches),
            "quarantined": sum(b.quarantined for b in batches),
            "quarantined_by_reason": by_reason,
            "quality_dropped": sum(b.quality_dropped for b in batches),
            "unknown_field_rows": sum(b.unknown_field_rows for b in batches),
            "unknown_fields": sorted(unknown)[:MAX_UNKNOWN_FIELDS],
        }

    def quality_report(self) -> QualityReport | None:
        """The row rules' results over this run's batches, including one a `fail`
        rule stopped (None without rules)."""
        with self._lock:
            reports = list(self.quality)
        if self.failed_quality is not None:
            reports.append(self.failed_quality)
        return QualityReport.combine(reports) if self.judged else None

    def batch_details(self) -> list[dict[str, Any]]:
        """The last batches' metrics, for the ledger's details."""
        with self._lock:
            return [asdict(b) for b in self.batches[-MAX_BATCHES_IN_DETAILS:]]


class BronzeBatchWriter:
    """One micro-batch to bronze and quarantine: safe to run twice for the same batch id."""

    def __init__(
        self,
        spark: SparkSession,
        pipeline: Pipeline,
        settings: Settings,
        *,
        run_id: str,
        checkpoint: str,
    ):
        if pipeline.bronze is None or pipeline.stream is None:
            raise ConfigError(f"pipeline {pipeline.name} needs `bronze` and `stream` sections")
        self.spark = spark
        self.pipeline = pipeline
        self.run_id = run_id
        self.log = CheckpointLog(spark, checkpoint)
        self.bronze_path = settings.table_path(pipeline.bronze.table, pipeline.bronze.path)
        self.quarantine_path = settings.quarantine_path(pipeline.name)
        self.quarantine_late = pipeline.stream.late_events == "quarantine"
        # the old checkpoint's watermark after a reset (CheckpointInfo.watermark_floor_ms)
        self.watermark_floor_ms = 0
        self.dedup = pipeline.bronze.dedup
        self.lookback_days = pipeline.bronze.lookback_days
        self.keep_raw = pipeline.bronze.keep_raw  # bronze keeps raw_value and raw_headers
        # bronze's columns a `seen` row of the batch does not need
        self.kept_only = [
            c
            for c in [*(col.name for col in pipeline.columns), pipeline.partition_by, RAW_HEADERS]
            if c not in (*pipeline.keys, pipeline.event_time)
        ]
        self.app_id: str | None = None  # txnAppId of bronze appends (CheckpointInfo.app_id)
        self.maybe_replayed: int | None = None  # the batch Spark logged but did not commit
        # a replay (--replay-from): {topic: {partition: offset}} below which bronze may hold rows
        self.rewrite_until: dict[str, dict[str, int]] | None = None
        # called once, before the first write of this run (CheckpointGuard.mark_written)
        self.on_first_write: Callable[[], None] | None = None
        # row rules per micro-batch (dataset rules judge whole loads: batch_load), all of
        # them (validated together), and as they run: row checks flagged in the plan,
        # before the dedup; `unique` here, on the kept rows (see stream_rules)
        self.rules = RuleSet(
            [r for r in pipeline.quality if r.rule in ROW_KINDS],
            keys=pipeline.keys,
            event_time=pipeline.event_time,
        )
        self.checks, self.unique = stream_rules(pipeline)

    def use_checkpoint(self, info: CheckpointInfo) -> None:
        """Write for this checkpoint: its app id, carried watermark and replay bound."""
        self.app_id = info.app_id
        self.watermark_floor_ms = info.watermark_floor_ms
        self.rewrite_until = info.rewrite_until

    def written_offsets(self) -> dict[str, dict[str, int]]:
        """{topic: {partition: last offset + 1}} of the rows bronze holds (before a replay)."""
        if not DeltaTable.isDeltaTable(self.spark, self.bronze_path):
            return {}
        rows = (
            self.spark.read.format("delta")
            .load(self.bronze_path)
            .groupBy("kafka_topic", "kafka_partition")
            .agg(F.max("kafka_offset").alias("last"))
            .collect()
        )
        out: dict[str, dict[str, int]] = {}
        for row in rows:
            out.setdefault(row.kafka_topic, {})[str(row.kafka_partition)] = int(row["last"]) + 1
        return out

    def ensure_tables(self) -> None:
        """Create bronze and quarantine before the first batch needs them."""
        p = self.pipeline
        ensure_table(
            self.spark,
            self.bronze_path,
            bronze_schema(p.columns, p.partition_by, self.keep_raw),
            partition_by=[p.partition_by],
            properties=p.maintenance.properties(),  # set now: later, a change conflicts
            add_missing=self.keep_raw,  # keep_raw switched on for an existing bronze
        )
        ensure_table(
            self.spark,
            self.quarantine_path,
            QUARANTINE_SCHEMA,
            properties=p.maintenance.properties(),
        )

    def validate_rules(self) -> None:
        """Check the quality rules against bronze's columns (ConfigError: exit 2)."""
        if self.rules:
            p = self.pipeline
            self.rules.validate(bronze_schema(p.columns, p.partition_by, self.keep_raw), self.spark)

    def process(
        self, batch_df: DataFrame, batch_id: int
    ) -> tuple[BatchMetrics, QualityReport | None]:
        """Write one micro-batch; its metrics and its rules' report (None without rules).

        Raises :class:`BatchGateError` when a ``fail`` rule broke, before
        anything is written.
        """
        started = time.monotonic()
        p = self.pipeline
        spark_watermark = self.log.late_watermark_ms(batch_id)
        watermark = max(spark_watermark, self.watermark_floor_ms)
        is_seen = F.col(BRANCH) == SEEN
        marked = mark_late(batch_df, p.event_time, watermark, only=is_seen)
        if watermark > spark_watermark:
            # a reset carried the old checkpoint's watermark: rows Spark kept that are not
            # after it are late (their `seen` copies are marked so above), not for bronze
            marked = marked.filter(
                is_seen | (F.col(p.event_time) > F.timestamp_millis(F.lit(watermark)))
            )
        refused = F.col(REASON).isNotNull()
        if not self.quarantine_late:
            refused = refused & (F.col(REASON) != LATE)
        if self.checks:
            # the plan flagged every valid event; they count on the valid on-time ones
            # (a late event is late, whatever rule it breaks)
            marked = self.checks.restrict(marked, is_seen & F.col(REASON).isNull())
            refused = refused | F.col(self.checks.MOVE)
        # less to cache: the raw text only on rows bound for quarantine (and, with
        # keep_raw, on rows bound for bronze), the event's other fields only on `kept` rows
        # (a `seen` row needs its keys and event time), none of the plan's helper columns
        bound_for_quarantine = is_seen & refused
        keeps = {RAW_KEY: bound_for_quarantine, RAW_VALUE: bound_for_quarantine}
        if self.keep_raw:
            keeps[RAW_VALUE] = bound_for_quarantine | ~is_seen
        for name in self.kept_only:
            keeps[name] = ~is_seen
        helpers = set(helper_columns(p))
        df = marked.select(
            *[
                F.when(keeps[c], F.col(c)).alias(c) if c in keeps else c
                for c in marked.columns
                if c not in helpers
            ]
        )
        if self.unique:  # `unique` compares rows: judged on the kept (deduplicated) ones
            df = self.unique.flag(df, only=~is_seen)
        # the cache lives for one batch: compressing its columns costs more than it saves
        df.sparkSession.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
        df = df.persist()
        try:
            metrics, report = self._write(df, batch_id, is_seen)
        finally:
            df.unpersist()
        if watermark:
            metrics.late_watermark = datetime.fromtimestamp(
                watermark / 1000, timezone.utc
            ).isoformat()
        metrics.duration_s = round(time.monotonic() - started, 3)
        if metrics.input_rows:
            log.info("%s", metrics.line())
        return metrics, report

    def _write(
        self, df: DataFrame, batch_id: int, is_seen: Any
    ) -> tuple[BatchMetrics, QualityReport | None]:
        """Count, check and write one micro-batch (``df``: both branches, held).

        One aggregation gives the counts per outcome and the rule results: the
        row checks over the valid on-time ``seen`` rows, ``unique`` over the
        ``kept`` ones. A ``fail`` rule raises before anything is written.
        Then bronze gets the kept rows ``unique`` did not refuse; quarantine
        gets the rows the parse refused, the late ones (``late_events:
        quarantine``) and those a ``quarantine`` rule refused; and
        ``duplicates`` is what is left of the valid on-time events: those
        minus the new bronze rows minus the events rules quarantined or dropped.
        """
        metrics = BatchMetrics(batch_id=batch_id)
        tally = self._tally(df, is_seen, metrics)
        checked, uniques, report = self._judge(df, tally, metrics)
        moved = checked.rows_quarantined + uniques.rows_quarantined
        metrics.late = metrics.by_reason.get(LATE, 0)
        if not self.quarantine_late:
            metrics.by_reason.pop(LATE, None)
        admitted = tally.valid - checked.rows_quarantined - checked.rows_dropped
        if admitted < tally.kept_rows:  # cannot happen while Spark's late rule is the one we mirror
            log.warning(
                "batch %d: %d rows kept but only %d valid, on time and passing the row rules; "
                "late accounting is off",
                batch_id,
                tally.kept_rows,
                admitted,
            )
        if tally.kept_rows:
            if self.on_first_write is not None:
                self.on_first_write()
                self.on_first_write = None
            publish = ~is_seen
            if self.unique:
                publish = publish & ~F.col(self.unique.MOVE) & ~F.col(self.unique.DROP)
            clock = time.monotonic()
            p = self.pipeline
            rows = df.filter(publish).transform(
                bronze_projection, p.columns, p.partition_by, self.keep_raw
            )
            to_publish = tally.kept_rows - uniques.rows_quarantined - uniques.rows_dropped
            metrics.bronze_inserted = self._write_bronze(
                rows, batch_id, tally.kept_days, metrics.offsets, to_publish
            )
            metrics.phases_s["bronze_write"] = round(time.monotonic() - clock, 3)
        metrics.duplicates = tally.valid - metrics.bronze_inserted - moved - metrics.quality_dropped
        self._quarantine(df, is_seen, metrics, checked, uniques)
        return metrics, report

    def _tally(self, df: DataFrame, is_seen: Any, metrics: BatchMetrics) -> _Tally:
        """Step 1: one aggregation of the batch: rows per outcome, topic partition and
        day (offsets, counts per reason) and every rule's totals."""
        p = self.pipeline
        # valid on-time rows of `seen` that are not kept either broke a row rule (the plan
        # kept them out) or were duplicates within the watermark
        outcome = F.when(~is_seen, F.lit(KEPT)).otherwise(F.coalesce(F.col(REASON), F.lit("valid")))
        clock = time.monotonic()
        quality_aggs = [agg for rules in self._judged for agg in rules.aggregations()]
        stats = (
            df.groupBy(outcome.alias("outcome"), "kafka_topic", "kafka_partition", p.partition_by)
            .agg(
                F.count(F.lit(1)).alias("n"),
                F.min("kafka_offset").alias("lo"),
                F.max("kafka_offset").alias("hi"),
                F.count(F.when(F.size(EXTRA) > 0, True)).alias("unknown_rows"),
                F.array_distinct(F.flatten(F.collect_set(EXTRA))).alias("unknown_fields"),
                *quality_aggs,
            )
            .collect()
        )
        metrics.phases_s["read_parse_dedup"] = round(time.monotonic() - clock, 3)
        tally = _Tally(stats=stats)
        unknown: set[str] = set()
        for row in stats:
            if row.unknown_rows:
                metrics.unknown_field_rows += row.unknown_rows
                unknown.update(row.unknown_fields)
            if row.outcome == KEPT:
                tally.kept_rows += row.n
                tally.kept_days.add(row[p.partition_by])
                continue
            metrics.input_rows += row.n
            key = f"{row.kafka_topic}[{row.kafka_partition}]"
            lo, hi = metrics.offsets.get(key, [row.lo, row.hi])
            metrics.offsets[key] = [min(lo, row.lo), max(hi, row.hi)]
            if row.outcome == "valid":
                tally.valid += row.n
            else:
                metrics.by_reason[row.outcome] = metrics.by_reason.get(row.outcome, 0) + row.n
        metrics.unknown_fields = sorted(unknown)[:MAX_UNKNOWN_FIELDS]
        if metrics.unknown_field_rows and not self.keep_raw:
            log.warning(
                "batch %d: %d valid events carry fields outside the schema (%s); bronze does "
                "not keep them (bronze.keep_raw: true would)",
                metrics.batch_id,
                metrics.unknown_field_rows,
                ", ".join(metrics.unknown_fields),
            )
        return tally

    @property
    def _judged(self) -> list[RuleSet]:
        return [rules for rules in (self.checks, self.unique) if rules]

    def _judge(
        self, df: DataFrame, tally: _Tally, metrics: BatchMetrics
    ) -> tuple[QualityReport, QualityReport, QualityReport | None]:
        """Step 2: the rule reports from the tally's totals; a ``fail`` rule raises
        :class:`BatchGateError` here, before anything is written.

        Returns the report of the row checks (over ``seen`` rows, before the
        dedup), that of ``unique`` (over ``kept`` rows, after it) and the
        batch's combined report (None without rules).
        """
        reports: dict[str, QualityReport] = {}
        stats = tally.stats
        for rules in self._judged:
            prefix = f"{rules.prefix}_"
            names = [c for c in stats[0].asDict() if c.startswith(prefix)] if stats else []
            totals = {n: sum(int(row[n] or 0) for row in stats) for n in names}
            reports[rules.prefix] = rules.report_from_totals(df, totals)
        checked = reports.get(self.checks.prefix, QualityReport())
        uniques = reports.get(self.unique.prefix, QualityReport())
        if not reports:
            return checked, uniques, None
        report = self._batch_report(list(reports.values()), tally.valid)
        if report.gate_failed:
            raise BatchGateError(f"micro-batch {metrics.batch_id}: {report.message()}", report)
        metrics.quality_dropped = report.rows_dropped
        moved = checked.rows_quarantined + uniques.rows_quarantined
        if moved:
            metrics.by_reason[QUALITY_REASON] = moved
        return checked, uniques, report

    def _quarantine(
        self,
        df: DataFrame,
        is_seen: Any,
        metrics: BatchMetrics,
        checked: QualityReport,
        uniques: QualityReport,
    ) -> None:
        """Step 4: the refused rows into the quarantine, once per Kafka offset: those
        the parse refused, the late ones (when quarantined) and those a rule moved."""
        moved = checked.rows_quarantined + uniques.rows_quarantined
        reasons = [r for r in metrics.by_reason if r != QUALITY_REASON]
        if not (reasons or moved):
            return
        clock = time.monotonic()
        rejected = df.filter(is_seen & F.col(REASON).isin(reasons)).transform(
            quarantine_projection, self.run_id
        )
        if checked.rows_quarantined:  # events a row rule refused: their Kafka text
            broke = df.filter(is_seen & F.col(self.checks.MOVE)).select(
                *KAFKA_COLUMNS,
                RAW_KEY,
                RAW_VALUE,
                F.lit(QUALITY_REASON).alias(REASON),
                self._rules_detail(self.checks),
                INGESTED_AT,
            )
            rejected = rejected.unionByName(broke.transform(quarantine_projection, self.run_id))
        if uniques.rows_quarantined:  # kept rows `unique` refused: the parsed event as JSON
            broke = df.filter(~is_seen & F.col(self.unique.MOVE)).select(
                *KAFKA_COLUMNS,
                F.lit(None).cast("string").alias(RAW_KEY),
                F.to_json(F.struct(*[F.col(c.name) for c in self.pipeline.columns])).alias(
                    RAW_VALUE
                ),
                F.lit(QUALITY_REASON).alias(REASON),
                self._rules_detail(self.unique),
                INGESTED_AT,
            )
            rejected = rejected.unionByName(broke.transform(quarantine_projection, self.run_id))
        keys = list(KAFKA_COLUMNS[:3])
        if moved:
            rejected = rejected.dropDuplicates(keys)
        merged = insert_if_absent(self.spark, self.quarantine_path, rejected, keys)
        metrics.quarantined = merged.inserted
        metrics.phases_s["quarantine_merge"] = round(time.monotonic() - clock, 3)

    @staticmethod
    def _rules_detail(rules: RuleSet) -> Any:
        """``rules: a, b``: the rules a flagged row broke (quarantine's ``detail``)."""
        return F.concat(F.lit("rules: "), F.array_join(rules.broken_names(), ", ")).alias(DETAIL)

    def _batch_report(self, reports: list[QualityReport], checked: int) -> QualityReport:
        """One micro-batch's report from its parts (row checks, unique checks): results
        in the config's order, ``rows_checked`` the valid on-time events of the batch."""
        order = {name: i for i, name in enumerate(self.rules.names)}
        results = [r for part in reports for r in part.results]
        return QualityReport(
            results=sorted(results, key=lambda r: order.get(r.rule, len(order))),
            rows_checked=checked,
            rows_dropped=sum(part.rows_dropped for part in reports),
            rows_quarantined=sum(part.rows_quarantined for part in reports),
        )

    def _write_bronze(
        self,
        rows: DataFrame,
        batch_id: int,
        days: set[Any],
        offsets: dict[str, list[int]],
        to_publish: int,
    ) -> int:
        """Write one micro-batch's rows to bronze; returns the rows added.

        ``keys``: MERGE insert-if-absent on the keys over the batch's days and
        the look-back. ``watermark``: one idempotent append per batch id; a
        batch Spark may be running again (the one it had logged but not
        committed) checks the table version to tell whether it was skipped;
        during a replay of offsets bronze may hold already (``--replay-from``),
        a MERGE on the Kafka offsets instead.
        """
        p = self.pipeline
        if self.dedup == "keys":
            return insert_if_absent(
                self.spark,
                self.bronze_path,
                rows,
                p.keys,
                partition_column=p.partition_by,
                partition_values=days,
                lookback_days=self.lookback_days,
            ).inserted
        if self._overlaps_written(offsets):
            return insert_if_absent(
                self.spark,
                self.bronze_path,
                rows,
                list(KAFKA_COLUMNS[:3]),
                partition_column=p.partition_by,
                partition_values=days,
            ).inserted
        if self.app_id is None:
            raise RuntimeError("the bronze sink has no transaction app id (checkpoint not open)")
        if batch_id != self.maybe_replayed:
            idempotent_append(rows, self.bronze_path, self.app_id, batch_id)
            return to_publish
        before = table_version(self.spark, self.bronze_path)
        idempotent_append(rows, self.bronze_path, self.app_id, batch_id)
        if table_version(self.spark, self.bronze_path) == before:
            log.info("batch %d was written before (a replay): Delta skipped its append", batch_id)
            return 0
        return to_publish

    def _overlaps_written(self, offsets: dict[str, list[int]]) -> bool:
        """Whether the batch holds offsets below bronze's high-water mark at a replay."""
        if not self.rewrite_until:
            return False
        for name, (lo, _hi) in offsets.items():
            topic, _, part = name.rpartition("[")
            until = self.rewrite_until.get(topic, {}).get(part.rstrip("]"))
            if until is not None and lo < until:
                return True
        return False


class BronzeSink:
    """The ``foreachBatch`` function: a gate, a batch writer and the run's totals."""

    def __init__(
        self,
        spark: SparkSession,
        pipeline: Pipeline,
        settings: Settings,
        *,
        run_id: str,
        checkpoint: str,
    ):
        self.writer = BronzeBatchWriter(
            spark, pipeline, settings, run_id=run_id, checkpoint=checkpoint
        )
        self.gate = SinkGate()
        self.run = RunTotals(judged=bool(self.writer.rules))
        self.failure: Exception | None = None  # a quality gate that stopped the stream

    @property
    def limit(self) -> int | None:
        """Close after this many micro-batches (None: no limit)."""
        return self.gate.limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self.gate.limit = value

    @property
    def completed(self) -> int:
        """Micro-batches this sink has finished (in this run)."""
        return self.run.completed

    @property
    def closed(self) -> bool:
        """True once a stop or the batch limit has closed the sink."""
        return self.gate.closed

    def close(self) -> int | None:
        """Refuse new micro-batches; return the batch whose commit the caller should await."""
        return self.gate.close()

    def use_checkpoint(self, info: CheckpointInfo) -> None:
        """Write for this checkpoint (see :meth:`BronzeBatchWriter.use_checkpoint`)."""
        self.writer.use_checkpoint(info)

    def written_offsets(self) -> dict[str, dict[str, int]]:
        """{topic: {partition: last offset + 1}} of the rows bronze holds (before a replay)."""
        return self.writer.written_offsets()

    def ensure_tables(self) -> None:
        """Create bronze and quarantine before the first batch needs them."""
        self.writer.ensure_tables()

    def validate_rules(self) -> None:
        """Check the quality rules against bronze's columns (ConfigError: exit 2)."""
        self.writer.validate_rules()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        self.gate.enter(batch_id)
        try:
            metrics, report = self.writer.process(batch_df, batch_id)
        except BatchGateError as exc:
            self.run.failed_quality = exc.report
            self.failure = exc  # the runner raises it: exit 3, this batch not written
            raise
        finally:
            self.gate.leave()
        self.gate.done(batch_id, self.run.add(metrics, report))

    def totals(self) -> dict[str, Any]:
        """Sums over the batches of this run, for the ledger row and the summary."""
        return self.run.sums()

    def quality_report(self) -> QualityReport | None:
        """The row rules' results over this run's batches (None without rules)."""
        return self.run.quality_report()

    def batch_details(self) -> list[dict[str, Any]]:
        """The last batches' metrics, for the ledger's details."""
        return self.run.batch_details()

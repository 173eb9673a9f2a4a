"""Exactly-once Kafka -> bronze: the streaming plan, its idempotent sink, its checkpoint.

Exactly once is three things together:

1. a replayable source: Kafka offsets live in the query's checkpoint;
2. deduplication: an event-time watermark and ``dropDuplicatesWithinWatermark``
   on the pipeline's keys (bounded state);
3. an idempotent sink: bronze gets one Delta idempotent append per
   micro-batch (``txnAppId`` = the checkpoint's app id, ``txnVersion`` = the
   batch id), so a batch replayed after a crash writes nothing twice
   (``bronze.dedup: watermark``, the default); or, with ``bronze.dedup:
   keys``, a MERGE insert-if-absent on the keys over the batch's days and
   ``bronze.key_lookback`` days before them, so a key that comes back after
   its dedup state expired is not added again within that horizon.
   Quarantine is a MERGE insert-if-absent on topic/partition/offset.

The plan is a union of two branches over the same Kafka rows: ``kept`` (the
valid events no row rule refuses that survive the watermark and the dedup)
and ``seen`` (every consumed row, with its parse verdict and its row rules'
verdicts). The sink uses ``seen`` to quarantine bad events, to account for
late ones (rows the stateful operator drops with only a counter) and to
count everything, so every consumed offset ends up in bronze, in
quarantine, or counted as a duplicate, a late event or a dropped one.

Row quality rules decide *before* the dedup. The rules that are a row
expression (``not_null``, ``range``, ``accepted_values``, ``regex``,
``expression``) are computed once in the plan on the parsed events; an event
that breaks a ``drop``, ``quarantine`` or ``fail`` rule never reaches the
watermark or the dedup state, so it does not move the watermark and a
corrected re-send of its key is not taken for its duplicate. The sink counts
the rules over every valid on-time event of the micro-batch (duplicates
included), stops on a ``fail`` rule before writing anything, and quarantines
the refused events with their original Kafka text. A late event is late,
whatever rule it breaks. ``unique`` compares rows (a window, which a
streaming plan cannot have): the sink judges it on the kept events of each
micro-batch, after the dedup (see :func:`stream_rules`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from lakehouse.config.model import KafkaSource, Pipeline, Settings
from lakehouse.core.errors import (
    ConfigError,
    QualityGateError,
    TransientError,
    is_transient,
    one_line,
)
from lakehouse.core.retry import Backoff
from lakehouse.decode.events import (
    DETAIL,
    INGESTED_AT,
    KAFKA_COLUMNS,
    LATE,
    QUARANTINE_SCHEMA,
    RAW_KEY,
    RAW_VALUE,
    REASON,
    bronze_projection,
    bronze_schema,
    mark_late,
    parse_events,
    quarantine_projection,
    required_fields,
    with_kafka_columns,
    with_partition_date,
)
from lakehouse.lake import fs
from lakehouse.lake.delta_io import ensure_table, idempotent_append, insert_if_absent, table_version
from lakehouse.quality import QUALITY_REASON, ROW_KINDS, WINDOW_KINDS, QualityReport, RuleSet
from lakehouse.stream.kafka_meta import KafkaView, check_source

log = logging.getLogger("lakehouse.stream")

BRANCH = "_branch"
KEPT = "kept"
SEEN = "seen"
FINGERPRINT_FILE = "_lakehouse_checkpoint.json"
PLAN_VERSION = "kafka->parse->watermark->dropDuplicatesWithinWatermark(keys) + seen/v1"
MAX_BATCHES_IN_DETAILS = 50
STOP_MARK = "lakehouse-stop-requested"


class StopRequested(RuntimeError):
    """Raised by the sink for a micro-batch that starts after a stop was requested."""


# ---------------------------------------------------------------- source and plan


def kafka_options(kafka: KafkaSource) -> dict[str, str]:
    """Spark Kafka source options from the pipeline's ``source.kafka``."""
    options = {
        "kafka.bootstrap.servers": kafka.bootstrap_servers or "",
        "startingOffsets": kafka.starting_offsets,
        "failOnDataLoss": str(kafka.fail_on_data_loss).lower(),
    }
    if kafka.topic is not None:
        options["subscribe"] = kafka.topic
    else:
        options["subscribePattern"] = kafka.pattern or ""
    if kafka.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(kafka.max_offsets_per_trigger)
    for key, value in kafka.options.items():
        options[f"kafka.{key}"] = value
    return options


def read_kafka(
    spark: SparkSession, kafka: KafkaSource, starting_offsets: str | None = None
) -> DataFrame:
    """The streaming Kafka source of a pipeline (``starting_offsets`` overrides the
    configured start of a new checkpoint: a reset's carried offsets)."""
    options = kafka_options(kafka)
    if starting_offsets is not None:
        options["startingOffsets"] = starting_offsets
    return spark.readStream.format("kafka").options(**options).load()


UNIQUE_PREFIX = "_qu"  # helper columns of the `unique` rules (the others: "_q")


def stream_rules(pipeline: Pipeline) -> tuple[RuleSet, RuleSet]:
    """The pipeline's row rules as a stream runs them: (row checks, unique checks).

    Row checks are row expressions: :func:`ingest_plan` computes them on the
    parsed events, before the dedup. ``unique`` needs a window over the rows,
    which a streaming DataFrame cannot have: the sink judges it on the kept
    (deduplicated) events of each micro-batch, so it holds within a
    micro-batch only, and on the keys it always passes (the dedup made them
    unique). Dataset rules judge whole loads (batch_load) and are left out.
    """
    rows = [r for r in pipeline.quality if r.rule in ROW_KINDS]
    common: dict[str, Any] = {"keys": pipeline.keys, "event_time": pipeline.event_time}
    return (
        RuleSet([r for r in rows if r.rule not in WINDOW_KINDS], **common),
        RuleSet([r for r in rows if r.rule in WINDOW_KINDS], prefix=UNIQUE_PREFIX, **common),
    )


def ingest_plan(source: DataFrame, pipeline: Pipeline) -> DataFrame:
    """Kafka rows -> ``kept`` (valid, passing the row rules, watermarked,
    deduplicated) union ``seen`` (every row, with its verdicts).

    The row checks of :func:`stream_rules` are computed once, on the parsed
    events, before the branches split: ``kept`` takes only the valid events
    that break no ``drop``, ``quarantine`` or ``fail`` rule, so a refused
    event's key never enters the dedup state (nor moves the watermark), and
    a corrected re-send of it is not dropped as its duplicate. ``seen``
    carries the rule flags (booleans) and the keys, for the sink to count,
    sample and quarantine. Rules may change between runs: a filter before
    the stateful operator does not change its state, so the checkpoint is
    kept.
    """
    if pipeline.stream is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `stream` section")
    columns = pipeline.columns
    required = required_fields(columns, pipeline.keys, pipeline.event_time)
    checks, _ = stream_rules(pipeline)
    events = (
        source.transform(with_kafka_columns)
        .transform(parse_events, columns, required)
        .withColumn(INGESTED_AT, F.current_timestamp())
        .transform(with_partition_date, pipeline.event_time, pipeline.partition_by)
    )
    valid = F.col(REASON).isNull()
    admitted = valid
    carried: list[str] = []
    if checks:  # on the valid events only (a row the parse refused has null fields)
        events = checks.flag(events, only=valid)
        admitted = valid & ~F.col(checks.MOVE) & ~F.col(checks.DROP)
        keys = [k for k in pipeline.keys if k != pipeline.event_time]
        carried = [*keys, *checks.flag_columns]  # the keys name failing rows in samples
    kept = (
        events.filter(admitted)
        .withWatermark(pipeline.event_time, pipeline.stream.watermark.spark())
        .dropDuplicatesWithinWatermark(list(pipeline.keys))
        .transform(bronze_projection, columns, pipeline.partition_by)
        .withColumn(BRANCH, F.lit(KEPT))
    )
    seen = events.select(
        *KAFKA_COLUMNS,
        RAW_KEY,
        RAW_VALUE,
        REASON,
        DETAIL,
        INGESTED_AT,
        pipeline.event_time,
        *carried,
        F.lit(SEEN).alias(BRANCH),
    )
    return kept.unionByName(seen, allowMissingColumns=True)


def ingest_writer(source: DataFrame, pipeline: Pipeline, sink: BronzeSink) -> DataStreamWriter:
    """The configured, unstarted writer; the job picks trigger and checkpoint and starts it."""
    return (
        ingest_plan(source, pipeline)
        .writeStream.queryName(f"stream_ingest_{pipeline.name}")
        .foreachBatch(sink)
    )


# ---------------------------------------------------------------- the sink


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
    duration_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        """One log line."""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.by_reason.items())) or "none"
        offsets = " ".join(f"{tp}:{lo}-{hi}" for tp, (lo, hi) in sorted(self.offsets.items()))
        return (
            f"batch {self.batch_id}: {self.input_rows} in, {self.bronze_inserted} new in bronze, "
            f"{self.duplicates} duplicate, {self.late} late, {self.quarantined} quarantined "
            f"({reasons}); offsets {offsets or '-'}; {self.duration_s:.2f}s"
        )


def late_watermark_ms(spark: SparkSession, checkpoint: str, batch_id: int) -> int:
    """The event-time watermark below which batch ``batch_id`` dropped rows as late.

    Spark filters late rows in batch N against the watermark recorded with
    batch N-1 (its offset log entry), in epoch milliseconds; 0 before that.
    """
    if batch_id <= 0:
        return 0
    text = fs.read_text(spark, f"{checkpoint.rstrip('/')}/offsets/{batch_id - 1}")
    lines = text.splitlines()
    if len(lines) < 2:
        raise RuntimeError(f"offset log entry {batch_id - 1} in {checkpoint} is damaged")
    return int(json.loads(lines[1]).get("batchWatermarkMs", 0))


class BronzeSink:
    """The ``foreachBatch`` function: safe to run twice for the same batch id."""

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
        self.checkpoint = checkpoint
        self.bronze_path = settings.table_path(pipeline.bronze.table, pipeline.bronze.path)
        self.quarantine_path = settings.quarantine_path(pipeline.name)
        self.quarantine_late = pipeline.stream.late_events == "quarantine"
        self.batches: list[BatchMetrics] = []
        self._lock = threading.Lock()
        self._closed = False
        self._in_flight: int | None = None
        self._last_done: int | None = None
        self.limit: int | None = None  # close after this many batches (--max-batches)
        # the old checkpoint's watermark after a reset (CheckpointInfo.watermark_floor_ms)
        self.watermark_floor_ms = 0
        self.dedup = pipeline.bronze.dedup
        self.lookback_days = pipeline.bronze.lookback_days
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
        self.quality: list[QualityReport] = []  # one per written micro-batch
        self.failed_quality: QualityReport | None = None  # the batch a `fail` rule stopped
        self._pending_quality: QualityReport | None = None
        self.failure: Exception | None = None  # a quality gate that stopped the stream

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
            bronze_schema(p.columns, p.partition_by),
            partition_by=[p.partition_by],
        )
        ensure_table(self.spark, self.quarantine_path, QUARANTINE_SCHEMA)

    def validate_rules(self) -> None:
        """Check the quality rules against bronze's columns (ConfigError: exit 2)."""
        if self.rules:
            p = self.pipeline
            self.rules.validate(bronze_schema(p.columns, p.partition_by), self.spark)

    @property
    def completed(self) -> int:
        """Micro-batches this sink has finished (in this run)."""
        with self._lock:
            return len(self.batches)

    @property
    def closed(self) -> bool:
        """True once a stop or the batch limit has closed the sink."""
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

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        with self._lock:
            if self._closed:
                raise StopRequested(f"{STOP_MARK}: batch {batch_id} left for the next run")
            self._in_flight = batch_id
        try:
            self._process(batch_df, batch_id)
        except QualityGateError as exc:
            self.failure = exc  # the runner raises it: exit 3, this batch not written
            raise
        finally:
            with self._lock:
                self._in_flight = None
        with self._lock:
            self._last_done = batch_id
            if self.limit is not None and len(self.batches) >= self.limit:
                self._closed = True  # exact, whatever the runner's polling interval

    def _process(self, batch_df: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        p = self.pipeline
        spark_watermark = late_watermark_ms(self.spark, self.checkpoint, batch_id)
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
        # the raw text is only kept for rows bound for quarantine: less to cache
        bound_for_quarantine = is_seen & refused
        df = marked.select(
            *[
                F.when(bound_for_quarantine, F.col(c)).alias(c) if c in (RAW_KEY, RAW_VALUE) else c
                for c in marked.columns
            ]
        )
        if self.unique:  # `unique` compares rows: judged on the kept (deduplicated) ones
            df = self.unique.flag(df, only=~is_seen)
        df = df.persist()
        self._pending_quality = None
        try:
            metrics = self._write(df, batch_id, is_seen)
        finally:
            df.unpersist()
        if self._pending_quality is not None:
            with self._lock:
                self.quality.append(self._pending_quality)
        if watermark:
            metrics.late_watermark = datetime.fromtimestamp(
                watermark / 1000, timezone.utc
            ).isoformat()
        metrics.duration_s = round(time.monotonic() - started, 3)
        with self._lock:
            self.batches.append(metrics)
        if metrics.input_rows:
            log.info("%s", metrics.line())

    def _write(self, df: DataFrame, batch_id: int, is_seen: Any) -> BatchMetrics:
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
        p = self.pipeline
        # valid on-time rows of `seen` that are not kept either broke a row rule (the plan
        # kept them out) or were duplicates within the watermark
        outcome = F.when(~is_seen, F.lit(KEPT)).otherwise(F.coalesce(F.col(REASON), F.lit("valid")))
        clock = time.monotonic()
        judged = [rules for rules in (self.checks, self.unique) if rules]
        quality_aggs = [agg for rules in judged for agg in rules.aggregations()]
        stats = (
            df.groupBy(outcome.alias("outcome"), "kafka_topic", "kafka_partition", p.partition_by)
            .agg(
                F.count(F.lit(1)).alias("n"),
                F.min("kafka_offset").alias("lo"),
                F.max("kafka_offset").alias("hi"),
                *quality_aggs,
            )
            .collect()
        )
        metrics = BatchMetrics(batch_id=batch_id)
        metrics.phases_s["read_parse_dedup"] = round(time.monotonic() - clock, 3)
        kept_rows = 0
        kept_days: set[Any] = set()
        valid = 0
        for row in stats:
            if row.outcome == KEPT:
                kept_rows += row.n
                kept_days.add(row[p.partition_by])
                continue
            metrics.input_rows += row.n
            key = f"{row.kafka_topic}[{row.kafka_partition}]"
            lo, hi = metrics.offsets.get(key, [row.lo, row.hi])
            metrics.offsets[key] = [min(lo, row.lo), max(hi, row.hi)]
            if row.outcome == "valid":
                valid += row.n
            else:
                metrics.by_reason[row.outcome] = metrics.by_reason.get(row.outcome, 0) + row.n
        publish = ~is_seen
        reports: dict[str, QualityReport] = {}
        for rules in judged:
            prefix = f"{rules.prefix}_"
            names = [c for c in stats[0].asDict() if c.startswith(prefix)] if stats else []
            totals = {n: sum(int(row[n] or 0) for row in stats) for n in names}
            reports[rules.prefix] = rules.report_from_totals(df, totals)
        checked = reports.get(self.checks.prefix, QualityReport())  # seen rows, before the dedup
        uniques = reports.get(self.unique.prefix, QualityReport())  # kept rows, after it
        moved = checked.rows_quarantined + uniques.rows_quarantined
        if reports:
            report = self._batch_report(list(reports.values()), valid)
            if report.gate_failed:
                self.failed_quality = report
                raise QualityGateError(f"micro-batch {batch_id}: {report.message()}")
            self._pending_quality = report  # counted once the batch is written
            metrics.quality_dropped = report.rows_dropped
            if moved:
                metrics.by_reason[QUALITY_REASON] = moved
        if self.unique:
            publish = publish & ~F.col(self.unique.MOVE) & ~F.col(self.unique.DROP)
        metrics.late = metrics.by_reason.get(LATE, 0)
        if not self.quarantine_late:
            metrics.by_reason.pop(LATE, None)
        admitted = valid - checked.rows_quarantined - checked.rows_dropped
        if admitted < kept_rows:  # cannot happen while Spark's late rule is the one we mirror
            log.warning(
                "batch %d: %d rows kept but only %d valid, on time and passing the row rules; "
                "late accounting is off",
                batch_id,
                kept_rows,
                admitted,
            )

        if self.on_first_write is not None and kept_rows:
            self.on_first_write()
            self.on_first_write = None
        clock = time.monotonic()
        if kept_rows:
            rows = df.filter(publish).transform(bronze_projection, p.columns, p.partition_by)
            to_publish = kept_rows - uniques.rows_quarantined - uniques.rows_dropped
            metrics.bronze_inserted = self._write_bronze(
                rows, batch_id, kept_days, metrics.offsets, to_publish
            )
            metrics.phases_s["bronze_write"] = round(time.monotonic() - clock, 3)
        metrics.duplicates = valid - metrics.bronze_inserted - moved - metrics.quality_dropped

        reasons = [r for r in metrics.by_reason if r != QUALITY_REASON]
        if reasons or moved:
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
                    F.to_json(F.struct(*[F.col(c.name) for c in p.columns])).alias(RAW_VALUE),
                    F.lit(QUALITY_REASON).alias(REASON),
                    self._rules_detail(self.unique),
                    INGESTED_AT,
                )
                rejected = rejected.unionByName(broke.transform(quarantine_projection, self.run_id))
            if moved:
                rejected = rejected.dropDuplicates(list(KAFKA_COLUMNS[:3]))
            merged = insert_if_absent(
                self.spark,
                self.quarantine_path,
                rejected,
                list(KAFKA_COLUMNS[:3]),
            )
            metrics.quarantined = merged.inserted
            metrics.phases_s["quarantine_merge"] = round(time.monotonic() - clock, 3)
        return metrics

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

    def totals(self) -> dict[str, Any]:
        """Sums over the batches of this run, for the ledger row and the summary."""
        with self._lock:
            batches = list(self.batches)
        by_reason: dict[str, int] = {}
        for b in batches:
            for reason, n in b.by_reason.items():
                by_reason[reason] = by_reason.get(reason, 0) + n
        return {
            "batches": len(batches),
            "input_rows": sum(b.input_rows for b in batches),
            "bronze_inserted": sum(b.bronze_inserted for b in batches),
            "duplicates": sum(b.duplicates for b in batches),
            "late": sum(b.late for b in batches),
            "quarantined": sum(b.quarantined for b in batches),
            "quarantined_by_reason": by_reason,
            "quality_dropped": sum(b.quality_dropped for b in batches),
        }

    def quality_report(self) -> QualityReport | None:
        """The row rules' results over this run's batches, including one a `fail`
        rule stopped (None without rules)."""
        with self._lock:
            reports = list(self.quality)
        if self.failed_quality is not None:
            reports.append(self.failed_quality)
        return QualityReport.combine(reports) if self.rules else None

    def batch_details(self) -> list[dict[str, Any]]:
        """The last batches' metrics, for the ledger's details."""
        with self._lock:
            return [asdict(b) for b in self.batches[-MAX_BATCHES_IN_DETAILS:]]


# ---------------------------------------------------------------- checkpoint guard


def stream_fingerprint(pipeline: Pipeline) -> dict[str, Any]:
    """What a checkpoint cannot survive: source, keys, event time, stateful plan, state schema."""
    kafka = pipeline.source.kafka
    types = {c.name: c.type_name for c in pipeline.columns}
    return {
        "source": {"topic": kafka.topic, "pattern": kafka.pattern} if kafka else None,
        "keys": list(pipeline.keys),
        "key_types": [types[k] for k in pipeline.keys],
        "event_time": pipeline.event_time,
        "event_time_type": types[pipeline.event_time],
        "plan": PLAN_VERSION,
    }


@dataclass(frozen=True)
class CheckpointInfo:
    """The checkpoint a run uses, and where a new one starts reading."""

    path: str
    checkpoint_id: str
    created: bool
    archived: str | None = None
    start: dict[str, Any] | None = None  # see CheckpointGuard: carried offsets or a replay
    app_id: str | None = None  # txnAppId of bronze's idempotent appends

    @property
    def rewrite_until(self) -> dict[str, dict[str, int]] | None:
        """After ``--replay-from``: offsets below which bronze already held rows."""
        return (self.start or {}).get("rewrite_until")

    @property
    def starting_offsets(self) -> str | None:
        """``startingOffsets`` for the query (None: the configured one)."""
        if not self.start:
            return None
        offsets = self.start.get("starting_offsets")
        return json.dumps(offsets, sort_keys=True) if isinstance(offsets, dict) else offsets

    @property
    def watermark_floor_ms(self) -> int:
        """The old checkpoint's next-batch watermark, carried over a reset (0: none)."""
        return int((self.start or {}).get("watermark_floor_ms") or 0)


REPLAY_CHOICES = ("earliest", "latest")


def numbered(names: list[str]) -> list[int]:
    """The batch numbers among a checkpoint folder's file names."""
    return sorted(int(n) for n in names if n.isdigit())


class CheckpointGuard:
    """Refuses a checkpoint the config cannot resume; starts, resumes or resets one.

    - A checkpoint made for another source, other keys or another stateful
      plan cannot be resumed: :meth:`verify` raises a ConfigError naming the
      difference and ``--reset-checkpoint``, before anything is written.
    - A checkpoint made on another Kafka cluster (its id is kept in the
      marker) cannot be resumed either: its offsets mean nothing there.
    - A checkpoint with committed batches but no offset log (a partial
      restore, a cleanup job) is refused, never restarted: re-reading from
      ``starting_offsets`` would skip or repeat what it had committed.
    - ``reset`` archives the old checkpoint and starts the new one where the
      old one had committed its last batch (the last ``offsets/N`` that has
      ``commits/N``): nothing produced since is skipped and nothing already
      written is read again. Partitions the old checkpoint did not know
      start from their earliest offset (as Spark would read a new
      partition), topics it did not read from ``starting_offsets``. The old
      checkpoint's next-batch watermark is carried over, so an event the old
      query would have judged late is judged late by the new one too.
    - ``replay_from`` (``earliest``/``latest``, with ``reset``) starts the new
      checkpoint there instead, as a new stream: with ``earliest`` the topic
      is read again, and its first micro-batch has no watermark yet, so
      events quarantined as late before are judged on time this time and go
      to bronze (their quarantine rows stay).
    """

    def __init__(
        self,
        spark: SparkSession,
        path: str,
        pipeline: Pipeline,
        *,
        reset: bool = False,
        replay_from: str | None = None,
    ):
        if replay_from is not None and replay_from not in REPLAY_CHOICES:
            raise ConfigError(f"replay from {replay_from!r}: use earliest or latest")
        self.spark = spark
        self.path = path.rstrip("/")
        self.marker = f"{self.path}/{FINGERPRINT_FILE}"
        self.pipeline = pipeline
        self.reset = reset
        self.replay_from = replay_from
        self.wanted = stream_fingerprint(pipeline)

    def _stored(self) -> dict[str, Any] | None:
        if not fs.exists(self.spark, self.marker):
            return None
        return json.loads(fs.read_text(self.spark, self.marker))

    def _batches(self, folder: str) -> list[int]:
        return numbered(fs.list_names(self.spark, f"{self.path}/{folder}"))

    def verify(self) -> dict[str, Any] | None:
        """The stored marker when it matches (None for a new checkpoint); reads only."""
        if self.reset:
            return None
        stored = self._stored()
        if stored is not None:
            if stored.get("fingerprint") != self.wanted:
                changes = _differences(stored.get("fingerprint") or {}, self.wanted)
                raise ConfigError(
                    f"checkpoint {self.path} was made for {changes}; it cannot be resumed with "
                    "this config: run again with --reset-checkpoint to archive it and start "
                    "where it stopped"
                )
            return stored
        if self._batches("offsets") or self._batches("commits"):
            raise ConfigError(
                f"checkpoint {self.path} has progress but no {FINGERPRINT_FILE}: it was not made "
                "by this job; run with --reset-checkpoint to archive it and start a new one"
            )
        return None

    def open(
        self,
        kafka: KafkaView | None = None,
        now: datetime | None = None,
        written_offsets: Callable[[], dict[str, dict[str, int]]] | None = None,
    ) -> CheckpointInfo:
        """Resume the checkpoint, or start one (new, or reset: archive the old one first).

        ``kafka`` is what the brokers say now (cluster id, partitions).
        ``written_offsets`` tells, for a replay, the offsets bronze holds up to
        (so the replay does not append them again).

        Bronze's appends use the marker's ``bronze_app_id``: new with every
        new checkpoint and whenever batch numbering starts again at 0 (the
        unlogged start set aside), or Delta would skip every batch up to the
        old id's last version in silence.
        """
        now = now or datetime.now(timezone.utc)
        stored = self.verify()
        if stored is not None:
            self._same_cluster(stored, kafka)
            changed = False
            if self._set_aside_unlogged_start(now, stored) is not None:
                stored["bronze_app_id"] = uuid.uuid4().hex  # numbering starts at 0 again
                changed = True
            if kafka is not None and kafka.cluster_id and not stored.get("kafka_cluster_id"):
                stored["kafka_cluster_id"] = kafka.cluster_id  # made before ids were kept
                changed = True
            if changed:
                self._write_marker(stored)
            checkpoint_id = stored.get("checkpoint_id", "unknown")
            return CheckpointInfo(
                self.path,
                checkpoint_id,
                created=False,
                start=stored.get("start"),
                app_id=stored.get("bronze_app_id") or checkpoint_id,
            )
        archived = None
        start: dict[str, Any] | None = None
        if self.reset and fs.exists(self.spark, self.path):
            start = self._start_after_reset(kafka)
            archived = f"{self.path}.archived-{now.strftime('%Y%m%dT%H%M%SZ')}"
            fs.rename(self.spark, self.path, archived)
            start["archived"] = archived
            log.warning(
                "checkpoint %s archived to %s; the new one starts %s",
                self.path,
                archived,
                _describe_start(start),
            )
        elif self.replay_from is not None:
            start = {"starting_offsets": self.replay_from, "replay_from": self.replay_from}
        replay = start is not None and start.get("replay_from") and not start.get("new_cluster")
        if replay and written_offsets is not None:
            start["rewrite_until"] = written_offsets()
        checkpoint_id = uuid.uuid4().hex
        body = {
            "pipeline": self.pipeline.name,
            "checkpoint_id": checkpoint_id,
            "bronze_app_id": checkpoint_id,
            "created_at": now.isoformat(),
            "fingerprint": self.wanted,
            "kafka_cluster_id": kafka.cluster_id if kafka is not None else None,
            "start": start,
        }
        self._write_marker(body)
        self.reset = False  # a restart after a transient failure resumes this new checkpoint
        return CheckpointInfo(
            self.path,
            checkpoint_id,
            created=True,
            archived=archived,
            start=start,
            app_id=checkpoint_id,
        )

    def mark_written(self) -> None:
        """Note in the marker, before the sink's first write, that this checkpoint writes:
        from then on a checkpoint without an offset log is damaged, not unlogged."""
        stored = self._stored() or {}
        if not stored.get("written"):
            stored["written"] = True
            self._write_marker(stored)

    def pending_batch(self) -> int | None:
        """The batch Spark logged but did not commit: it runs that one again first."""
        logged = self._batches("offsets")
        if not logged:
            return None
        committed = self._batches("commits")
        last = logged[-1]
        return last if not committed or committed[-1] < last else None

    def _write_marker(self, body: dict[str, Any]) -> None:
        fs.write_text(self.spark, self.marker, json.dumps(body, indent=2, sort_keys=True) + "\n")

    def _same_cluster(self, stored: dict[str, Any], kafka: KafkaView | None) -> None:
        made_on = stored.get("kafka_cluster_id")
        if kafka is None or not made_on or not kafka.cluster_id or made_on == kafka.cluster_id:
            return
        raise ConfigError(
            f"checkpoint {self.path} was made on Kafka cluster {made_on}, but the brokers of "
            f"`source.kafka` are cluster {kafka.cluster_id}: its offsets mean nothing there; "
            "run with --reset-checkpoint --replay-from earliest (or latest) to read this "
            "cluster's topic as a new stream"
        )

    def _start_after_reset(self, kafka: KafkaView | None) -> dict[str, Any]:
        """Where the checkpoint that replaces this one starts (read before archiving it)."""
        if self.replay_from is not None:
            made_on = (self._stored() or {}).get("kafka_cluster_id")
            moved = bool(kafka and kafka.cluster_id and made_on and made_on != kafka.cluster_id)
            return {
                "starting_offsets": self.replay_from,
                "replay_from": self.replay_from,
                "new_cluster": moved,  # bronze's offsets are another cluster's: no overlap
            }
        commits = self._batches("commits")
        offsets = set(self._batches("offsets"))
        if not commits:  # nothing reached the sink: a new stream from starting_offsets
            return {"starting_offsets": None, "batch": None}
        done = [n for n in commits if n in offsets]
        if not done:
            raise ConfigError(
                f"checkpoint {self.path} has committed batches but not their offset log, so "
                "where it stopped is unknown: run with --reset-checkpoint --replay-from "
                "earliest (read the topic again) or latest (skip to its end)"
            )
        stored = self._stored() or {}
        made_on = stored.get("kafka_cluster_id")
        if kafka is not None and made_on and kafka.cluster_id and made_on != kafka.cluster_id:
            raise ConfigError(
                f"checkpoint {self.path} was made on Kafka cluster {made_on}, now it is "
                f"{kafka.cluster_id}: its offsets cannot be carried over; add --replay-from "
                "earliest (or latest)"
            )
        batch = done[-1]
        carried = _source_offsets(fs.read_text(self.spark, f"{self.path}/offsets/{batch}"))
        floor = _next_watermark(fs.read_text(self.spark, f"{self.path}/commits/{batch}"))
        return {
            "batch": batch,
            "carried_offsets": carried,
            "starting_offsets": _starting_offsets(
                carried,
                kafka,
                self.pipeline.source.kafka.starting_offsets,  # type: ignore[union-attr]
            ),
            "watermark_floor_ms": floor,
        }

    def _set_aside_unlogged_start(self, now: datetime, stored: dict[str, Any]) -> str | None:
        """Move aside what a query killed before logging its first batch left behind.

        Spark writes ``offsets/0`` (a temporary file, then a rename) before batch
        0 reads a row. A kill in between leaves only temporary files there;
        Spark then starts the query as new and refuses the folder because it is
        not empty (STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY), on every restart.
        With no batch logged nothing reached the sink, so those folders are
        moved into ``_unlogged-<time>/`` and the query starts from where this
        checkpoint was set to start, as it would have. Returns that folder, if
        any. A checkpoint whose ``commits/`` has numbered files did reach the
        sink: without its offset log it is damaged, and it is refused.
        """
        if self._batches("offsets"):
            return None
        committed = self._batches("commits")
        if committed or stored.get("written"):
            what = (
                f"committed batches ({len(committed)}, last {committed[-1]})"
                if committed
                else "written to bronze"
            )
            raise ConfigError(
                f"checkpoint {self.path} has {what} but no offset log: it is damaged (a "
                "partial restore or a cleanup?); restore its offsets/ folder, or run with "
                "--reset-checkpoint --replay-from earliest|latest"
            )
        leftovers = [
            folder
            for folder in ("offsets", "state", "commits")
            if fs.list_names(self.spark, f"{self.path}/{folder}")
        ]
        if not leftovers:
            return None
        aside = f"{self.path}/_unlogged-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
        fs.mkdirs(self.spark, aside)
        for folder in leftovers:
            fs.rename(self.spark, f"{self.path}/{folder}", f"{aside}/{folder}")
        log.warning(
            "checkpoint %s: a run was killed before it logged its first batch; "
            "moved its leftover %s to %s",
            self.path,
            ", ".join(leftovers),
            aside,
        )
        return aside


def _source_offsets(text: str) -> dict[str, dict[str, int]]:
    """{topic: {partition: offset}} of an offset log entry (``v1``, metadata, one line per
    source: this query has one, the Kafka source)."""
    lines = text.splitlines()
    if len(lines) < 3:
        raise ConfigError("an offset log entry of the old checkpoint is damaged")
    offsets = json.loads(lines[2])
    return {t: {str(p): int(o) for p, o in parts.items()} for t, parts in offsets.items()}


def _next_watermark(text: str) -> int:
    """``nextBatchWatermarkMs`` of a commit log entry (0 when absent)."""
    for line in text.splitlines()[1:]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return int(value.get("nextBatchWatermarkMs") or 0)
    return 0


def _starting_offsets(
    carried: dict[str, dict[str, int]], kafka: KafkaView | None, configured: str
) -> dict[str, dict[str, int]] | str:
    """``startingOffsets`` JSON for a reset: every partition Spark will assign, from the
    carried offsets, else earliest (-2) for a new partition of a carried topic, else the
    configured start for a topic the old checkpoint did not read."""
    if kafka is None:
        return carried
    start_of = {"earliest": -2, "latest": -1}
    explicit: dict[str, dict[str, int]] = {}
    if configured not in start_of:
        explicit = json.loads(configured)
    out: dict[str, dict[str, int]] = {}
    for topic, parts in kafka.partitions.items():
        old = carried.get(topic)
        chosen = {}
        for part in parts:
            key = str(part)
            if old is not None:
                chosen[key] = old.get(key, -2)
            else:
                chosen[key] = int(explicit.get(topic, {}).get(key, start_of.get(configured, -2)))
        out[topic] = chosen
    return out


def _describe_start(start: dict[str, Any]) -> str:
    if start.get("replay_from"):
        return f"from the {start['replay_from']} offsets (a replay)"
    if start.get("batch") is None:
        return "from starting_offsets (the old one had committed nothing)"
    return f"after its batch {start['batch']}: {json.dumps(start.get('starting_offsets'))}"


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = [
        f"{key}={json.dumps(old.get(key))} (now {json.dumps(new.get(key))})"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return ", ".join(parts) or "another configuration"


# ---------------------------------------------------------------- running the query


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

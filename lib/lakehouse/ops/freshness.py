"""How stale is each table? Three clocks, each with warn/error thresholds.

- ``column`` (the default): now - max(column) of the table (event time);
- ``commit``: now - the table's last Delta commit;
- ``kafka_lag``: messages between the stream's committed offsets (from its
  checkpoint) and the topic's latest offsets; thresholds are message counts.

``now`` is always passed in, so tests (and re-runs of a report) use a fixed
clock. A table that does not exist yet is at error level: nothing arrived.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import Freshness, Pipeline, Settings
from lakehouse.core.clock import as_utc, iso_z
from lakehouse.core.durations import Duration, human_seconds
from lakehouse.lake.history import last_data_commit
from lakehouse.lake.tables import PipelineTables
from lakehouse.stream import CheckpointLog

LEVELS = ("ok", "warn", "error")


def worst(levels: Any) -> str:
    """The most severe of some levels (``ok`` when there are none)."""
    found = [lvl for lvl in levels if lvl in LEVELS]
    return max(found, key=LEVELS.index) if found else "ok"


def _limit(value: Duration | int | None) -> float | None:
    if value is None:
        return None
    return float(value.seconds) if isinstance(value, Duration) else float(value)


def level_of(value: float | None, warn_after: float | None, error_after: float | None) -> str:
    """``error`` past error_after (or when unknown), ``warn`` past warn_after, else ``ok``."""
    if value is None:
        return "error"
    if error_after is not None and value > error_after:
        return "error"
    if warn_after is not None and value > warn_after:
        return "warn"
    return "ok"


@dataclass(frozen=True)
class FreshnessResult:
    """One table's staleness on one clock."""

    pipeline: str
    table: str
    clock: str  # column | commit | kafka_lag
    value: float | None  # seconds, or messages for kafka_lag; None when unknown
    unit: str  # "s" | "messages"
    warn_after: float | None
    error_after: float | None
    level: str
    observed: datetime | None = None  # the newest event / commit seen
    detail: str | None = None

    def message(self) -> str:
        """One line for a table or an alert."""
        if self.value is None:
            return f"{self.table}: {self.detail or 'no data'}"
        if self.unit == "messages":
            amount = f"{int(self.value)} messages behind"
        else:
            amount = f"{human_seconds(self.value)} old"
        limit = self.error_after if self.level == "error" else self.warn_after
        if self.level == "ok" or limit is None:
            return f"{self.table} is {amount}"
        kind = "error" if self.level == "error" else "warn"
        shown = str(int(limit)) if self.unit == "messages" else human_seconds(limit)
        return f"{self.table} is {amount} ({kind} after {shown})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO time with Z)."""
        data = asdict(self)
        if self.observed is not None:
            data["observed"] = iso_z(self.observed)
        return data


# ---------------------------------------------------------------- the clocks


def _newest_value(spark: SparkSession, path: str, column: str) -> datetime | None:
    """The newest value of a timestamp or date column, as an aware UTC time.

    Computed as epoch seconds inside Spark, so the Python process's time
    zone never shifts it; a DATE counts as fresh until its day ends.
    """
    df = spark.read.format("delta").load(path)
    newest = F.max(F.col(column))
    if isinstance(df.schema[column].dataType, T.DateType):
        epoch = (F.unix_date(newest) + 1) * 86400
    elif isinstance(df.schema[column].dataType, (T.TimestampType, T.TimestampNTZType)):
        epoch = newest.cast("double")
    else:
        raise ValueError(f"column {column!r} is neither a timestamp nor a date")
    value = df.agg(epoch.cast("double").alias("s")).first()["s"]
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _last_commit(spark: SparkSession, path: str) -> datetime | None:
    """When the table last changed rows: OPTIMIZE, VACUUM and property commits do not count."""
    last = last_data_commit(spark, path)
    return last.at if last is not None else None


def latest_offsets(
    spark: SparkSession, bootstrap: str, topics: list[str], options: dict[str, str]
) -> dict[str, dict[int, tuple[int, int]]]:
    """{topic: {partition: (earliest, latest)}} from the brokers.

    Uses the Kafka client the Spark connector ships (through the driver's
    JVM), with the pipeline's ``source.kafka.options`` (security settings).
    """
    jvm = spark._jvm  # type: ignore[attr-defined]
    props = jvm.java.util.Properties()
    props.setProperty("bootstrap.servers", bootstrap)
    deserializer = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
    props.setProperty("key.deserializer", deserializer)
    props.setProperty("value.deserializer", deserializer)
    props.setProperty("request.timeout.ms", "10000")
    props.setProperty("default.api.timeout.ms", "15000")
    for key, value in options.items():
        props.setProperty(key.removeprefix("kafka."), value)
    consumer = jvm.org.apache.kafka.clients.consumer.KafkaConsumer(props)
    try:
        wait = jvm.java.time.Duration.ofSeconds(15)
        result: dict[str, dict[int, tuple[int, int]]] = {}
        for topic in topics:
            infos = consumer.partitionsFor(topic, wait)
            parts = jvm.java.util.ArrayList()
            for info in infos or []:
                parts.add(jvm.org.apache.kafka.common.TopicPartition(topic, info.partition()))
            if parts.isEmpty():
                continue
            begin = consumer.beginningOffsets(parts, wait)
            end = consumer.endOffsets(parts, wait)
            result[topic] = {
                int(tp.partition()): (int(begin.get(tp)), int(end.get(tp))) for tp in parts
            }
        return result
    finally:
        consumer.close()


def kafka_lag(spark: SparkSession, settings: Settings, pipeline: Pipeline) -> tuple[int, str]:
    """(messages not yet ingested, a detail line) for a streaming pipeline."""
    kafka = pipeline.source.kafka
    if kafka is None:
        raise ValueError(f"pipeline {pipeline.name} has no Kafka source")
    checkpoint = PipelineTables(settings, pipeline).checkpoint
    committed = {
        topic: {int(part): offset for part, offset in parts.items()}
        for topic, parts in CheckpointLog(spark, checkpoint).committed_offsets().items()
    }
    topics = sorted(committed) if kafka.pattern else [str(kafka.topic)]
    bootstrap = kafka.bootstrap_servers or settings.kafka.bootstrap_servers
    ends = latest_offsets(spark, bootstrap, topics, dict(kafka.options))
    lag = 0
    for topic, parts in ends.items():
        done = committed.get(topic, {})
        for part, (earliest, latest) in parts.items():
            lag += max(0, latest - max(done.get(part, earliest), earliest))
    where = "no committed batch yet" if not committed else f"checkpoint {checkpoint}"
    return lag, f"{lag} messages behind on {', '.join(topics)} ({where})"


# ---------------------------------------------------------------- per table


def measure(
    spark: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    table: str,
    fresh: Freshness,
    now: datetime,
) -> FreshnessResult:
    """The staleness of one table on its configured clock."""
    now = as_utc(now)
    warn, error = _limit(fresh.warn_after), _limit(fresh.error_after)

    def result(value: float | None, observed: datetime | None, detail: str | None) -> Any:
        unit = "messages" if fresh.from_ == "kafka_lag" else "s"
        return FreshnessResult(
            pipeline=pipeline.name,
            table=table,
            clock=fresh.from_,
            value=value,
            unit=unit,
            warn_after=warn,
            error_after=error,
            level=level_of(value, warn, error),
            observed=observed,
            detail=detail,
        )

    if fresh.from_ == "kafka_lag":
        try:
            lag, detail = kafka_lag(spark, settings, pipeline)
        except Exception as exc:  # a broker that does not answer is an error-level finding
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return result(None, None, f"consumer lag unknown: {type(exc).__name__}: {first}")
        return result(float(lag), None, detail)

    path = PipelineTables(settings, pipeline).table(table)
    if not DeltaTable.isDeltaTable(spark, path):
        return result(None, None, f"table {table} does not exist yet ({path})")
    if fresh.from_ == "commit":
        observed = _last_commit(spark, path)
        what = "last commit"
    else:
        observed = _newest_value(spark, path, str(fresh.column))
        what = f"max({fresh.column})"
    if observed is None:
        return result(None, None, f"table {table} has no rows yet")
    age = (now - observed).total_seconds()
    return result(age, observed, f"{what} {iso_z(observed)}")


def check_pipeline(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, now: datetime
) -> list[FreshnessResult]:
    """Every configured table of a pipeline, in config order."""
    return [
        measure(spark, settings, pipeline, table, fresh, now)
        for table, fresh in pipeline.freshness.items()
    ]

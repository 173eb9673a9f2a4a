"""The streaming plan: the Kafka source, the row rules as a stream runs them, and the
``kept`` / ``seen`` branches the sink receives (see :mod:`lakehouse.stream`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter

from lakehouse.config.model import KafkaSource, Pipeline
from lakehouse.core.columns import EXTRA
from lakehouse.core.errors import ConfigError
from lakehouse.decode.events import (
    DETAIL,
    INGESTED_AT,
    KAFKA_COLUMNS,
    RAW_KEY,
    RAW_VALUE,
    REASON,
    bronze_projection,
    fields_outside,
    parse_events,
    required_fields,
    with_kafka_columns,
    with_partition_date,
)
from lakehouse.quality import ROW_KINDS, WINDOW_KINDS, RuleSet

BRANCH = "_branch"  # which branch a row of the union is on
KEPT = "kept"
SEEN = "seen"
# what a checkpoint's state was made by (part of its fingerprint)
PLAN_VERSION = "kafka->parse->watermark->dropDuplicatesWithinWatermark(keys) + seen/v1"


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
    spark: SparkSession,
    kafka: KafkaSource,
    starting_offsets: str | None = None,
    *,
    headers: bool = False,
) -> DataFrame:
    """The streaming Kafka source of a pipeline (``starting_offsets`` overrides the
    configured start of a new checkpoint: a reset's carried offsets; ``headers``
    reads the record headers too, for ``bronze.keep_raw``)."""
    options = kafka_options(kafka)
    if starting_offsets is not None:
        options["startingOffsets"] = starting_offsets
    if headers:
        options["includeHeaders"] = "true"
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

    ``seen`` also carries, for valid events, the JSON fields outside the
    schema (``EXTRA``), which the sink counts; with ``bronze.keep_raw``,
    ``kept`` carries the value and headers as they arrived (``source`` must
    then be read with ``headers=True``).
    """
    if pipeline.stream is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `stream` section")
    columns = pipeline.columns
    keep_raw = pipeline.bronze is not None and pipeline.bronze.keep_raw
    if keep_raw and "headers" not in source.columns:
        raise ValueError("bronze.keep_raw needs the Kafka source read with headers=True")
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
        .transform(bronze_projection, columns, pipeline.partition_by, keep_raw)
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
        F.when(valid, fields_outside(columns)).alias(EXTRA),
        F.lit(SEEN).alias(BRANCH),
    )
    return kept.unionByName(seen, allowMissingColumns=True)


def ingest_writer(
    source: DataFrame, pipeline: Pipeline, sink: Callable[[DataFrame, int], None]
) -> DataStreamWriter:
    """The configured, unstarted writer; the job picks trigger and checkpoint and starts it."""
    return (
        ingest_plan(source, pipeline)
        .writeStream.queryName(f"stream_ingest_{pipeline.name}")
        .foreachBatch(sink)
    )

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
    INGESTED_AT,
    REASON,
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
    micro-batch only, and on the keys (or more columns) it always passes: the
    dedup made them unique, so such a rule is reported without being computed.
    Dataset rules judge whole loads (batch_load) and are left out.
    """
    rows = [r for r in pipeline.quality if r.rule in ROW_KINDS]
    common: dict[str, Any] = {"keys": pipeline.keys, "event_time": pipeline.event_time}
    return (
        RuleSet([r for r in rows if r.rule not in WINDOW_KINDS], **common),
        RuleSet(
            [r for r in rows if r.rule in WINDOW_KINDS],
            prefix=UNIQUE_PREFIX,
            distinct_on=pipeline.keys,
            **common,
        ),
    )


ADMITTED_TIME = "_admitted_time"  # the event time of admitted rows (null for the others)
KEY_PREFIX = "_key_"  # the keys as they arrived (the dedup sees them null on refused rows)


def helper_columns(pipeline: Pipeline) -> list[str]:
    """Columns the plan adds for itself; the sink drops them."""
    return [ADMITTED_TIME, *[KEY_PREFIX + k for k in pipeline.keys]]


def ingest_plan(source: DataFrame, pipeline: Pipeline) -> DataFrame:
    """Kafka rows -> ``kept`` (valid, passing the row rules, watermarked,
    deduplicated) union ``seen`` (every row, with its verdicts), from one
    read and one parse of each micro-batch.

    The row checks of :func:`stream_rules` are computed once, on the parsed
    events, before the branches split. Only *admitted* events (valid, and
    breaking no ``drop``, ``quarantine`` or ``fail`` rule) count for the
    dedup and the watermark: the watermark is set on a copy of the event
    time that is null for the other rows (so they do not move it, nor are
    they late), and the dedup sees their keys as null (a key no valid event
    has, as keys are required fields), so a refused event's key never enters
    the dedup state and a corrected re-send of it is not dropped as its
    duplicate. ``kept`` is the dedup's output without those rows.

    Both branches start from one shuffle by the keys, the one the dedup
    needs: ``seen`` reads it again (Spark reuses the exchange, the
    ``ReusedExchange`` of the physical plan), so the Kafka fetch, the JSON
    parse and the rules run once per batch, not once per branch. For Spark to
    see the two inputs as the same, both branches keep every column of it
    and filter only above it; the sink drops :func:`helper_columns`.

    The dedup's state (its keys, their types, the event-time expiry) is the
    one earlier versions of this plan wrote, so checkpoints are resumed.

    ``seen`` carries the rule flags (booleans), the keys as they arrived and,
    for valid events, the JSON fields outside the schema (``EXTRA``), for the
    sink to count, sample and quarantine. Rules may change between runs: they
    decide which rows reach the stateful operator, not its state, so the
    checkpoint is kept. With ``bronze.keep_raw``, rows carry the value and
    headers as they arrived (``source`` must then be read with
    ``headers=True``).
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
    if checks:  # on the valid events only (a row the parse refused has null fields)
        events = checks.flag(events, only=valid)
        admitted = valid & ~F.col(checks.MOVE) & ~F.col(checks.DROP)
    keys = list(pipeline.keys)
    names = events.columns
    shared = (
        events.select(
            *[F.when(admitted, F.col(c)).alias(c) if c in keys else c for c in names],
            *[F.col(k).alias(KEY_PREFIX + k) for k in keys],
            F.when(admitted, F.col(pipeline.event_time)).alias(ADMITTED_TIME),
        )
        .withWatermark(ADMITTED_TIME, pipeline.stream.watermark.spark())
        .repartition(*keys)
    )
    kept = (
        shared.dropDuplicatesWithinWatermark(keys)
        .filter(F.col(ADMITTED_TIME).isNotNull())
        .withColumn(BRANCH, F.lit(KEPT))
    )
    seen = shared.select(
        *[F.coalesce(F.col(c), F.col(KEY_PREFIX + c)).alias(c) if c in keys else c for c in names],
        *helper_columns(pipeline),
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

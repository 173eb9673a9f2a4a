"""Pure transforms for Kafka events: metadata columns, JSON parsing, classification.

The transforms are ``DataFrame -> DataFrame`` (batch or streaming alike), the
rest builds schemas and column lists: no reads, no writes, no clock.
``stream_ingest`` chains them; the tests call them on small inline DataFrames.

An event is *valid* when its value is a JSON object, every required field
(NOT NULL columns, the keys and the event-time column) is present and not
null, and every present field has the declared type. Anything else gets a
``reason`` (``malformed_json`` > ``missing_field`` > ``wrong_type``) and a
``detail`` naming the fields, and goes to quarantine.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.core.columns import (
    DETAIL,
    INGESTED_AT,
    KAFKA_COLUMNS,
    LATE,
    MALFORMED,
    MISSING,
    RAW_HEADERS,
    RAW_KEY,
    RAW_VALUE,
    REASON,
    RESERVED_COLUMNS,
    WRONG_TYPE,
)
from lakehouse.core.ddl import Column, to_struct

__all__ = [
    "DETAIL",
    "INGESTED_AT",
    "KAFKA_COLUMNS",
    "LATE",
    "MALFORMED",
    "MISSING",
    "RAW_HEADERS",
    "RAW_KEY",
    "RAW_VALUE",
    "REASON",
    "RESERVED_COLUMNS",
    "WRONG_TYPE",
]

_CORRUPT = "_lakehouse_corrupt_record"
_RAW = "_raw"
_TYPED = "_typed"

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("kafka_topic", T.StringType(), False),
        T.StructField("kafka_partition", T.IntegerType(), False),
        T.StructField("kafka_offset", T.LongType(), False),
        T.StructField("kafka_timestamp", T.TimestampType(), True),
        T.StructField(RAW_KEY, T.StringType(), True),
        T.StructField(RAW_VALUE, T.StringType(), True),
        T.StructField(REASON, T.StringType(), False),
        T.StructField(DETAIL, T.StringType(), True),
        T.StructField(INGESTED_AT, T.TimestampType(), False),
        T.StructField("run_id", T.StringType(), False),
    ]
)


HEADERS_TYPE = T.ArrayType(
    T.StructType(
        [T.StructField("key", T.StringType(), True), T.StructField("value", T.BinaryType(), True)]
    ),
    True,
)


def with_kafka_columns(df: DataFrame) -> DataFrame:
    """Kafka source rows -> raw key/value as strings plus the metadata columns
    (and the headers as ``raw_headers`` when the source reads them)."""
    headers = [F.col("headers").alias(RAW_HEADERS)] if "headers" in df.columns else []
    return df.select(
        F.col("key").cast("string").alias(RAW_KEY),
        F.col("value").cast("string").alias(RAW_VALUE),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        *headers,
    )


def fields_outside(columns: Sequence[Column]) -> SparkColumn:
    """The top-level keys of ``raw_value``'s JSON object that are not event fields
    (null when the value is not a JSON object)."""
    known = F.array(*[F.lit(c.name) for c in columns])
    return F.array_except(F.json_object_keys(F.col(RAW_VALUE)), known)


def _with_corrupt_slot(schema: T.StructType) -> T.StructType:
    """``schema`` (all fields nullable) plus the corrupt-record column."""
    fields = [T.StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields]
    return T.StructType([*fields, T.StructField(_CORRUPT, T.StringType(), True)])


def _field_list(conditions: list[tuple[SparkColumn, str]]) -> SparkColumn:
    """Comma-separated names whose condition holds ('' when none)."""
    if not conditions:
        return F.lit("")
    return F.concat_ws(",", *[F.when(cond, F.lit(name)) for cond, name in conditions])


def parse_events(df: DataFrame, columns: Sequence[Column], required: Sequence[str]) -> DataFrame:
    """Parse ``raw_value`` as JSON against ``columns`` and classify each row.

    Adds one column per event field (typed; null when malformed) and
    ``reason`` / ``detail`` (both null for a valid event). Keeps every input
    column.

    One typed parse serves the common case: Spark's JSON reader fills the
    corrupt-record slot when the text is not JSON *or* a field does not fit
    its type. Only for those rows is the value parsed a second time, with
    every field as a string, to tell which fields are present and which are
    of the wrong type.
    """
    options = {"columnNameOfCorruptRecord": _CORRUPT, "mode": "PERMISSIVE"}
    typed_schema = _with_corrupt_slot(to_struct(columns))
    raw_schema = _with_corrupt_slot(
        T.StructType([T.StructField(c.name, T.StringType(), True) for c in columns])
    )
    typed = F.col(_TYPED)
    raw = F.col(_RAW)
    corrupt = typed.isNull() | typed[_CORRUPT].isNotNull()
    malformed = typed.isNull() | (corrupt & (raw.isNull() | raw[_CORRUPT].isNotNull()))

    def present(name: str) -> SparkColumn:
        return F.when(corrupt, raw[name].isNotNull()).otherwise(typed[name].isNotNull())

    missing = _field_list([(~present(name), name) for name in required])
    wrong = _field_list(
        [(corrupt & raw[c.name].isNotNull() & typed[c.name].isNull(), c.name) for c in columns]
    )
    reason = (
        F.when(malformed, F.lit(MALFORMED))
        .when(missing != "", F.lit(MISSING))
        .when(wrong != "", F.lit(WRONG_TYPE))
    )
    detail = (
        F.when(malformed & F.col(RAW_VALUE).isNull(), F.lit("empty value"))
        .when(malformed, F.lit("not a JSON object"))
        .when(missing != "", F.concat(F.lit("missing: "), missing))
        .when(wrong != "", F.concat(F.lit("not of the declared type: "), wrong))
    )
    return (
        df.withColumn(_TYPED, F.from_json(RAW_VALUE, typed_schema, options))
        .withColumn(
            _RAW,
            F.when(
                F.col(_TYPED).isNull() | F.col(_TYPED)[_CORRUPT].isNotNull(),
                F.from_json(RAW_VALUE, raw_schema, options),
            ),
        )
        .select(
            *df.columns,
            *[F.when(~malformed, typed[c.name]).alias(c.name) for c in columns],
            reason.alias(REASON),
            detail.alias(DETAIL),
        )
    )


def required_fields(columns: Sequence[Column], keys: Sequence[str], event_time: str) -> list[str]:
    """Fields an event must carry: NOT NULL columns, the keys, the event time."""
    names = [c.name for c in columns if not c.nullable]
    return [*names, *[k for k in (*keys, event_time) if k not in names]]


def with_partition_date(df: DataFrame, event_time: str, partition_by: str) -> DataFrame:
    """Add the DATE partition column derived from the event time (session time zone: UTC)."""
    return df.withColumn(partition_by, F.to_date(F.col(event_time)))


def bronze_projection(
    df: DataFrame, columns: Sequence[Column], partition_by: str, keep_raw: bool = False
) -> DataFrame:
    """The bronze output contract: event fields, partition column, Kafka metadata
    (and, with ``keep_raw``, the value and headers as they arrived)."""
    names = [c.name for c in columns]
    extra = [] if partition_by in names else [partition_by]
    raw = [RAW_VALUE, RAW_HEADERS] if keep_raw else []
    return df.select(*names, *extra, *KAFKA_COLUMNS, INGESTED_AT, *raw)


RAW_FIELDS = (
    T.StructField(RAW_VALUE, T.StringType(), True),
    T.StructField(RAW_HEADERS, HEADERS_TYPE, True),
)


def bronze_schema(
    columns: Sequence[Column], partition_by: str, keep_raw: bool = False
) -> T.StructType:
    """Schema of the bronze table (event fields keep their NOT NULL)."""
    fields = list(to_struct(columns).fields)
    if partition_by not in {c.name for c in columns}:
        fields.append(T.StructField(partition_by, T.DateType(), True))
    fields += [
        T.StructField("kafka_topic", T.StringType(), False),
        T.StructField("kafka_partition", T.IntegerType(), False),
        T.StructField("kafka_offset", T.LongType(), False),
        T.StructField("kafka_timestamp", T.TimestampType(), True),
        T.StructField(INGESTED_AT, T.TimestampType(), False),
    ]
    if keep_raw:
        fields += list(RAW_FIELDS)
    return T.StructType(fields)


def quarantine_projection(df: DataFrame, run_id: str) -> DataFrame:
    """The quarantine output contract (QUARANTINE_SCHEMA order)."""
    return df.select(
        *KAFKA_COLUMNS,
        RAW_KEY,
        RAW_VALUE,
        REASON,
        DETAIL,
        INGESTED_AT,
        F.lit(run_id).alias("run_id"),
    )


def mark_late(
    df: DataFrame, event_time: str, watermark_ms: int, only: SparkColumn | None = None
) -> DataFrame:
    """Valid rows at or before the late-events watermark get ``reason = late``.

    ``watermark_ms`` is the watermark Spark's stateful operator used for this
    micro-batch (the previous batch's, in epoch milliseconds); a row whose
    event time is not after it was dropped by ``dropDuplicatesWithinWatermark``.
    ``only`` limits the marking to the rows it selects.
    """
    watermark = F.timestamp_millis(F.lit(watermark_ms))
    is_late = F.col(REASON).isNull() & (F.col(event_time) <= watermark)
    if only is not None:
        is_late = is_late & only
    return df.withColumn(REASON, F.when(is_late, F.lit(LATE)).otherwise(F.col(REASON))).withColumn(
        DETAIL,
        F.when(
            is_late,
            F.concat(F.lit(f"{event_time} at or before the watermark "), watermark.cast("string")),
        ).otherwise(F.col(DETAIL)),
    )

"""Pure event transforms on tiny inline DataFrames: parsing, classification, lateness."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from lakehouse.core.ddl import parse_columns
from lakehouse.decode.events import (
    QUARANTINE_SCHEMA,
    bronze_projection,
    bronze_schema,
    mark_late,
    parse_events,
    quarantine_projection,
    required_fields,
    with_partition_date,
)

COLUMNS = parse_columns(
    "order_id STRING NOT NULL, amount DECIMAL(12,2), status STRING, event_time TIMESTAMP NOT NULL"
)
REQUIRED = required_fields(COLUMNS, ["order_id"], "event_time")
RAW = "raw_value STRING, kafka_offset BIGINT"


def classify(spark, values: list[str | None]) -> list[tuple]:
    df = spark.createDataFrame([(v, i) for i, v in enumerate(values)], RAW)
    out = parse_events(df, COLUMNS, REQUIRED).orderBy("kafka_offset")
    return [(r.order_id, r.reason, r.detail) for r in out.collect()]


def test_required_fields_are_not_null_columns_keys_and_event_time():
    cols = parse_columns("a STRING, b INT NOT NULL, ts TIMESTAMP")
    assert required_fields(cols, ["a"], "ts") == ["b", "a", "ts"]


def test_valid_events_parse_with_their_types(spark):
    df = spark.createDataFrame(
        [
            (
                '{"order_id":"o1","amount":12.5,"status":"paid","event_time":"2026-11-25T10:00:00Z"}',
                0,
            ),
            ('{"order_id":"o2","event_time":"2026-11-25T10:00:00Z","extra":"ignored"}', 1),
        ],
        RAW,
    )
    rows = parse_events(df, COLUMNS, REQUIRED).orderBy("kafka_offset").collect()
    assert (rows[0].order_id, str(rows[0].amount), rows[0].status) == ("o1", "12.50", "paid")
    assert rows[0].event_time == datetime(2026, 11, 25, 10, 0)
    assert rows[0].reason is None and rows[0].detail is None
    assert (rows[1].amount, rows[1].status, rows[1].reason) == (None, None, None)


def test_each_kind_of_bad_event_gets_its_reason(spark):
    got = classify(
        spark,
        [
            "not json",
            "[1, 2]",
            "",
            None,
            '{"order_id": "o1", "amount": ',
            '{"amount": 1, "event_time": "2026-11-25T10:00:00Z"}',
            '{"order_id": null, "event_time": "2026-11-25T10:00:00Z"}',
            '{"order_id": "o2"}',
            '{"order_id": "o3", "amount": "a lot", "event_time": "2026-11-25T10:00:00Z"}',
            '{"order_id": "o4", "event_time": "yesterday"}',
            '{"order_id": "o5", "amount": 12345678901234.5, "event_time": "2026-11-25T10:00:00Z"}',
            '{"event_time": "soon", "amount": "x"}',
        ],
    )
    assert got == [
        (None, "malformed_json", "not a JSON object"),
        (None, "malformed_json", "not a JSON object"),
        (None, "malformed_json", "not a JSON object"),
        (None, "malformed_json", "empty value"),
        (None, "malformed_json", "not a JSON object"),
        (None, "missing_field", "missing: order_id"),
        (None, "missing_field", "missing: order_id"),
        ("o2", "missing_field", "missing: event_time"),
        ("o3", "wrong_type", "not of the declared type: amount"),
        ("o4", "wrong_type", "not of the declared type: event_time"),
        ("o5", "wrong_type", "not of the declared type: amount"),
        (None, "missing_field", "missing: order_id"),  # missing wins over wrong type
    ]


def test_partition_date_is_the_utc_day_of_the_event(spark):
    df = spark.createDataFrame(
        [(datetime(2026, 11, 25, 23, 59, 59),), (datetime(2026, 11, 26, 0, 0),), (None,)],
        "event_time TIMESTAMP",
    )
    got = [r.event_date for r in with_partition_date(df, "event_time", "event_date").collect()]
    assert got == [date(2026, 11, 25), date(2026, 11, 26), None]


def test_mark_late_uses_at_or_before_the_watermark(spark):
    wm = datetime(2026, 11, 25, 11, 0)
    wm_ms = int((wm - datetime(1970, 1, 1)).total_seconds() * 1000)
    df = spark.createDataFrame(
        [
            ("a", datetime(2026, 11, 25, 10, 59, 59), None, "seen"),
            ("b", datetime(2026, 11, 25, 11, 0, 0), None, "seen"),
            ("c", datetime(2026, 11, 25, 11, 0, 0, 1000), None, "seen"),
            ("d", datetime(2026, 11, 25, 9, 0), "wrong_type", "seen"),
            ("e", datetime(2026, 11, 25, 9, 0), None, "kept"),
        ],
        "order_id STRING, event_time TIMESTAMP, reason STRING, branch STRING",
    ).withColumn("detail", F.lit(None).cast("string"))
    out = mark_late(df, "event_time", wm_ms, only=F.col("branch") == "seen").orderBy("order_id")
    assert [(r.order_id, r.reason) for r in out.collect()] == [
        ("a", "late"),
        ("b", "late"),
        ("c", None),
        ("d", "wrong_type"),
        ("e", None),
    ]


def test_bronze_projection_matches_the_bronze_schema(spark):
    df = spark.createDataFrame(
        [
            (
                "o1",
                None,
                "paid",
                datetime(2026, 11, 25, 10),
                date(2026, 11, 25),
                "t",
                0,
                5,
                datetime(2026, 11, 25, 10, 1),
                datetime(2026, 11, 25, 10, 2),
                "ignored",
            )
        ],
        "order_id STRING, amount DECIMAL(12,2), status STRING, event_time TIMESTAMP, "
        "event_date DATE, kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, "
        "kafka_timestamp TIMESTAMP, ingested_at TIMESTAMP, raw_value STRING",
    )
    out = bronze_projection(df, COLUMNS, "event_date")
    assert out.columns == bronze_schema(COLUMNS, "event_date").fieldNames()
    assert [f.dataType for f in out.schema.fields] == [
        f.dataType for f in bronze_schema(COLUMNS, "event_date").fields
    ]


def test_quarantine_projection_has_the_quarantine_columns(spark):
    df = spark.createDataFrame(
        [
            (
                "t",
                1,
                7,
                None,
                "k",
                "not json",
                "malformed_json",
                "not a JSON object",
                datetime(2026, 11, 25, 10),
            )
        ],
        "kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, kafka_timestamp TIMESTAMP, "
        "raw_key STRING, raw_value STRING, reason STRING, detail STRING, ingested_at TIMESTAMP",
    )
    out = quarantine_projection(df, "run-1")
    expected = spark.createDataFrame(
        [
            (
                "t",
                1,
                7,
                None,
                "k",
                "not json",
                "malformed_json",
                "not a JSON object",
                datetime(2026, 11, 25, 10),
                "run-1",
            )
        ],
        QUARANTINE_SCHEMA,
    )
    assert_df_equality(out, expected, ignore_nullable=True)

"""The pure transforms of batch loads (source typing, preparation), on tiny DataFrames."""

from __future__ import annotations

from datetime import date, datetime

from lakehouse.batch.prepare import mark_duplicates, refuse_other_dates, row_hash
from lakehouse.batch.source import typed_from_columns
from lakehouse.core.columns import DUPLICATE, OUTSIDE_DATE, ROW_HASH
from lakehouse.core.ddl import parse_columns
from lakehouse.decode.events import DETAIL, REASON

COLUMNS = parse_columns(
    "order_id STRING NOT NULL, amount DECIMAL(12,2), status STRING, event_time TIMESTAMP NOT NULL"
)
REQUIRED = ["order_id", "event_time"]


def test_row_hash_tells_apart_nulls_in_different_columns(spark):
    df = spark.createDataFrame([("a", None), (None, "a")], "x string, y string")
    hashes = [r[0] for r in df.select(row_hash(["x", "y"])).collect()]
    assert hashes[0] != hashes[1]


def test_typed_from_columns_refuses_what_does_not_fit(spark):
    df = spark.createDataFrame(
        [
            ("a", "1.50", "2026-03-01 10:00:00"),
            ("b", "ten", "2026-03-01 10:00:00"),
            (None, "2.00", "2026-03-01 10:00:00"),
            ("d", "1.00", "not a time"),
        ],
        "order_id string, amount string, event_time string",
    )
    rows = {
        r.order_id: r for r in typed_from_columns(df, COLUMNS, REQUIRED).collect()
    }  # no status column at all: null, and not required
    assert rows["a"][REASON] is None and str(rows["a"].amount) == "1.50"
    assert rows["a"].event_time == datetime(2026, 3, 1, 10)
    assert (rows["b"][REASON], rows["b"][DETAIL]) == (
        "wrong_type",
        "not of the declared type: amount",
    )
    assert rows["b"].amount is None and '"ten"' in rows["b"].record
    assert rows[None][REASON] == "missing_field" and rows[None][DETAIL] == "missing: order_id"
    # present but not a timestamp: the wrong type, not missing
    assert rows["d"][REASON] == "wrong_type" and rows["d"][DETAIL].endswith("event_time")


def test_refuse_other_dates_marks_only_valid_rows_of_another_day(spark):
    df = spark.createDataFrame(
        [
            ("a", datetime(2026, 3, 1, 23, 59, 59), None, None),
            ("b", datetime(2026, 3, 2, 0, 0, 0), None, None),
            ("c", datetime(2026, 3, 2, 0, 0, 0), "wrong_type", "x"),
        ],
        f"order_id string, event_time timestamp, {REASON} string, {DETAIL} string",
    )
    got = {
        r.order_id: r[REASON]
        for r in refuse_other_dates(df, "event_time", date(2026, 3, 1)).collect()
    }
    assert got == {"a": None, "b": OUTSIDE_DATE, "c": "wrong_type"}


def test_mark_duplicates_keeps_the_newest_and_breaks_ties_by_row_hash(spark):
    t = datetime(2026, 3, 1, 10)
    df = spark.createDataFrame(
        [
            ("a", "1", datetime(2026, 3, 1, 9), None),
            ("a", "2", datetime(2026, 3, 1, 11), None),
            ("a", "3", None, None),  # no order value: never the newest
            ("b", "x", t, None),
            ("b", "y", t, None),
            ("c", "bad", datetime(2026, 3, 1, 12), "wrong_type"),  # refused rows do not compete
            ("c", "ok", t, None),
        ],
        f"order_id string, v string, event_time timestamp, {REASON} string",
    )
    marked = mark_duplicates(df, ["order_id"], "event_time", ["order_id", "v", "event_time"])
    kept = {(r.order_id, r.v) for r in marked.where(f"{REASON} IS NULL").collect()}
    b_rows = marked.where("order_id = 'b'").collect()
    b_winner = max(b_rows, key=lambda r: r[ROW_HASH]).v
    assert kept == {("a", "2"), ("b", b_winner), ("c", "ok")}
    assert marked.where(f"{REASON} = '{DUPLICATE}'").count() == 3


def test_sources_with_columns_a_load_overwrites_keep_every_record():
    from lakehouse.batch.source import _shadows_internal

    assert not _shadows_internal(["order_id", "amount", "event_time"], "event_date")
    for clash in ("Event_Date", "_SOURCE", "_logical_date", "_row_hash", "run_id", "_q_move"):
        assert _shadows_internal(["order_id", clash], "event_date"), clash

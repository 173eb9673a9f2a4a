"""Each silver write mode on its own: a table at version v plus rows -> counts and the table.

The rows are what a load hands its writer: valid, one per key and date, with
the audit columns. What happens before (reading, typing, deduplication,
quality) is tested with the jobs; these tests pin the writers themselves.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable

from lakehouse.batch.prepare import silver_columns, silver_schema
from lakehouse.batch.writers import commit_metadata, ensure_silver, plan_changes, write_silver
from lakehouse.config import load_config
from tests.harness.builders import pipeline_yaml, write_conf

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
AT = datetime(2026, 3, 5, 6, 0)


def pipeline_for(tmp_path, monkeypatch, **silver):
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    pipe = pipeline_yaml(
        source={"files": {"path": "landing/{date}", "format": "json"}},
        silver={"table": "silver.orders", "order_by": "event_time", **silver},
    )
    pipe.pop("stream"), pipe.pop("bronze")
    conf = write_conf(tmp_path, pipelines={"orders": pipe})
    return load_config("orders", conf_dir=str(conf)).pipeline


def frame(spark, pipeline, rows, run_id):
    """Silver rows from (order_id, amount, status, day): event at 10:00 of its day."""
    values = [
        (oid, Decimal(amount), status, datetime(d.year, d.month, d.day, 10), d, AT, run_id)
        for oid, amount, status, d in rows
    ]
    df = spark.createDataFrame(values, silver_schema(pipeline))
    return df.select(*silver_columns(pipeline))


class Table:
    def __init__(self, spark, pipeline, path):
        self.spark, self.pipeline, self.path = spark, pipeline, path
        ensure_silver(spark, path, pipeline)

    def write(self, rows, days, run_id):
        df = frame(self.spark, self.pipeline, rows, run_id)
        sources = {d: sum(1 for r in rows if r[3] == d) for d in days}
        mode = self.pipeline.silver.mode
        return write_silver(
            self.spark.newSession(),
            self.path,
            df,
            self.pipeline,
            days,
            metadata=commit_metadata(run_id, self.pipeline, days, mode),
            source_rows=sources,
        )

    def dry_run(self, rows, days):
        df = frame(self.spark, self.pipeline, rows, "dry")
        sources = {d: sum(1 for r in rows if r[3] == d) for d in days}
        return plan_changes(
            self.spark.newSession(), self.path, df, self.pipeline, days, source_rows=sources
        )

    def version(self) -> int:
        return DeltaTable.forPath(self.spark, self.path).history(1).first()["version"]

    def rows(self):
        df = self.spark.read.format("delta").load(self.path)
        return sorted(
            (r.order_id, str(r.amount), r.status, r.event_date, r.run_id) for r in df.collect()
        )


@pytest.fixture
def table_for(spark, tmp_path, monkeypatch):
    def make(**silver) -> Table:
        pipeline = pipeline_for(tmp_path, monkeypatch, **silver)
        return Table(spark, pipeline, str(tmp_path / "lake" / "silver" / "orders"))

    return make


def counted(counts, day):
    c = counts[day]
    return (c.inserted, c.updated, c.deleted, c.unchanged)


def test_merge_inserts_updates_and_leaves_the_same_rows_alone(table_for):
    t = table_for(mode="merge")
    first = t.write([("a", "1.00", "placed", D1), ("b", "2.00", "placed", D1)], [D1], "r1")
    assert counted(first, D1) == (2, 0, 0, 0)
    v1 = t.version()
    again = t.write(
        [("a", "1.00", "placed", D1), ("b", "2.00", "paid", D1), ("c", "3.00", "placed", D1)],
        [D1],
        "r2",
    )
    assert counted(again, D1) == (1, 1, 0, 1)
    assert again[D1].version == v1 + 1
    assert t.rows() == [
        ("a", "1.00", "placed", D1, "r1"),  # unchanged: not rewritten, keeps its run
        ("b", "2.00", "paid", D1, "r2"),
        ("c", "3.00", "placed", D1, "r2"),
    ]


def test_merge_of_the_same_rows_makes_no_commit(table_for):
    t = table_for(mode="merge")
    rows = [("a", "1.00", "placed", D1), ("b", "2.00", "placed", D1)]
    t.write(rows, [D1], "r1")
    version = t.version()
    counts = t.write(rows, [D1], "r2")
    assert counted(counts, D1) == (0, 0, 0, 2) and counts[D1].version is None
    assert t.version() == version


def test_merge_with_delete_missing_deletes_only_inside_its_dates(table_for):
    t = table_for(mode="merge", delete_missing=True)
    t.write(
        [("a", "1.00", "placed", D1), ("b", "2.00", "placed", D1), ("z", "9.00", "placed", D2)],
        [D1, D2],
        "r1",
    )
    counts = t.write([("a", "1.00", "placed", D1)], [D1], "r2")
    assert counted(counts, D1) == (0, 0, 1, 1)
    assert t.rows() == [("a", "1.00", "placed", D1, "r1"), ("z", "9.00", "placed", D2, "r1")]


def test_insert_if_absent_never_touches_a_row_that_is_there(table_for):
    t = table_for(mode="insert_if_absent")
    t.write([("a", "1.00", "placed", D1)], [D1], "r1")
    counts = t.write([("a", "5.00", "paid", D1), ("b", "2.00", "placed", D1)], [D1], "r2")
    assert counted(counts, D1) == (1, 0, 0, 1)
    assert t.rows() == [("a", "1.00", "placed", D1, "r1"), ("b", "2.00", "placed", D1, "r2")]


def test_replace_partition_replaces_the_day_and_skips_an_identical_one(table_for):
    t = table_for(mode="replace_partition")
    t.write(
        [("a", "1.00", "placed", D1), ("b", "2.00", "placed", D1), ("z", "9.00", "placed", D2)],
        [D1, D2],
        "r1",
    )
    counts = t.write([("c", "3.00", "placed", D1)], [D1], "r2")
    assert counts[D1].inserted == 1 and counts[D1].deleted == 2
    assert t.rows() == [("c", "3.00", "placed", D1, "r2"), ("z", "9.00", "placed", D2, "r1")]
    version = t.version()
    same = t.write([("c", "3.00", "placed", D1)], [D1], "r3")
    assert same[D1].skipped_write and t.version() == version


def test_several_dates_in_one_commit_count_each_date_apart(table_for, spark):
    t = table_for(mode="merge")
    t.write([("a", "1.00", "placed", D1), ("b", "2.00", "placed", D2)], [D1, D2], "r1")
    before = t.version()
    counts = t.write(
        [("a", "1.50", "placed", D1), ("b", "2.00", "placed", D2), ("c", "3.00", "placed", D3)],
        [D1, D2, D3],
        "r2",
    )
    assert [counted(counts, d) for d in (D1, D2, D3)] == [(0, 1, 0, 0), (0, 0, 0, 1), (1, 0, 0, 0)]
    assert t.version() == before + 1  # one commit for the three dates
    expected = frame(
        spark,
        t.pipeline,
        [("a", "1.50", "placed", D1), ("b", "2.00", "placed", D2), ("c", "3.00", "placed", D3)],
        "-",
    ).drop("loaded_at", "run_id")
    actual = spark.read.format("delta").load(t.path).drop("loaded_at", "run_id")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("silver", "d1"),
    [  # D1's (inserted, updated, deleted, unchanged); D2 is identical in every mode
        ({"mode": "merge"}, (1, 0, 0, 1)),
        ({"mode": "merge", "delete_missing": True}, (1, 0, 1, 1)),
        ({"mode": "insert_if_absent"}, (1, 0, 0, 1)),
        ({"mode": "replace_partition"}, (2, 0, 2, 0)),
    ],
)
def test_a_dry_run_counts_what_the_write_then_does_and_commits_nothing(table_for, silver, d1):
    t = table_for(**silver)
    t.write([("a", "1.00", "placed", D1), ("b", "2.00", "placed", D1)], [D1], "r1")
    t.write([("y", "5.00", "placed", D2)], [D2], "r1")
    rows = [
        ("a", "1.00", "placed", D1),
        ("c", "3.00", "placed", D1),  # new; b is gone, a unchanged
        ("y", "5.00", "placed", D2),
    ]
    version, before = t.version(), t.rows()
    planned = t.dry_run(rows, [D1, D2])
    assert t.version() == version and t.rows() == before  # nothing written
    assert (counted(planned, D1), counted(planned, D2)) == (d1, (0, 0, 0, 1))
    written = t.write(rows, [D1, D2], "r2")
    for day in (D1, D2):
        assert counted(written, day) == counted(planned, day), day
        assert planned[day].skipped_write == written[day].skipped_write
        assert planned[day].attempts == 0 and written[day].attempts == 1

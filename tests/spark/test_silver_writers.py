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
    def make(name: str = "orders", **silver) -> Table:
        pipeline = pipeline_for(tmp_path, monkeypatch, **silver)
        return Table(spark, pipeline, str(tmp_path / "lake" / "silver" / name))

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


# ---------------------------------------------------------------- merge or rewrite

SEED = [(f"k{i}", f"{i}.00", "placed", D1) for i in range(10)] + [("y", "5.00", "placed", D2)]
LOADS = {
    # one update, one insert: 2 rows of a 10-row day
    "sparse": [("k3", "3.00", "paid", D1), ("n0", "1.00", "placed", D1)],
    # every stored row changed, and five new
    "dense": [(f"k{i}", f"{100 + i}.00", "placed", D1) for i in range(10)]
    + [(f"n{i}", "1.00", "placed", D1) for i in range(5)],
}


def last_operation(t: Table) -> str:
    return DeltaTable.forPath(t.spark, t.path).history(1).first()["operation"]


@pytest.mark.parametrize("load", sorted(LOADS))
@pytest.mark.parametrize(
    "silver",
    [{"mode": "merge"}, {"mode": "merge", "delete_missing": True}, {"mode": "insert_if_absent"}],
    ids=["merge", "delete_missing", "insert_if_absent"],
)
def test_merge_and_rewrite_give_the_same_table_and_a_rerun_commits_nothing(
    spark, table_for, silver, load
):
    by = {apply: table_for(apply, apply=apply, **silver) for apply in ("merge", "rewrite")}
    counts = {}
    for apply, t in by.items():
        t.write(SEED, [D1, D2], "r1")
        counts[apply] = counted(t.write(LOADS[load], [D1], "r2"), D1)
    merged, rewritten = by["merge"], by["rewrite"]
    assert counts["merge"] == counts["rewrite"]
    if counts["merge"][:3] != (0, 0, 0):  # insert_if_absent's dense load changes k*: no
        assert last_operation(merged) == "MERGE"
        assert last_operation(rewritten) == "WRITE"
    tables = [spark.read.format("delta").load(t.path) for t in (merged, rewritten)]
    assert_df_equality(*tables, ignore_row_order=True)
    assert ("y", "5.00", "placed", D2, "r1") in rewritten.rows()  # D2 is not rewritten
    for t in by.values():
        version = t.version()
        again = t.write(LOADS[load], [D1], "r3")
        assert again[D1].version is None and t.version() == version, t.path


def test_auto_merges_sparse_changes_and_rewrites_dense_ones(table_for):
    t = table_for(mode="merge")
    t.write(SEED, [D1, D2], "r1")
    t.write(LOADS["sparse"], [D1], "r2")
    assert last_operation(t) == "MERGE"
    t.write(LOADS["dense"], [D1], "r3")
    assert last_operation(t) == "WRITE"
    assert len(t.rows()) == 16  # k0..k9, n0..n4 (n0 came with the sparse load), y on D2


def rival(t: Table) -> None:
    """Another load of D1 (another run) committing first: k1 shipped, and a new row."""
    t.write([("k1", "1.00", "shipped", D1), ("rv", "7.00", "placed", D1)], [D1], "rival")


def serial(t: Table):
    """What the rival then our dense load leave: ours for k* and n*, and the rival's rv."""
    ours = [(o, a, s, d, "r2") for o, a, s, d in LOADS["dense"]]
    return sorted([*ours, ("rv", "7.00", "placed", D1, "rival"), ("y", "5.00", "placed", D2, "r1")])


def test_a_rewrite_planned_before_a_rival_commit_writes_nothing_and_plans_again(spark, table_for):
    from lakehouse.batch.writers import PlannedOnStaleSnapshot, WriteTarget, writer_for

    t = table_for(mode="merge", apply="rewrite")
    t.write(SEED, [D1, D2], "r1")
    rows = frame(spark, t.pipeline, LOADS["dense"], "r2")
    meta = commit_metadata("r2", t.pipeline, [D1], "merge")
    target = WriteTarget(spark.newSession(), t.path, t.pipeline, (D1,), {D1: 15}, meta)
    writer = writer_for(t.pipeline)
    plan = writer.plan(target, rows)
    rival(t)
    after_rival = t.version()
    with pytest.raises(PlannedOnStaleSnapshot, match="was planned"):
        writer.commit(target, rows, plan)
    plan.release()
    assert t.version() == after_rival  # found before the write: nothing written
    t.write(LOADS["dense"], [D1], "r2")  # the retry plans on top of the rival
    assert t.rows() == serial(t)


def test_a_rival_commit_just_before_the_rewrite_began_is_not_lost(table_for, monkeypatch):
    """The rival lands after the rewrite checked for one and before Delta's transaction
    of the rewrite started (so Delta's own conflict check cannot see it): staged here by
    committing the rival right after the check, for real. The rewrite is undone and the
    load planned again on top of the rival: the serial result, nothing of the rival lost."""
    from lakehouse.batch.writers import planned

    t = table_for(mode="merge", apply="rewrite")
    t.write(SEED, [D1, D2], "r1")
    check = planned._rival_since
    staged = []

    def check_then_rival(target, after, upto=None):
        found = check(target, after, upto)
        if not staged and target.metadata and '"r2"' in target.metadata:
            staged.append(True)
            rival(t)
        return found

    monkeypatch.setattr(planned, "_rival_since", check_then_rival)
    counts = t.write(LOADS["dense"], [D1], "r2")
    assert staged and counts[D1].attempts == 2
    assert t.rows() == serial(t)
    history = DeltaTable.forPath(t.spark, t.path).history().collect()
    assert any('"undoes"' in (h["userMetadata"] or "") for h in history)


def test_auto_rewrites_when_few_changes_touch_most_files(spark, table_for):
    """A full reload with 10% of the rows changed: a MERGE when they lie in one file,
    a rewrite when they are spread over every file (a MERGE would rewrite them all)."""
    setup = table_for(apply="merge")
    for i in range(4):  # four MERGE commits of new keys: at least four files
        setup.write([(f"f{i}-{j}", "1.00", "placed", D1) for j in range(10)], [D1], f"s{i}")
    t = table_for()  # the same table, apply: auto
    day = spark.read.format("delta").load(t.path).where(f"event_date = '{D1}'")
    by_file: dict[str, list[str]] = {}
    for r in day.select("order_id", "_metadata.file_path").collect():
        by_file.setdefault(r["file_path"], []).append(r["order_id"])
    assert len(by_file) >= 4
    keys = sorted(k for ks in by_file.values() for k in ks)

    raised: set[str] = set()  # keys whose amount the reloads changed so far

    def reload(changed: set[str], run: str) -> None:
        raised.update(changed)
        rows = [(k, "2.00" if k in raised else "1.00", "placed", D1) for k in keys]
        counts = t.write(rows, [D1], run)
        assert counted(counts, D1) == (0, len(changed), 0, len(keys) - len(changed))

    one_file = next(iter(by_file.values()))
    reload(set(sorted(one_file)[:4]), "r1")  # 4 of 40 rows, in one file
    assert last_operation(t) == "MERGE"
    reload({sorted(ks)[-1] for ks in by_file.values()}, "r2")  # one row in every file
    assert last_operation(t) == "WRITE"
    assert sorted(r[0] for r in t.rows() if r[1] == "2.00") == sorted(raised)

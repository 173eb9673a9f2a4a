"""batch_load on real Delta tables: idempotency, each mode, bad input, concurrency."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.core.ddl import parse_columns
from lakehouse.decode.events import bronze_schema
from lakehouse.jobs import batch_load
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.load import D1, D2, LoadHarness, ids, row


@pytest.fixture
def load(tmp_path, capsys, monkeypatch):
    return LoadHarness(tmp_path, capsys, monkeypatch)


# ---------------------------------------------------------------- idempotency


def test_same_date_three_times_leaves_the_table_of_one_run(spark, load):
    load.land(D1, [row("a"), row("b", "20.50"), row("c", status="paid")])
    code, first = load.run(D1)
    assert code == 0 and first["status"] == "success"
    assert first["details"]["inserted"] == 3
    once = load.silver(spark).orderBy("order_id").collect()
    files = sorted(load.silver(spark).inputFiles())
    version = load.version(spark)
    for _ in range(2):
        code, again = load.run(D1)
        assert code == 0
        assert (again["details"]["inserted"], again["details"]["updated"]) == (0, 0)
        assert again["details"]["unchanged"] == 3
    assert_df_equality(
        spark.createDataFrame(once, load.silver(spark).schema),
        load.silver(spark).orderBy("order_id"),
    )
    assert sorted(load.silver(spark).inputFiles()) == files  # no data file rewritten
    history = DeltaTable.forPath(spark, load.silver_path).history()
    added = history.where(F.col("version") > version).select(
        F.coalesce(F.col("operationMetrics")["numTargetFilesAdded"], F.lit("0")).cast("int")
    )
    assert all(r[0] == 0 for r in added.collect())


def test_changed_source_updates_exactly_the_changed_rows(spark, load):
    load.land(D1, [row("a"), row("b"), row("c")])
    load.land(D2, [row("x", at="2026-03-02T08:00:00"), row("y", at="2026-03-02T09:00:00")])
    assert load.run(D1)[0] == 0 and load.run(D2)[0] == 0
    day2_before = load.day(spark, D2).collect()
    untouched_before = load.day(spark, D1).where("order_id = 'a'").collect()

    load.land(D1, [row("a"), row("b", status="paid"), row("c"), row("d")])
    code, record = load.run(D1)
    assert code == 0
    d = record["details"]
    assert (d["inserted"], d["updated"], d["deleted"], d["unchanged"]) == (1, 1, 0, 2)
    assert load.day(spark, D2).collect() == day2_before  # other date untouched, to the audit
    assert load.day(spark, D1).where("order_id = 'a'").collect() == untouched_before
    b = load.day(spark, D1).where("order_id = 'b'").first()
    assert b.status == "paid" and b.run_id == record["run_id"]


def test_commits_carry_user_metadata_naming_the_run(spark, load):
    load.land(D1, [row("a")])
    _code, record = load.run(D1)
    meta = json.loads(
        DeltaTable.forPath(spark, load.silver_path).history(1).first()["userMetadata"]
    )
    assert meta == {
        "run_id": record["run_id"],
        "pipeline": "orders",
        "logical_date": "2026-03-01",
        "mode": "merge",
    }
    assert record["details"]["version"] == load.version(spark)


# ---------------------------------------------------------------- modes


def test_delete_missing_makes_the_day_equal_to_the_source(spark, load):
    load.configure(silver={"delete_missing": True})
    load.land(D1, [row("a"), row("b"), row("c")])
    load.land(D2, [row("x", at="2026-03-02T08:00:00")])
    load.run(D1), load.run(D2)
    load.land(D1, [row("a"), row("c", "99.00")])
    code, record = load.run(D1)
    assert code == 0
    assert (record["details"]["deleted"], record["details"]["updated"]) == (1, 1)
    assert ids(load.day(spark, D1)) == ["a", "c"]
    assert ids(load.day(spark, D2)) == ["x"]


def test_replace_partition_swaps_the_day_in_one_commit_and_skips_identical(spark, load):
    load.configure(silver={"mode": "replace_partition"})
    load.land(D1, [row("a"), row("b")])
    load.land(D2, [row("x", at="2026-03-02T08:00:00")])
    load.run(D1), load.run(D2)
    version = load.version(spark)
    code, record = load.run(D1)  # identical day: nothing written
    assert code == 0 and record["details"]["skipped_write"] is True
    assert load.version(spark) == version

    load.land(D1, [row("b", "5.00"), row("c")])
    code, record = load.run(D1)
    assert code == 0 and record["details"]["deleted"] == 2 and record["details"]["inserted"] == 2
    assert load.version(spark) == version + 1  # one commit
    assert ids(load.day(spark, D1)) == ["b", "c"]
    assert ids(load.day(spark, D2)) == ["x"]


def test_insert_if_absent_keeps_what_is_there(spark, load):
    load.configure(silver={"mode": "insert_if_absent"})
    load.land(D1, [row("a", "1.00")])
    load.run(D1)
    load.land(D1, [row("a", "2.00"), row("b")])
    code, record = load.run(D1)
    assert code == 0 and record["details"]["inserted"] == 1
    amounts = {r.order_id: str(r.amount) for r in load.silver(spark).collect()}
    assert amounts == {"a": "1.00", "b": "10.00"}


def test_duplicate_keys_newest_wins_whatever_the_file_order(spark, load):
    rows = [
        row("a", "1.00", at="2026-03-01T10:00:00"),
        row("a", "3.00", at="2026-03-01T12:00:00"),
        row("a", "2.00", at="2026-03-01T11:00:00"),
        row("b", "7.00", status="paid", at="2026-03-01T09:00:00"),  # a tie on event_time:
        row("b", "8.00", status="placed", at="2026-03-01T09:00:00"),  # the row hash decides
    ]
    winners = []
    for order in (rows, list(reversed(rows))):
        shutil.rmtree(load.lake / "silver", ignore_errors=True)
        load.land(D1, order)
        code, record = load.run(D1)
        assert code == 0 and record["details"]["duplicates_in_source"] == 3
        winners.append(sorted((r.order_id, str(r.amount)) for r in load.silver(spark).collect()))
    assert winners[0] == winners[1]
    assert winners[0][0] == ("a", "3.00")


# ---------------------------------------------------------------- sources


def test_bad_rows_go_to_the_load_quarantine_and_the_rest_lands(spark, load):
    load.land(
        D1,
        [
            row("a"),
            row("b", amount="lots"),
            {"amount": "1.00", "event_time": "2026-03-01T10:00:00"},
            "{not json",
            row("c", at="2026-02-28T23:59:59"),
        ],
    )
    code, record = load.run(D1)
    assert code == 0 and ids(load.silver(spark)) == ["a"]
    q = {r.reason: r for r in load.quarantine(spark).collect()}
    assert set(q) == {"wrong_type", "missing_field", "malformed_json", "outside_date"}
    assert "amount" in q["wrong_type"].detail and '"lots"' in q["wrong_type"].record
    assert record["rows_quarantined"] == 4
    versions = DeltaTable.forPath(spark, str(load.lake / "quarantine" / "orders_loads")).history()
    before = versions.count()
    load.run(D1)  # the same rejects again: no new quarantine commit, no added rows
    assert load.quarantine(spark).count() == 4
    quarantine = DeltaTable.forPath(spark, str(load.lake / "quarantine" / "orders_loads"))
    assert quarantine.history().count() == before
    load.land(D1, [row("a"), row("b", amount="lots")])
    load.run(D1)  # different rejects: the date's rows are replaced, never added to
    assert [r.reason for r in load.quarantine(spark).collect()] == ["wrong_type"]


def test_csv_and_parquet_sources_are_typed_the_same_way(spark, load, tmp_path):
    load.configure(files={"format": "csv"})
    folder = load.lake / "landing" / "orders" / "date=2026-03-01"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(
        "order_id,amount,status,event_time\n"
        "a,10.00,placed,2026-03-01 10:00:00\n"
        "b,ten,placed,2026-03-01 11:00:00\n"
    )
    code, record = load.run(D1)
    assert code == 0 and ids(load.silver(spark)) == ["a"]
    assert record["details"]["quarantined_by_reason"] == {"wrong_type": 1}

    load.configure(files={"format": "parquet"})
    shutil.rmtree(folder)
    spark.createDataFrame(
        [("p", 5, "paid", datetime(2026, 3, 1, 8))],
        "order_id string, amount int, status string, event_time timestamp",
    ).write.parquet(str(folder))
    code, record = load.run(D1)
    assert code == 0 and "p" in ids(load.silver(spark))
    assert str(load.silver(spark).where("order_id = 'p'").first().amount) == "5.00"


def test_bronze_source_loads_only_that_dates_partition(spark, load):
    load.configure(bronze={"table": "bronze.orders"})
    schema = bronze_schema(parse_columns(pipeline_yaml()["schema"]), "event_date")
    seen = datetime(2026, 3, 2, 12)
    rows = [
        ("a", Decimal("1.00"), "placed", datetime(2026, 3, 1, 10), D1, "o", 0, 0, seen, seen),
        ("b", Decimal("2.00"), "placed", datetime(2026, 3, 2, 10), D2, "o", 0, 1, seen, seen),
    ]
    spark.createDataFrame(rows, schema).write.format("delta").partitionBy("event_date").save(
        str(load.lake / "bronze" / "orders")
    )
    code, record = load.run(D1)
    assert code == 0 and record["details"]["source_kind"] == "bronze"
    assert ids(load.silver(spark)) == ["a"]


# ---------------------------------------------------------------- bad input


def test_missing_source_fails_with_1_or_skips_by_config(spark, load):
    code, record = load.run(D1)
    assert code == 1 and "date=2026-03-01 is missing or empty" in record["error_message"]
    assert not Path(load.silver_path).exists()
    load.configure(silver={"on_missing_source": "skip"})
    code, record = load.run(D1)
    assert code == 0 and record["status"] == "skipped"
    assert not Path(load.silver_path).exists()


@pytest.mark.parametrize("text", ["2026-02-30", "2026-3-1", "yesterday", "2026-03-01T00:00"])
def test_a_date_that_is_not_a_real_iso_date_exits_2(load, text):
    load.land(D1, [row("a")])
    code, record = load.run(text)
    assert code == 2 and "YYYY-MM-DD" in record["error_message"]
    assert not Path(load.silver_path).exists()


def test_new_source_columns_exit_2_unless_schema_evolution(spark, load):
    load.land(D1, [row("a")])
    load.run(D1)
    version = load.version(spark)
    load.land(D1, [row("a"), row("b", channel="web")])
    code, record = load.run(D1)
    assert code == 2 and "columns not in the pipeline schema: channel" in record["error_message"]
    assert load.version(spark) == version and ids(load.silver(spark)) == ["a"]

    load.configure(silver={"schema_evolution": True})
    code, record = load.run(D1)
    assert code == 0 and record["details"]["new_columns"] == ["channel"]
    got = {r.order_id: r.channel for r in load.silver(spark).collect()}
    assert got == {"a": None, "b": "web"}


def test_a_type_change_exits_2_and_writes_nothing(spark, load):
    load.land(D1, [row("a")])
    load.run(D1)
    version = load.version(spark)
    schema = "order_id STRING NOT NULL, amount DOUBLE, status STRING, event_time TIMESTAMP NOT NULL"
    load.configure(schema=schema)
    code, record = load.run(D1)
    assert code == 2 and "amount (decimal(12,2) in silver, double now)" in record["error_message"]
    assert load.version(spark) == version


@pytest.mark.parametrize(
    "override",
    [
        {"silver": {"table": "silver.orders; DROP TABLE x"}},
        {"partition_by": "event_date` = 1 OR `x"},
        {"keys": ["order_id) OR (1=1"]},
    ],
)
def test_injection_shaped_identifiers_are_refused_with_2(load, override):
    pipe = pipeline_yaml(source={"files": {"path": "landing/{date}"}})
    pipe.pop("stream")
    pipe.pop("bronze")
    pipe.update(override)
    load.conf = write_conf(load.tmp_path, pipelines={"orders": pipe})
    code, _record = load.run(D1)
    assert code == 2
    assert not (load.lake / "silver").exists()


def test_all_rows_refused_does_not_empty_the_day(spark, load):
    load.configure(silver={"mode": "replace_partition"})
    load.land(D1, [row("a")])
    load.run(D1)
    load.land(D1, ["{broken", row("b", amount="x")])
    code, record = load.run(D1)
    assert code == 1 and "not emptying the day" in record["error_message"]
    assert ids(load.silver(spark)) == ["a"]


def test_dry_run_reports_and_writes_nothing(spark, load):
    load.configure(silver={"delete_missing": True})
    load.land(D1, [row("a"), row("b"), row("c")])
    load.run(D1)
    version = load.version(spark)
    load.land(D1, [row("a"), row("b", "1.00"), row("d")])
    code, record = load.run(D1, "--dry-run")
    assert code == 0 and record["status"] == "dry_run"
    d = record["details"]
    assert (d["inserted"], d["updated"], d["deleted"], d["unchanged"]) == (1, 1, 1, 1)
    assert load.version(spark) == version
    assert not (load.lake / "quarantine").exists()


# ---------------------------------------------------------------- concurrency


def test_concurrent_runs_give_the_serial_result(spark, load):
    load.land(D1, [row(f"k{i}", f"{i}.00") for i in range(20)])
    load.land(D2, [row(f"k{i}", at="2026-03-02T10:00:00") for i in range(10)])
    serial = {}
    for day in (D1, D2):
        load.run(day)
    serial = sorted(tuple(r) for r in load.silver(spark).drop("loaded_at", "run_id").collect())
    shutil.rmtree(load.lake / "silver")
    shutil.rmtree(load.lake / "_ops", ignore_errors=True)

    codes: list[int] = []
    argv = ["--conf-dir", str(load.conf), "--pipeline", "orders", "--date"]
    threads = [
        threading.Thread(target=lambda d=d: codes.append(batch_load.main([*argv, d])))
        for d in ("2026-03-01", "2026-03-01", "2026-03-02", "2026-03-01")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.capsys.readouterr()
    assert codes == [0, 0, 0, 0]
    got = sorted(tuple(r) for r in load.silver(spark).drop("loaded_at", "run_id").collect())
    assert got == serial


def insert_into_empty_d1(spark, load, pipeline, rows, planned_at):
    """Our load's insert-only MERGE of ``rows`` into D1, as planned (empty) at ``planned_at``."""
    from lakehouse.batch.writers import WriteTarget, commit_metadata
    from lakehouse.batch.writers.planned import insert_into_empty

    meta = commit_metadata("me", pipeline, [D1], "merge")
    valid = {D1: rows.count()}
    target = WriteTarget(spark.newSession(), load.silver_path, pipeline, (D1,), valid, meta)
    return insert_into_empty(target, rows, planned_at)


def test_dates_new_to_the_table_load_in_one_pass_and_a_rival_commit_makes_it_plan_again(
    spark, load
):
    from lakehouse.batch.prepare import silver_schema
    from lakehouse.batch.writers import PlannedOnStaleSnapshot
    from lakehouse.config import load_config

    load.land(D2, [row("x", at="2026-03-02T10:00:00")])
    assert load.run(D2)[0] == 0
    first = DeltaTable.forPath(spark, load.silver_path).history(1).first()
    metrics = first["operationMetrics"]
    # nothing of D2 was there: no change plan, one insert-only MERGE, no row rewritten
    assert first["operation"] == "MERGE" and metrics["numTargetRowsInserted"] == "1"
    assert metrics["numTargetRowsUpdated"] == "0" and metrics["numTargetFilesRemoved"] == "0"

    # our load saw D1 empty at `planned_at`; a rival then loaded D1 first
    planned_at = load.version(spark)
    load.land(D1, [row("a", "1.00"), row("b")])
    assert load.run(D1)[0] == 0
    pipeline = load_config("orders", conf_dir=str(load.conf)).pipeline
    audit = (D1, datetime(2026, 3, 2), "me")
    mine = spark.createDataFrame(
        [
            ("a", Decimal("9.00"), "placed", datetime(2026, 3, 1, 11), *audit),
            ("c", Decimal("3.00"), "placed", datetime(2026, 3, 1, 12), *audit),
        ],
        silver_schema(pipeline),
    )
    with pytest.raises(PlannedOnStaleSnapshot):
        insert_into_empty_d1(spark, load, pipeline, mine, planned_at)
    # the insert-only MERGE could not add a second `a`; the retry plans against the rival's rows
    day = load.day(spark, D1).collect()
    assert [(r.order_id, str(r.amount)) for r in day] == [
        ("a", "1.00"),
        ("b", "10.00"),
        ("c", "3.00"),
    ]


def test_rows_refused_after_typing_keep_their_exact_source_record(spark, load):
    """A typed source (parquet, declared types) keeps no record for valid rows; a row
    refused later (another date, a quality rule) gets its record rebuilt, byte for
    byte what the source held, in each date's own column order - for one date per
    load and for several in one pass, which then agree (a re-run commits nothing)."""
    from lakehouse.batch.load import load_dates
    from lakehouse.batch.source import read_source
    from lakehouse.config import load_config
    from lakehouse.core.columns import RECORD

    load.configure(
        files={"format": "parquet"},
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"}],
    )
    layouts = {  # the same declared types, in another column order on D2
        D1: ("order_id string, amount decimal(12,2), status string, event_time timestamp"),
        D2: ("status string, event_time timestamp, order_id string, amount decimal(12,2)"),
    }
    for day, rows in {
        D1: [("a", "5.00", datetime(2026, 3, 1, 8)), ("neg", "-1.50", datetime(2026, 3, 1, 9))],
        D2: [("b", "7.00", datetime(2026, 3, 2, 8)), ("early", "2.00", datetime(2026, 3, 1, 23))],
    }.items():
        values = {"order_id": None, "amount": None, "status": "paid", "event_time": None}
        data = []
        for i, a, t in rows:
            values.update(order_id=i, amount=Decimal(a), event_time=t)
            data.append(tuple(values[c.split()[0]] for c in layouts[day].split(", ")))
        folder = load.lake / "landing" / "orders" / f"date={day.isoformat()}"
        spark.createDataFrame(data, layouts[day]).write.parquet(str(folder))
    expected = {
        "neg": '{"order_id":"neg","amount":-1.50,"status":"paid",'
        '"event_time":"2026-03-01T09:00:00.000Z"}',
        "early": '{"status":"paid","event_time":"2026-03-01T23:00:00.000Z",'
        '"order_id":"early","amount":2.00}',
    }
    cfg = load_config("orders", conf_dir=str(load.conf))
    frame = read_source(spark, cfg.settings, cfg.pipeline, D2, "files")
    assert frame.record_columns == ["status", "event_time", "order_id", "amount"]
    assert frame.df.where(F.col(RECORD).isNotNull()).count() == 0  # nothing kept per row

    def records() -> dict[str, str]:
        rows = load.quarantine(spark).collect()
        return {json.loads(r.record)["order_id"]: r.record for r in rows}

    assert load.run(D1)[0] == 0 and load.run(D2)[0] == 0  # one date per load
    assert records() == expected
    assert ids(load.silver(spark)) == ["a", "b"]
    quarantine = DeltaTable.forPath(spark, str(load.lake / "quarantine" / "orders_loads"))
    commits = quarantine.history().count()
    done = load_dates(spark, cfg.settings, cfg.pipeline, [D1, D2], {D1: "r1", D2: "r2"})
    assert all(not isinstance(v, BaseException) for v in done.values())
    assert quarantine.history().count() == commits  # both dates in one pass: the same rejects
    shutil.rmtree(load.lake / "quarantine")
    load_dates(spark, cfg.settings, cfg.pipeline, [D1, D2], {D1: "r1", D2: "r2"})
    assert records() == expected
    by_run = {json.loads(r.record)["order_id"]: r.run_id for r in load.quarantine(spark).collect()}
    assert by_run == {"neg": "r1", "early": "r2"}


def test_a_rival_commit_is_seen_however_many_commits_came_after_it(spark, load):
    from lakehouse.batch.prepare import silver_schema
    from lakehouse.batch.writers import PlannedOnStaleSnapshot, commit_metadata
    from lakehouse.config import load_config

    load.land(D2, [row("x", at="2026-03-02T10:00:00")])
    assert load.run(D2)[0] == 0
    planned_at = load.version(spark)
    load.land(D1, [row("a", "1.00")])
    assert load.run(D1)[0] == 0  # the rival's commit on D1
    pipeline = load_config("orders", conf_dir=str(load.conf)).pipeline
    # then more than 20 commits of this pipeline's loads of another date
    theirs = commit_metadata("other", pipeline, [date(2026, 3, 9)], "merge")
    d9 = (date(2026, 3, 9), datetime(2026, 3, 9), "other")
    for i in range(21):
        one = spark.createDataFrame(
            [(f"z{i}", Decimal("1.00"), "placed", datetime(2026, 3, 9, 10), *d9)],
            silver_schema(pipeline),
        )
        one.write.format("delta").mode("append").option("userMetadata", theirs).save(
            load.silver_path
        )
    recent = DeltaTable.forPath(spark, load.silver_path).history(21).collect()
    assert {r["userMetadata"] for r in recent} == {theirs}  # the rival is 22 commits back
    audit = (D1, datetime(2026, 3, 2), "me")
    mine = spark.createDataFrame(
        [("c", Decimal("3.00"), "placed", datetime(2026, 3, 1, 12), *audit)],
        silver_schema(pipeline),
    )
    with pytest.raises(PlannedOnStaleSnapshot):
        insert_into_empty_d1(spark, load, pipeline, mine, planned_at)


def test_maintenance_commits_between_plan_and_merge_leave_the_plan_standing(spark, load):
    """OPTIMIZE and property commits change no row: a load planned before them goes on."""
    from lakehouse.batch.prepare import silver_schema
    from lakehouse.batch.writers import commit_metadata
    from lakehouse.config import load_config

    load.land(D2, [row("x", at="2026-03-02T10:00:00")])
    assert load.run(D2)[0] == 0
    pipeline = load_config("orders", conf_dir=str(load.conf)).pipeline
    theirs = commit_metadata("other", pipeline, [date(2026, 3, 9)], "merge")
    d9 = (date(2026, 3, 9), datetime(2026, 3, 9), "other")
    for i in range(2):  # two files of another day, for OPTIMIZE to compact
        one = spark.createDataFrame(
            [(f"z{i}", Decimal("1.00"), "placed", datetime(2026, 3, 9, 10), *d9)],
            silver_schema(pipeline),
        )
        one.write.format("delta").mode("append").option("userMetadata", theirs).save(
            load.silver_path
        )
    planned_at = load.version(spark)
    table = DeltaTable.forPath(spark, load.silver_path)
    table.optimize().executeCompaction()
    spark.sql(
        f"ALTER TABLE delta.`{load.silver_path}` "
        "SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 30 days')"
    )
    upkeep = [r["operation"] for r in table.history(2).collect()]
    assert sorted(upkeep) == ["OPTIMIZE", "SET TBLPROPERTIES"]
    audit = (D1, datetime(2026, 3, 2), "me")
    mine = spark.createDataFrame(
        [("c", Decimal("3.00"), "placed", datetime(2026, 3, 1, 12), *audit)],
        silver_schema(pipeline),
    )
    insert_into_empty_d1(spark, load, pipeline, mine, planned_at)  # no PlannedOnStaleSnapshot
    assert [r.order_id for r in load.day(spark, D1).collect()] == ["c"]


def test_counts_after_a_re_plan_describe_the_whole_load(spark, load, monkeypatch):
    import lakehouse.batch.writers.planned as planned
    from lakehouse.batch.prepare import silver_schema
    from lakehouse.config import load_config

    load.land(D2, [row("x", at="2026-03-02T10:00:00")])
    assert load.run(D2)[0] == 0
    pipeline = load_config("orders", conf_dir=str(load.conf)).pipeline
    real = planned.execute_merge
    rival_done = []

    def rival_first(target, builder, **kwargs):
        if not rival_done:  # a rival loads a of D1 between our plan and our MERGE
            rival_done.append(True)
            audit = (D1, datetime(2026, 3, 2), "rival")
            spark.createDataFrame(
                [("a", Decimal("1.00"), "placed", datetime(2026, 3, 1, 10), *audit)],
                silver_schema(pipeline),
            ).write.format("delta").mode("append").save(load.silver_path)
        return real(target, builder, **kwargs)

    monkeypatch.setattr(planned, "execute_merge", rival_first)
    load.land(D1, [row("a", "9.00"), row("c", "3.00", at="2026-03-01T12:00:00")])

    code, record = load.run(D1)

    assert code == 0
    d = record["details"]
    # attempt 1 inserted c (a was the rival's), then planned again: a updated, c its own
    assert (d["inserted"], d["updated"], d["unchanged"], d["attempts"]) == (1, 1, 0, 2)
    assert d["replanned_commits"] == [{"inserted": 1, "updated": 0, "deleted": 0}]
    assert [(r.order_id, str(r.amount)) for r in load.day(spark, D1).collect()] == [
        ("a", "9.00"),
        ("c", "3.00"),
    ]

"""maintain: closed days compacted, old files vacuumed, retention set, and freshness not fooled."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.jobs import maintain
from lakehouse.ops.freshness import measure
from tests.harness.builders import pipeline_yaml, write_conf

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
# closed_after 2d at 03-05 12:00: days before 03-03 are closed, 03-03 is open
NOW = "2026-03-05T12:00:00Z"
DAY_ADDED = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)


class Lake:
    """A pipeline with bronze and silver tables on a temp lake; maintain runs in-process."""

    def __init__(self, tmp_path: Path, capsys, monkeypatch):
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.lake = tmp_path / "lake"
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(self.lake))
        self.configure()

    def configure(self, **maintenance) -> None:
        pipe = pipeline_yaml(maintenance=maintenance) if maintenance else pipeline_yaml()
        shutil.rmtree(self.tmp_path / "conf", ignore_errors=True)
        self.conf = write_conf(self.tmp_path, pipelines={"orders": pipe})

    def path(self, table: str) -> str:
        return str(self.lake / table.replace(".", "/"))

    def append(self, spark, table: str, days: list[date], batches: int, per_day: int = 3) -> None:
        """``batches`` appends, each with ``per_day`` rows of every day: a file per day each."""
        for b in range(batches):
            rows = [
                (f"{d.isoformat()}-{b}-{i}", float(i), "paid", d)
                for d in days
                for i in range(per_day)
            ]
            df = spark.createDataFrame(
                rows, "order_id STRING, amount DOUBLE, status STRING, d DATE"
            )
            df = df.withColumn("event_time", F.to_timestamp(F.col("d"))).withColumnRenamed(
                "d", "event_date"
            )
            df.repartition(1).write.format("delta").mode("append").partitionBy("event_date").save(
                self.path(table)
            )

    def run(self, *args: str) -> tuple[int, dict]:
        code = maintain.main(["--conf-dir", str(self.conf), *args])
        out = self.capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1])

    def files_per_day(self, spark, table: str) -> dict[date, int]:
        df = spark.read.format("delta").load(self.path(table))
        rows = (
            df.groupBy("event_date")
            .agg(F.countDistinct(F.col("_metadata.file_path")).alias("n"))
            .collect()
        )
        return {r["event_date"]: r["n"] for r in rows}

    def version(self, spark, table: str) -> int:
        return DeltaTable.forPath(spark, self.path(table)).history(1).first()["version"]


@pytest.fixture
def lake(tmp_path, capsys, monkeypatch):
    return Lake(tmp_path, capsys, monkeypatch)


def rows_of(spark, path: str) -> list[tuple]:
    df = spark.read.format("delta").load(path)
    return sorted(tuple(r) for r in df.select("order_id", "amount", "event_date").collect())


def test_only_closed_days_are_compacted_and_a_second_run_commits_nothing(spark, lake):
    lake.append(spark, "bronze.orders", [D1, D2, D3], batches=4)
    before = rows_of(spark, lake.path("bronze.orders"))
    assert lake.files_per_day(spark, "bronze.orders") == {D1: 4, D2: 4, D3: 4}

    code, record = lake.run("--pipeline", "orders", "--now", NOW)
    assert code == 0 and record["status"] == "success", record
    # the open day (still written by the stream) is left as it is
    assert lake.files_per_day(spark, "bronze.orders") == {D1: 1, D2: 1, D3: 4}
    assert rows_of(spark, lake.path("bronze.orders")) == before
    done = record["details"]["pipelines"]["orders"]["tables"]["bronze.orders"]
    assert done["closed_before"] == "2026-03-03"
    assert done["optimized"] == {"partitions": 2, "files_removed": 8, "files_added": 2}
    assert done["files_before"] == 12 and done["files_after"] == 6
    assert done["properties_set"] == [
        "delta.checkpointRetentionDuration",
        "delta.deletedFileRetentionDuration",
        "delta.logRetentionDuration",
    ]
    props = DeltaTable.forPath(spark, lake.path("bronze.orders")).detail().first()["properties"]
    assert props["delta.logRetentionDuration"] == "interval 30 days"
    assert props["delta.deletedFileRetentionDuration"] == "interval 7 days"
    # readers of the compacted table start from a checkpoint of it, not of the small files
    last = json.loads(
        (Path(lake.path("bronze.orders")) / "_delta_log" / "_last_checkpoint").read_text()
    )
    assert last["version"] == lake.version(spark, "bronze.orders") == done["checkpoint_version"]
    # tables not there yet are named, not created
    assert "skipped" in record["details"]["pipelines"]["orders"]["tables"]["silver.orders"]
    assert not Path(lake.path("silver.orders")).exists()

    version = lake.version(spark, "bronze.orders")
    code, record = lake.run("--pipeline", "orders", "--now", NOW)
    assert code == 0
    assert lake.version(spark, "bronze.orders") == version  # nothing to compact: no commit
    again = record["details"]["pipelines"]["orders"]["tables"]["bronze.orders"]
    assert again["optimized"]["files_removed"] == 0 and again["properties_set"] == []
    assert "checkpoint_version" not in again  # nothing changed: nothing written


def test_a_dry_run_reports_and_writes_nothing(spark, lake):
    lake.append(spark, "bronze.orders", [D1, D3], batches=3)
    version = lake.version(spark, "bronze.orders")
    code, record = lake.run("--pipeline", "orders", "--now", NOW, "--dry-run")
    assert code == 0 and record["status"] == "dry_run"
    done = record["details"]["pipelines"]["orders"]["tables"]["bronze.orders"]
    assert done["would_compact"] == {"partitions": 1, "files": 3}
    assert "delta.logRetentionDuration" in done["would_set"]
    assert lake.version(spark, "bronze.orders") == version
    assert lake.files_per_day(spark, "bronze.orders") == {D1: 3, D3: 3}
    assert not (Path(lake.path("bronze.orders")) / "_delta_log" / "_last_checkpoint").exists()


def test_zorder_touches_each_closed_day_once(spark, lake):
    lake.configure(zorder_by={"silver.orders": ["order_id"]})
    lake.append(spark, "silver.orders", [D1, D2, D3], batches=2)
    code, record = lake.run("--pipeline", "orders", "--now", "2026-03-04T12:00:00Z")
    first = record["details"]["pipelines"]["orders"]["tables"]["silver.orders"]
    assert code == 0 and first["zorder_by"] == ["order_id"]
    assert first["optimized"]["partitions"] == 1  # only 03-01 is closed at 03-04 12:00
    lake.append(spark, "silver.orders", [D1, D2], batches=1)  # a late file into 03-01 as well

    code, record = lake.run("--pipeline", "orders", "--now", NOW)
    second = record["details"]["pipelines"]["orders"]["tables"]["silver.orders"]
    # 03-02 closed since the last run and is Z-ordered; 03-01, done before, is not again
    assert code == 0 and second["optimized"]["partitions"] == 1
    assert lake.files_per_day(spark, "silver.orders") == {D1: 2, D2: 1, D3: 2}

    code, record = lake.run("--pipeline", "orders", "--now", NOW, "--full")
    full = record["details"]["pipelines"]["orders"]["tables"]["silver.orders"]
    assert code == 0 and full["optimized"]["partitions"] == 2
    assert lake.files_per_day(spark, "silver.orders") == {D1: 1, D2: 1, D3: 2}


def test_vacuum_deletes_only_files_unreferenced_for_longer_than_the_retention(spark, lake):
    lake.append(spark, "bronze.orders", [D1, D3], batches=3)
    folder = Path(lake.path("bronze.orders")) / "event_date=2026-03-03"
    stray_old, stray_new = folder / "part-stray-old.parquet", folder / "part-stray-new.parquet"
    template = next(folder.glob("*.parquet"))
    for stray in (stray_old, stray_new):
        shutil.copy(template, stray)  # files of a write that never committed
    eight_days_ago = time.time() - 8 * 86400
    os.utime(stray_old, (eight_days_ago, eight_days_ago))

    code, record = lake.run("--pipeline", "orders", "--now", NOW)
    assert code == 0
    done = record["details"]["pipelines"]["orders"]["tables"]["bronze.orders"]
    assert done["vacuumed_files"] == 1
    assert not stray_old.exists() and stray_new.exists()
    # the small files the compaction replaced stay for time travel within the retention
    old = spark.read.format("delta").option("versionAsOf", 2).load(lake.path("bronze.orders"))
    assert old.count() == 3 * 2 * 3


def backdate_log(path: str, to: datetime) -> None:
    """Make every commit so far look made at ``to`` (Delta dates commits by file time)."""
    for i, entry in enumerate(sorted((Path(path) / "_delta_log").glob("*.json"))):
        at = to.timestamp() + i
        os.utime(entry, (at, at))


def test_a_stale_table_stays_stale_after_maintain(spark, lake):
    lake.append(spark, "bronze.orders", [D1, D2], batches=3)
    backdate_log(lake.path("bronze.orders"), DAY_ADDED)
    code, _ = lake.run("--pipeline", "orders", "--now", NOW)  # an OPTIMIZE commit, now
    assert code == 0
    history = DeltaTable.forPath(spark, lake.path("bronze.orders")).history(1).first()
    assert history["operation"] == "OPTIMIZE"

    config = load_config("orders", conf_dir=str(lake.conf))
    from lakehouse.config.model import Freshness
    from lakehouse.core.durations import Duration

    fresh = Freshness(from_="commit", warn_after=Duration.parse("15m"))
    now = datetime.now(timezone.utc)
    result = measure(spark, config.settings, config.pipeline, "bronze.orders", fresh, now)
    assert result.observed == DAY_ADDED + timedelta(seconds=2)  # the last data commit
    assert result.level == "warn"


@pytest.mark.parametrize(
    ("maintenance", "sla", "message"),
    [
        (
            {"vacuum_retention": "2h"},
            {},
            "maintenance.vacuum_retention: 2h is shorter than maintenance.longest_job (6h)",
        ),
        (
            {"vacuum_retention": "1d", "longest_job": "1h", "stream_downtime": "1h"},
            {"batch_load": {"max_duration": "30h"}},
            "1d is shorter than sla.batch_load.max_duration (30h)",
        ),
        (
            {"vacuum_retention": "10d", "stream_downtime": "14d"},
            {},
            "shorter than maintenance.stream_downtime (14d)",
        ),
        ({"log_retention": "3d"}, {}, "maintenance.log_retention: 3d is shorter than"),
        ({"closed_after": "1h"}, {}, "maintenance.closed_after: 1h is not longer than"),
        ({"zorder_by": {"silver.orders": ["nope"]}}, {}, "'nope' is not a column"),
        ({"zorder_by": {"gold.x": ["amount"]}}, {}, "not a table of this pipeline"),
        ({"zorder_by": {"bronze.orders": ["event_date"]}}, {}, "is the partition column"),
    ],
)
def test_unsafe_maintenance_settings_exit_2_before_anything_is_written(
    spark, lake, capsys, maintenance, sla, message
):
    pipe = pipeline_yaml(maintenance=maintenance, sla=sla)
    shutil.rmtree(lake.tmp_path / "conf")
    lake.conf = write_conf(lake.tmp_path, pipelines={"orders": pipe})
    code = maintain.main(["--conf-dir", str(lake.conf), "--pipeline", "orders"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert not (lake.lake / "_ops").exists()

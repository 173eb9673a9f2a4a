"""The session builder gives a Delta-enabled session: write, MERGE and read for real."""

from __future__ import annotations

from datetime import date

from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.lake.session import app_name, spark_conf

SCHEMA = "order_id STRING NOT NULL, amount INT, event_date DATE"


def test_session_runs_with_delta_and_utc(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert app_name("batch_load", "orders") == "lakehouse-jobs:batch_load:orders"


def test_spark_conf_carries_delta_jars_and_user_settings_last(settings):
    conf = spark_conf(settings)
    jars = conf["spark.jars"].split(",")
    assert any("delta-spark_4.2_2.13" in j for j in jars)
    assert any("spark-sql-kafka-0-10_2.13" in j for j in jars)
    assert conf["spark.sql.shuffle.partitions"] == "1"  # from the (test) config


def test_packages_mode_passes_coordinates_instead_of_files(settings):
    import dataclasses

    packaged = dataclasses.replace(
        settings,
        spark=dataclasses.replace(
            settings.spark, jars="packages", repositories=("https://mirror.example/maven2",)
        ),
    )
    conf = spark_conf(packaged)
    # only the project's own small jar travels as a file; the rest by coordinates
    assert [j.rsplit("/", 1)[-1] for j in conf["spark.jars"].split(",")] == ["lakehouse-jvm.jar"]
    assert conf["spark.jars.packages"].startswith("io.delta:delta-spark_4.2_2.13:")
    assert conf["spark.jars.repositories"] == "https://mirror.example/maven2"


def test_delta_write_merge_read_round_trip(spark, settings):
    path = settings.table_path("silver.orders")
    (
        spark.createDataFrame(
            [
                ("o1", 10, date(2026, 11, 1)),
                ("o2", 20, date(2026, 11, 1)),
                ("o3", None, date(2026, 11, 2)),
            ],
            SCHEMA,
        )
        .write.format("delta")
        .partitionBy("event_date")
        .save(path)
    )
    updates = spark.createDataFrame(
        [("o2", 25, date(2026, 11, 1)), ("o4", 40, date(2026, 11, 1))], SCHEMA
    )
    day = date(2026, 11, 1)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(
            updates.alias("s"),
            (F.col("t.order_id") == F.col("s.order_id")) & (F.col("t.event_date") == F.lit(day)),
        )
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    expected = spark.createDataFrame(
        [("o1", 10, day), ("o2", 25, day), ("o3", None, date(2026, 11, 2)), ("o4", 40, day)],
        SCHEMA,
    )
    actual = spark.read.format("delta").load(path)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    history = DeltaTable.forPath(spark, path).history().select("operation").collect()
    assert [r.operation for r in history] == ["MERGE", "WRITE"]


def test_merge_of_an_empty_source_changes_nothing(spark, settings):
    path = settings.table_path("silver.empty")
    spark.createDataFrame([("o1", 1, date(2026, 1, 1))], SCHEMA).write.format("delta").save(path)
    empty = spark.createDataFrame([], SCHEMA)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(empty.alias("s"), "t.order_id = s.order_id")
        .whenNotMatchedInsertAll()
        .execute()
    )
    assert [tuple(r) for r in spark.read.format("delta").load(path).collect()] == [
        ("o1", 1, date(2026, 1, 1))
    ]


def test_a_materialized_merge_source_is_computed_once(spark, tmp_path):
    """Delta's MERGE does not read a cached plan that holds ``current_timestamp()``
    (as every load's audit column does; delta-io/delta#2011): such a persisted
    source is computed again by the MERGE. A materialized one is not."""
    import pytest
    from pyspark.sql import types as T

    from lakehouse.lake.delta_io import materialize, release

    calls = spark.sparkContext.accumulator(0)

    def traced(x):
        calls.add(1)
        return x

    traced_udf = F.udf(traced, T.LongType())
    path = str(tmp_path / "t")
    spark.range(0).select("id", F.current_timestamp().alias("at")).write.format("delta").save(path)

    def merge(source) -> None:
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source.alias("s"), "t.id = s.id")
            .whenNotMatchedInsertAll()
            .execute()
        )

    def source(first: int):
        return spark.range(first, first + 20).select(
            traced_udf("id").alias("id"), F.current_timestamp().alias("at")
        )

    cached = source(0).persist()
    assert cached.count() == 20 and calls.value == 20
    merge(cached)
    assert calls.value > 20  # the cache was not used: the very trap materialize avoids
    cached.unpersist()

    calls.value = 0
    held = materialize(source(20))
    assert calls.value == 20
    merge(held)
    assert held.count() == 20
    assert calls.value == 20  # neither the MERGE nor the count computed it again
    assert spark.read.format("delta").load(path).count() == 40
    release(held)
    with pytest.raises(Exception, match="CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND"):
        held.count()  # released: the rows are gone, and the error says so


def test_settings_the_command_line_gave_are_not_put_back(spark, settings, monkeypatch):
    """Under spark-submit, keys in LAKEHOUSE_CONF_OVERRIDES keep spark-submit's value."""
    import dataclasses

    from lakehouse.lake.session import OVERRIDES_ENV, build_session

    key = "spark.sql.shuffle.partitions"
    before = spark.conf.get(key)
    env_file = dataclasses.replace(
        settings, spark=dataclasses.replace(settings.spark, conf={key: "7"})
    )
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "0")  # as under spark-submit
    try:
        spark.conf.set(key, "3")  # what spark-submit --conf set
        monkeypatch.setenv(OVERRIDES_ENV, f"spark.other.key,{key}")
        assert build_session(env_file, "tests").conf.get(key) == "3"
        monkeypatch.delenv(OVERRIDES_ENV)
        assert build_session(env_file, "tests").conf.get(key) == "7"  # the env file's, as before
    finally:
        spark.conf.set(key, before)


def test_the_backfill_pools_are_declared(spark):
    """FAIR mode gets the package's pool file: no 'pool has not been configured' warning."""
    from lakehouse.batch.backfill import scheduler_pool
    from lakehouse.lake.session import FAIR_POOLS

    assert spark.sparkContext.getConf().get("spark.scheduler.mode") == "FAIR"
    sc = spark.sparkContext._jsc.sc()
    for thread in ("backfill_0", f"backfill_{FAIR_POOLS - 1}", f"backfill_{FAIR_POOLS + 5}"):
        assert sc.getPoolForName(scheduler_pool(thread)).isDefined(), thread
    assert scheduler_pool(f"backfill_{FAIR_POOLS + 5}") == "backfill_5"


def test_a_creation_killed_before_its_first_commit_does_not_block_the_table(spark, tmp_path):
    """kill -9 during createIfNotExists leaves ``_delta_log/_staged_commits/`` and no
    commit; Delta then calls the table missing and refuses to create it, on every
    later run. ensure_table removes such an empty log and creates the table."""
    from pyspark.sql import types as T

    from lakehouse.lake.delta_io import ensure_table

    path = tmp_path / "t"
    (path / "_delta_log" / "_staged_commits").mkdir(parents=True)
    ensure_table(spark, str(path), T.StructType([T.StructField("id", T.LongType())]))
    assert DeltaTable.isDeltaTable(spark, str(path))
    assert spark.read.format("delta").load(str(path)).schema.simpleString() == "struct<id:bigint>"


def test_a_log_with_any_file_in_it_is_never_pruned(tmp_path):
    from lakehouse.lake.delta_io import prune_empty_log

    other = tmp_path / "u" / "_delta_log"
    other.mkdir(parents=True)
    (other / "stray.crc").write_text("x")
    assert not prune_empty_log(str(tmp_path / "u")) and (other / "stray.crc").exists()

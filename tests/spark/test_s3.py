"""Delta tables on a real S3-compatible server (S3Proxy, scripts/s3.sh), and commits that stay
whole when several Spark applications write one table.

Without the project's LogStore, Delta's S3 store checks "does N.json exist?"
inside one JVM only; two applications that both pass that check both write
N.json and the later PUT replaces the earlier commit. The gated test makes
that interleaving happen every time (a second application is held between its
check and its PUT while this one commits), instead of hoping for a race.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from py4j.protocol import Py4JJavaError

from tests.harness.appender import append_from_two_applications
from tests.harness.env import spawn_python

DELTA_S3_STORE = "io.delta.storage.S3SingleDriverLogStore"
OUR_STORE = "lakehouse.delta.ConditionalPutLogStore"


def _hpath(spark, path: str):
    return spark._jvm.org.apache.hadoop.fs.Path(path)


def _store(spark, class_name: str):
    cls = spark._jvm
    for part in class_name.split("."):
        cls = getattr(cls, part)
    return cls(spark._jsc.hadoopConfiguration())


def _write(spark, store, path: str, lines: list[str]) -> None:
    items = spark._jvm.java.util.ArrayList()
    for line in lines:
        items.add(line)
    store.write(_hpath(spark, path), items.iterator(), False, spark._jsc.hadoopConfiguration())


def _read(spark, path: str) -> str:
    from lakehouse.lake import fs

    return fs.read_text(spark, path)


def test_delta_table_round_trip_commits_through_the_conditional_store(spark, s3_settings):
    store_class = spark._jvm.lakehouse.delta.ConditionalPutLogStore
    before = store_class.publishedCount()
    path = s3_settings.table_path("bronze.numbers")
    spark.range(5).write.format("delta").save(path)
    spark.range(5, 8).write.format("delta").mode("append").save(path)
    assert sorted(r.id for r in spark.read.format("delta").load(path).collect()) == list(range(8))
    assert store_class.publishedCount() - before == 2
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    assert [r.version for r in history] == [1, 0]


def test_a_taken_version_is_refused_and_left_as_it_was(spark, s3_settings):
    store = _store(spark, OUR_STORE)
    log = s3_settings.path("t", "_delta_log", f"{0:020d}.json")
    _write(spark, store, log, ['{"a":1}', '{"b":2}'])
    with pytest.raises(Py4JJavaError, match="FileAlreadyExistsException"):
        _write(spark, store, log, ['{"c":3}'])
    assert _read(spark, log) == '{"a":1}\n{"b":2}'


def test_small_files_are_replaced_in_one_put_with_nothing_left_beside_them(spark, s3_settings):
    from lakehouse.lake import fs

    marker = s3_settings.path("_checkpoints", "orders", "marker.json")
    fs.write_text(spark, marker, '{"v":1}')
    fs.write_text(spark, marker, '{"v":2}')
    assert fs.read_text(spark, marker) == '{"v":2}'
    assert fs.list_names(spark, s3_settings.path("_checkpoints", "orders")) == ["marker.json"]


def test_racing_conditional_puts_have_exactly_one_winner(spark, s3_settings):
    """Eight writers race for the same version, ten times: the server keeps one, refuses seven."""
    for version in range(10):
        log = s3_settings.path("race", "_delta_log", f"{version:020d}.json")
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def race(n: int, log=log, outcomes=outcomes, barrier=barrier) -> None:
            store = _store(spark, OUR_STORE)
            barrier.wait()
            try:
                _write(spark, store, log, [f"writer {n}"])
                outcomes.append(f"writer {n}")
            except Py4JJavaError as exc:
                outcomes.append("refused" if "FileAlreadyExists" in str(exc) else str(exc))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [o for o in outcomes if o.startswith("writer")]
        assert len(winners) == 1 and outcomes.count("refused") == 7, outcomes
        assert _read(spark, log) == winners[0]


def _gated_commit(spark, s3_settings, store_class: str, tmp_path: Path) -> tuple[str, str]:
    """Another application checks version 0 is free, is held; this one commits version 0
    through the same store class; then the other goes on. Returns (its outcome, file)."""
    log = s3_settings.path("shared", "_delta_log", f"{0:020d}.json")
    sync = tmp_path / "sync"
    sync.mkdir()
    proc = spawn_python(
        "tests.harness.gated_commit", s3_settings.lake_root, store_class, log, str(sync)
    )
    try:
        deadline = time.monotonic() + 180
        while not (sync / "checked").exists():
            if proc.poll() is not None:
                pytest.fail(f"the other application died: {proc.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "the other application never reached its commit"
            time.sleep(0.05)
        _write(spark, _store(spark, store_class), log, ['{"commitInfo":{"by":"tests"}}'])
        (sync / "go").touch()
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    return out.strip().splitlines()[-1], _read(spark, log)


@pytest.mark.slow
def test_without_the_conditional_store_a_second_application_overwrites_a_commit(
    spark, s3_settings, tmp_path
):
    outcome, content = _gated_commit(spark, s3_settings, DELTA_S3_STORE, tmp_path)
    # both applications were told their version 0 was committed; only one survives
    assert outcome == "published"
    assert content.strip() == '{"commitInfo":{"by":"gated_commit"}}'  # this test's commit is gone


@pytest.mark.slow
def test_with_the_conditional_store_the_second_application_is_refused(spark, s3_settings, tmp_path):
    outcome, content = _gated_commit(spark, s3_settings, OUR_STORE, tmp_path)
    assert outcome == "refused"
    assert content == '{"commitInfo":{"by":"tests"}}'


@pytest.mark.slow
def test_two_spark_applications_appending_on_s3_lose_no_commit(spark, s3_settings, tmp_path):
    counts = append_from_two_applications(spark, s3_settings, "t.shared", 10, tmp_path / "sync")
    assert counts == {"init": 1, "app0": 10, "app1": 10}
    path = s3_settings.table_path("t.shared")
    versions = [r.version for r in spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()]
    assert sorted(versions) == list(range(21))  # every commit its own version, none replaced


def test_a_creation_killed_on_s3_before_its_first_commit_does_not_block_the_table(
    spark, s3_settings
):
    """kill -9 during createIfNotExists on S3 leaves the folder markers of
    ``_delta_log/_staged_commits/`` and no commit (seen in the stream chaos test);
    Delta then calls the table missing and refuses to create it on every later run.
    Only the empty markers are removed (never an object with content)."""
    from delta.tables import DeltaTable
    from pyspark.sql import types as T

    from lakehouse.lake.delta_io import ensure_table, prune_empty_log

    path = s3_settings.path("t")
    staged = _hpath(spark, f"{path}/_delta_log/_staged_commits")
    fs = staged.getFileSystem(spark._jsc.hadoopConfiguration())
    fs.mkdirs(staged)
    ensure_table(spark, path, T.StructType([T.StructField("id", T.LongType())]))
    assert DeltaTable.isDeltaTable(spark, path)

    other = s3_settings.path("u")
    stray = _hpath(spark, f"{other}/_delta_log/stray.crc")
    fs.create(stray).close()
    assert not prune_empty_log(other, spark) and fs.exists(stray)


def test_the_ledger_on_s3_is_read_without_a_jvm(spark, s3_settings):
    """delta-rs reaches the s3a:// lake with the settings S3A uses (endpoint, path style, keys)."""
    from datetime import datetime, timedelta, timezone

    from lakehouse.lake import Ledger, RunRecord, find_run_without_jvm

    t0 = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
    record = RunRecord(run_id="s3-run-1", job="batch_load", pipeline="orders", started_at=t0)
    record.finish("success", 0, ended_at=t0 + timedelta(seconds=3))
    Ledger(spark, s3_settings.ledger_path).append(record)
    found = find_run_without_jvm(s3_settings, "s3-run-1")
    assert found is not None and found.to_json() == record.to_json()
    assert find_run_without_jvm(s3_settings, "s3-run-2") is None


def test_maintains_checkpoint_on_s3_is_written_and_read_back(spark, s3_settings):
    """maintain's log checkpoint goes through the S3 store like Delta's own: _last_checkpoint
    names the latest version and a fresh read of the table starts from it."""
    import json

    from lakehouse.lake import fs
    from lakehouse.lake.upkeep import _checkpoint

    path = f"{s3_settings.lake_root}/cp"
    for i in range(3):
        spark.range(i * 5, i * 5 + 5).write.format("delta").mode("append").save(path)
    assert _checkpoint(spark, path) == 2
    last = json.loads(fs.read_text(spark, f"{path}/_delta_log/_last_checkpoint"))
    assert last["version"] == 2
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    assert spark.read.format("delta").load(path).count() == 15

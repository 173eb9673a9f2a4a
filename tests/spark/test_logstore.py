"""The project's Delta LogStore: local commits are put-if-absent, even across processes."""

from __future__ import annotations

import threading

import pytest
from py4j.protocol import Py4JJavaError

from tests.harness.appender import append_from_two_applications


def jlist(spark, items):
    out = spark._jvm.java.util.ArrayList()
    for item in items:
        out.add(item)
    return out


def new_store(spark):
    return spark._jvm.lakehouse.delta.AtomicLocalLogStore(spark._jsc.hadoopConfiguration())


def write(spark, store, path: str, lines: list[str], overwrite: bool) -> None:
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    store.write(jpath, jlist(spark, lines).iterator(), overwrite, spark._jsc.hadoopConfiguration())


def test_delta_commits_go_through_the_store(spark, settings):
    store_class = spark._jvm.lakehouse.delta.AtomicLocalLogStore
    before = store_class.publishedCount()
    spark.range(3).write.format("delta").save(settings.table_path("t.numbers"))
    assert store_class.publishedCount() > before


def test_write_publishes_whole_content_and_refuses_a_taken_name(spark, tmp_path):
    store = new_store(spark)
    target = tmp_path / "_delta_log" / "00000000000000000000.json"
    write(spark, store, f"file:{target}", ['{"a":1}', '{"b":2}'], overwrite=False)
    assert target.read_text() == '{"a":1}\n{"b":2}'
    with pytest.raises(Py4JJavaError, match="FileAlreadyExistsException"):
        write(spark, store, f"file:{target}", ['{"c":3}'], overwrite=False)
    assert target.read_text() == '{"a":1}\n{"b":2}'
    write(spark, store, str(target), ['{"d":4}'], overwrite=True)
    assert target.read_text() == '{"d":4}'
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp files left


def test_racing_writers_have_exactly_one_winner(spark, tmp_path):
    """Eight writers, each with its own store object, race for the same version, 15 times."""
    for version in range(15):
        target = tmp_path / f"{version:020d}.json"
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def race(n: int, target=target, outcomes=outcomes, barrier=barrier) -> None:
            store = new_store(spark)
            barrier.wait()
            try:
                write(spark, store, str(target), [f"writer {n}"], overwrite=False)
                outcomes.append(f"writer {n}")
            except Py4JJavaError as exc:
                outcomes.append("lost" if "FileAlreadyExists" in str(exc) else str(exc))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [o for o in outcomes if o.startswith("writer")]
        assert len(winners) == 1 and outcomes.count("lost") == 7, outcomes
        assert target.read_text() == winners[0]


@pytest.mark.slow
def test_two_spark_applications_appending_at_once_lose_no_commit(spark, settings, tmp_path):
    counts = append_from_two_applications(spark, settings, "t.shared", 12, tmp_path / "sync")
    assert counts == {"init": 1, "app0": 12, "app1": 12}

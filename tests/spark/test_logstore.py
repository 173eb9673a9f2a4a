"""The project's Delta LogStore: local commits are put-if-absent, even across processes."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from py4j.protocol import Py4JJavaError

from tests.harness.env import ROOT


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
    path = settings.table_path("t.shared")
    spark.createDataFrame([("init", 0)], "tag STRING, n INT").write.format("delta").save(path)
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "python"),
                "-m",
                "tests.harness.appender",
                settings.lake_root,
                "t.shared",
                f"app{i}",
                "12",
                str(sync),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 240
        while not all((sync / f"app{i}.ready").exists() for i in range(2)):
            assert all(p.poll() is None for p in procs), "an appender died before it was ready"
            assert time.monotonic() < deadline, "appenders did not get ready"
            time.sleep(0.05)
        (sync / "go").touch()
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-2000:]
    rows = spark.read.format("delta").load(path).groupBy("tag").count().collect()
    assert {r.tag: r["count"] for r in rows} == {"init": 1, "app0": 12, "app1": 12}

"""A separate Spark application that appends rows to one Delta table.

Run by tests as ``python -m tests.harness.appender LAKE TABLE TAG COUNT SYNC_DIR``:
it builds its own session (its own JVM) with the project's builder, prepares
its rows, writes ``SYNC_DIR/TAG.ready``, waits for ``SYNC_DIR/go`` (so that
several appenders start committing at the same moment), then makes COUNT
single-row appends tagged TAG.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.harness.env import make_settings, spawn_python


def main(lake: str, table: str, tag: str, count: str, sync_dir: str) -> None:
    from lakehouse.lake.session import build_session

    settings = make_settings(lake)
    spark = build_session(settings, "appender")
    path = settings.table_path(table)
    rows = [
        spark.createDataFrame([(tag, i)], "tag STRING, n INT").coalesce(1)
        for i in range(int(count))
    ]
    sync = Path(sync_dir)
    (sync / f"{tag}.ready").touch()
    deadline = time.monotonic() + 300
    while not (sync / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("appender: no go signal within 300s")
        time.sleep(0.005)
    for df in rows:
        df.write.format("delta").mode("append").save(path)
    spark.stop()


def append_from_two_applications(spark, settings, table: str, count: int, sync: Path) -> dict:
    """Two appender applications, released at once, each make ``count`` appends to
    ``table`` (which holds one ``init`` row first); returns the rows per tag."""
    path = settings.table_path(table)
    spark.createDataFrame([("init", 0)], "tag STRING, n INT").write.format("delta").save(path)
    sync.mkdir()
    procs = [
        spawn_python(
            "tests.harness.appender", settings.lake_root, table, f"app{i}", str(count), str(sync)
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
        results = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-2000:]
    rows = spark.read.format("delta").load(path).groupBy("tag").count().collect()
    return {r.tag: r["count"] for r in rows}


if __name__ == "__main__":
    main(*sys.argv[1:])

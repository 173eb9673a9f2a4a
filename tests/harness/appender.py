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

from tests.harness.env import make_settings


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


if __name__ == "__main__":
    main(*sys.argv[1:])

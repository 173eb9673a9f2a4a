"""A second Spark application that commits one Delta version through a LogStore, held
at the worst moment.

Run by tests as ``python -m tests.harness.gated_commit LAKE STORE_CLASS LOG_FILE SYNC_DIR``.
It builds its own session (its own JVM), then asks ``STORE_CLASS`` to write
``LOG_FILE`` (a ``_delta_log/N.json``) as a new file. The store checks that the
file does not exist yet and then reads the commit's lines; the first line is
handed over only after this process wrote ``SYNC_DIR/checked`` and found
``SYNC_DIR/go``, so the test can commit the same version from another
application in exactly that gap. Prints ``published`` or ``refused`` (the
store raised FileAlreadyExistsException) as its last line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.harness.env import make_settings


class GatedLines:
    """A java.util.Iterator of commit lines that waits for the go signal first."""

    def __init__(self, lines: list[str], sync: Path):
        self.lines = list(lines)
        self.sync = sync
        self.opened = False

    def hasNext(self) -> bool:
        if not self.opened:
            self.opened = True
            (self.sync / "checked").touch()
            deadline = time.monotonic() + 120
            while not (self.sync / "go").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("gated_commit: no go signal within 120s")
                time.sleep(0.01)
        return bool(self.lines)

    def next(self) -> str:
        return self.lines.pop(0)

    class Java:
        implements = ("java.util.Iterator",)


def main(lake: str, store_class: str, log_file: str, sync_dir: str) -> None:
    from pyspark.java_gateway import ensure_callback_server_started

    from lakehouse.lake.session import build_session

    spark = build_session(make_settings(lake), "gated_commit")
    gateway = spark.sparkContext._gateway
    ensure_callback_server_started(gateway)
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    cls = jvm
    for part in store_class.split("."):
        cls = getattr(cls, part)
    store = cls(conf)
    lines = GatedLines(['{"commitInfo":{"by":"gated_commit"}}'], Path(sync_dir))
    try:
        store.write(jvm.org.apache.hadoop.fs.Path(log_file), lines, False, conf)
        outcome = "published"
    except Exception as exc:  # py4j wraps the Java exception
        if "FileAlreadyExistsException" not in str(exc):
            raise
        outcome = "refused"
    print(outcome, flush=True)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])

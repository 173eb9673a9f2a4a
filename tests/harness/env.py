"""Where the tests run: the repository, the test broker, the test Spark settings."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from lakehouse.config import Settings, load_settings

# Every test process (and what it starts) binds to loopback and reads UTC.
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT = int(os.environ.get("LAKEHOUSE_TEST_KAFKA_PORT", "19092"))
KAFKA_BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
KAFKA_DIR = ROOT / ".kafka-test"


# Spark settings of the test session (also written into the config folders
# tests create, so an in-process job does not change the shared session).
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    "spark.driver.memory": "2g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.log.level": "WARN",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
    ),
    "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
}


def kafka_env() -> dict[str, str]:
    """Environment for scripts/kafka.sh pointing at the test broker."""
    return {**os.environ, "KAFKA_PORT": str(KAFKA_PORT), "LAKEHOUSE_KAFKA_DIR": str(KAFKA_DIR)}


def make_settings(lake_root: Path | str) -> Settings:
    """The repository's local settings, with test Spark settings and lake."""
    base = load_settings(
        "local", ROOT / "conf", environ={"KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP}
    )
    spark = dataclasses.replace(
        base.spark, master="local[2]", conf={**base.spark.conf, **TEST_SPARK_CONF}
    )
    return dataclasses.replace(base, lake_root=str(lake_root), spark=spark)

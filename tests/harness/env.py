"""Where the tests run: the repository, the test broker, the test Spark settings."""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from pathlib import Path

from lakehouse.config import Settings, load_settings
from lakehouse.config.model import S3Settings

# Every test process (and what it starts) binds to loopback and reads UTC.
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parents[2]
KAFKA_PORT = int(os.environ.get("LAKEHOUSE_TEST_KAFKA_PORT", "19092"))
KAFKA_BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
# a second test session on another port gets a broker folder of its own
KAFKA_DIR = ROOT / (".kafka-test" if KAFKA_PORT == 19092 else f".kafka-test-{KAFKA_PORT}")

# The test S3 server (scripts/s3.sh: S3Proxy on a local folder). Its keys are
# drawn once per test run and handed to every process the tests start.
S3_PORT = int(os.environ.get("LAKEHOUSE_TEST_S3_PORT", "19500"))
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
S3_DIR = ROOT / (".s3-test" if S3_PORT == 19500 else f".s3-test-{S3_PORT}")  # runs side by side
S3_BUCKET = "lake"
os.environ.setdefault("LAKEHOUSE_TEST_S3_ACCESS_KEY", f"test-{secrets.token_hex(4)}")
os.environ.setdefault("LAKEHOUSE_TEST_S3_SECRET_KEY", secrets.token_urlsafe(24))
S3_ACCESS_KEY = os.environ["LAKEHOUSE_TEST_S3_ACCESS_KEY"]
S3_SECRET_KEY = os.environ["LAKEHOUSE_TEST_S3_SECRET_KEY"]
# the same, as a config file's `s3:` section (keys from the environment)
TEST_S3_YAML = {
    "endpoint": S3_ENDPOINT,
    "region": "us-east-1",
    "path_style": True,
    "access_key": "${LAKEHOUSE_TEST_S3_ACCESS_KEY}",
    "secret_key": "${LAKEHOUSE_TEST_S3_SECRET_KEY}",
}
TEST_S3 = S3Settings(
    endpoint=S3_ENDPOINT,
    region="us-east-1",
    path_style=True,
    access_key=S3_ACCESS_KEY,
    secret_key=S3_SECRET_KEY,
)


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


def spawn_python(module: str, *args: str):
    """Start ``python -m module args`` from the repository (another Spark application)."""
    import subprocess

    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def s3_env() -> dict[str, str]:
    """Environment for scripts/s3.sh pointing at the test S3 server."""
    return {
        **os.environ,
        "S3_PORT": str(S3_PORT),
        "LAKEHOUSE_S3_DIR": str(S3_DIR),
        "S3_ACCESS_KEY": S3_ACCESS_KEY,
        "S3_SECRET_KEY": S3_SECRET_KEY,
        "S3_BUCKETS": S3_BUCKET,
    }


def make_settings(lake_root: Path | str) -> Settings:
    """The repository's local settings, with test Spark settings and lake.

    Every test session can also reach the test S3 server (``s3a://lake/...``),
    so one shared SparkSession serves local and S3 lakes alike.
    """
    base = load_settings(
        "local", ROOT / "conf", environ={"KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP}
    )
    spark = dataclasses.replace(
        base.spark, master="local[2]", conf={**base.spark.conf, **TEST_SPARK_CONF}
    )
    return dataclasses.replace(base, lake_root=str(lake_root), spark=spark, s3=TEST_S3)

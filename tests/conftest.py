"""Shared fixtures: one SparkSession (with Delta), a lake per test, a real broker.

- ``spark``: session-scoped, built by the project's own ``lib.session``
  builder with fast test settings (local[2], one shuffle partition, no UI).
- ``settings``: the local settings with the lake under the test's ``tmp_path``.
- ``kafka_bootstrap``: a real single-node KRaft broker on 127.0.0.1, started
  once per session by ``scripts/kafka.sh`` (on its own port and data folder)
  unless one already answers there, and stopped at the end if this session
  started it.
- ``kafka_topic``: a fresh, uniquely named topic per test.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
os.environ["TZ"] = "UTC"
time.tzset()

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.config import Settings, load_settings  # noqa: E402
from lib.kafka_probe import probe  # noqa: E402

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


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from lib.session import build_session

    session = build_session(make_settings(tmp_path_factory.mktemp("lake")), "tests")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Local settings whose lake is this test's own temporary folder."""
    return make_settings(tmp_path / "lake")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker on 127.0.0.1; started here if none answers."""
    started = False
    if not probe(KAFKA_BOOTSTRAP, timeout=1.0).ok:
        result = subprocess.run(
            [str(ROOT / "scripts" / "kafka.sh"), "start"],
            env=kafka_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"could not start the test broker:\n{result.stdout}\n{result.stderr}")
        started = True
    yield KAFKA_BOOTSTRAP
    if started:
        subprocess.run(
            [str(ROOT / "scripts" / "kafka.sh"), "stop"],
            env=kafka_env(),
            capture_output=True,
            check=False,
        )


@pytest.fixture
def kafka_admin(kafka_bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def kafka_topic(kafka_admin, request) -> Iterator[str]:
    """A new topic (2 partitions) named after the test, deleted afterwards."""
    from confluent_kafka.admin import NewTopic

    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:80]
    name = f"t-{safe}-{uuid.uuid4().hex[:8]}"
    futures = kafka_admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    futures[name].result(timeout=30)
    yield name
    kafka_admin.delete_topics([name])[name].result(timeout=30)

"""Shared fixtures: one SparkSession (with Delta), a lake per test, a real broker.

- ``spark``: session-scoped, built by the project's own ``lakehouse.lake.session``
  builder with fast test settings (local[2], one shuffle partition, no UI).
- ``settings``: the local settings with the lake under the test's ``tmp_path``.
- ``kafka_bootstrap``: a real single-node KRaft broker on 127.0.0.1, started
  once per session by ``scripts/kafka.sh`` (on its own port and data folder)
  unless one already answers there, and stopped at the end if this session
  started it.
- ``kafka_topic``: a fresh, uniquely named topic per test.
- ``s3_server``: a real S3-compatible server (S3Proxy) on 127.0.0.1, started
  once per session by ``scripts/s3.sh`` with keys drawn for this run;
  ``s3_settings``: settings whose lake is a fresh prefix on it.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.config.model import Settings
from lakehouse.stream.probe import probe
from tests.harness.env import (  # noqa: F401
    KAFKA_BOOTSTRAP,
    KAFKA_DIR,
    KAFKA_PORT,
    ROOT,
    S3_BUCKET,
    S3_ENDPOINT,
    TEST_SPARK_CONF,
    kafka_env,
    make_settings,
    s3_env,
)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from lakehouse.lake.session import build_session

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


def _s3_script(action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "s3.sh"), action],
        env=s3_env(),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The test S3 server's endpoint; started (on a fresh folder) and stopped here."""
    _s3_script("clean")  # keys are drawn per run: objects of an earlier run would be unreadable
    result = _s3_script("start")
    if result.returncode != 0:
        pytest.fail(f"could not start the test S3 server:\n{result.stdout}\n{result.stderr}")
    yield S3_ENDPOINT
    _s3_script("stop")


@pytest.fixture
def s3_settings(s3_server: str, request) -> Settings:
    """Settings whose lake is this test's own prefix in the test bucket."""
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60].strip("-")
    return make_settings(f"s3a://{S3_BUCKET}/{safe}-{uuid.uuid4().hex[:8]}")


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


TIERS = ("unit", "spark", "jobs", "system")


def _tier_of(item) -> str | None:
    for part in item.path.relative_to(ROOT).parts:
        if part in TIERS:
            return part
    return None


def pytest_collection_modifyitems(config, items):
    """Each test carries its tier's marker (the folder it lives in): ``-m unit`` etc.

    Tiers run in order, unit first: the unit tier checks that none of its tests
    starts a JVM, which it can only do before the shared session exists (and a
    broken pure function is reported in seconds, not after the slow tiers).
    """
    for item in items:
        tier = _tier_of(item)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
    rank = {tier: n for n, tier in enumerate(TIERS)}
    items.sort(key=lambda item: rank.get(_tier_of(item) or "", len(TIERS)))

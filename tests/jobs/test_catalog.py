"""The lake by name: table registration and gold views after a load.

In-process tests use the shared session's own catalog (``catalog.type:
spark``: Spark's in-memory catalog), so they are quick; the last test runs
jobs and a ``lakehouse sql`` shell as separate applications against a real
Hive metastore started by scripts/metastore.sh, which is what a team runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.harness.env import ROOT
from tests.harness.load import D1, D2, LoadHarness, row
from tests.harness.ports import closed_port

DAILY = {
    "name": "gold.daily",
    "sql": "SELECT event_date, count(*) AS orders, sum(amount) AS revenue "
    "FROM silver.orders GROUP BY event_date",
}


@pytest.fixture
def clean_catalog(spark) -> Iterator[None]:
    """The shared session's catalog as it was: databases made by a test are dropped."""
    before = {d.name for d in spark.catalog.listDatabases()}
    yield
    for db in spark.catalog.listDatabases():
        if db.name not in before:
            spark.sql(f"DROP DATABASE `{db.name}` CASCADE")  # external tables keep their data


def with_catalog(load: LoadHarness, catalog: dict) -> None:
    (load.conf / "local.yaml").write_text(yaml.safe_dump({"catalog": catalog}))


@pytest.fixture
def load(tmp_path, capsys, monkeypatch, spark, clean_catalog) -> LoadHarness:
    harness = LoadHarness(tmp_path, capsys, monkeypatch)
    harness.configure(gold=[DAILY])
    with_catalog(harness, {"type": "spark"})
    return harness


def test_a_load_registers_its_tables_and_creates_the_views(spark, load):
    load.land(D1, [row("a", "10.00"), row("b", "5.50"), row("c", "-1", status="paid")])
    code, record = load.run(D1)
    assert code == 0, record
    catalog = record["details"]["catalog"]
    assert "silver.orders" in catalog["registered"]
    assert catalog["views"] == ["gold.daily"]
    got = spark.sql("SELECT * FROM gold.daily").collect()
    assert [(r.event_date, r.orders, str(r.revenue)) for r in got] == [(D1, 3, "14.50")]
    assert spark.sql("SELECT count(*) AS n FROM silver.orders").first().n == 3
    detail = spark.sql("DESCRIBE DETAIL silver.orders").first()
    assert detail.location.rstrip("/").endswith(load.silver_path)

    # a re-run changes nothing: no new version, nothing registered, the view the same
    version = load.version(spark)
    code, again = load.run(D1)
    assert code == 0
    # the ledger table exists only once the first run is recorded: named from the second
    assert "ops.runs" not in catalog["registered"]
    assert again["details"]["catalog"] == {
        "registered": ["ops.runs"],
        "already_registered": catalog["already_registered"] + len(catalog["registered"]),
        "views": ["gold.daily"],
    }
    assert load.version(spark) == version
    assert spark.sql("SELECT * FROM gold.daily").collect() == got

    # a new day shows in the view as soon as it is loaded
    load.land(D2, [row("d", "1.00", at="2026-03-02T08:00:00")])
    assert load.run(D2)[0] == 0
    days = spark.sql("SELECT event_date FROM gold.daily ORDER BY event_date").collect()
    assert [r.event_date for r in days] == [D1, D2]


def test_a_view_spark_refuses_fails_with_2_and_silver_stays_loaded(spark, load):
    broken = {"name": "gold.broken", "sql": "SELECT no_such_column FROM silver.orders"}
    load.configure(gold=[DAILY, broken])
    with_catalog(load, {"type": "spark"})
    load.land(D1, [row("a"), row("b")])
    code, record = load.run(D1)
    assert code == 2
    assert record["status"] == "failed"
    assert record["error_message"].startswith("gold view gold.broken was not created:")
    assert record["rows_out"] == 2  # what the load did is still in its row
    assert load.day(spark, D1).count() == 2
    assert spark.catalog.tableExists("gold.daily")  # the views before it stand
    assert not spark.catalog.tableExists("gold.broken")


def test_a_name_pointing_elsewhere_is_not_moved(spark, load, tmp_path):
    elsewhere = tmp_path / "other" / "orders"
    spark.range(1).write.format("delta").save(str(elsewhere))
    spark.sql("CREATE DATABASE IF NOT EXISTS silver")
    spark.sql(f"CREATE TABLE silver.orders USING delta LOCATION '{elsewhere}'")
    load.land(D1, [row("a")])
    code, record = load.run(D1)
    assert code == 2
    assert "catalog: silver.orders points at" in record["error_message"]
    assert f"not at the lake's table {load.silver_path}" in record["error_message"]
    location = spark.sql("DESCRIBE DETAIL silver.orders").first().location
    assert location.rstrip("/").endswith(str(elsewhere))  # left as it was
    assert load.day(spark, D1).count() == 1  # the load itself went through


def test_no_catalog_no_registration(spark, load):
    with_catalog(load, {"type": "none"})
    load.land(D1, [row("a")])
    code, record = load.run(D1)
    assert code == 0
    assert "catalog" not in record["details"]
    assert not spark.catalog.tableExists("silver.orders")


# ---------------------------------------------------------------- a real metastore

METASTORE_PORT = int(os.environ.get("LAKEHOUSE_TEST_METASTORE_PORT", "19583"))


def _metastore(action: str, folder: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "METASTORE_PORT": str(METASTORE_PORT),
        "LAKEHOUSE_METASTORE_DIR": str(folder),
    }
    return subprocess.run(
        [str(ROOT / "scripts" / "metastore.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def metastore(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("metastore")
    started = _metastore("start", folder)
    if started.returncode != 0:
        pytest.fail(f"could not start the test metastore:\n{started.stdout}\n{started.stderr}")
    yield f"thrift://127.0.0.1:{METASTORE_PORT}"
    _metastore("stop", folder)


def _app(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lakehouse"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_separate_applications_share_the_metastore(tmp_path, capsys, monkeypatch, metastore):
    load = LoadHarness(tmp_path, capsys, monkeypatch)
    load.configure(gold=[DAILY])
    with_catalog(load, {"type": "hive", "metastore_uri": metastore})
    load.land(D1, [row("a", "10.00"), row("b", "2.50")])
    env = {**os.environ, "LAKEHOUSE_LAKE_ROOT": str(load.lake)}
    argv = ["run", "--conf-dir", str(load.conf), "batch_load", "--pipeline", "orders"]

    first = _app([*argv, "--date", D1.isoformat()], env)
    assert first.returncode == 0, first.stderr[-3000:]
    details = json.loads(first.stdout.strip().splitlines()[-1])["details"]
    assert "silver.orders" in details["catalog"]["registered"]
    assert details["catalog"]["views"] == ["gold.daily"]

    again = _app([*argv, "--date", D1.isoformat()], env)
    assert again.returncode == 0, again.stderr[-3000:]
    details = json.loads(again.stdout.strip().splitlines()[-1])["details"]
    assert details["catalog"]["registered"] == ["ops.runs"]  # the ledger existed only after run 1

    query = (
        "SELECT concat_ws('|', event_date, orders, revenue) FROM gold.daily; "
        "SELECT count(*) FROM silver.orders; SELECT count(*) FROM ops.runs"
    )
    shell = _app(["sql", "--conf-dir", str(load.conf), "-e", query], env)
    assert shell.returncode == 0, shell.stderr[-3000:]
    assert shell.stdout.split() == [f"{D1.isoformat()}|2|12.50", "2", "2"]
    assert not (ROOT / "derby.log").exists() and not (ROOT / "metastore_db").exists()


def test_the_metastore_script_refuses_a_bad_port_and_reports_stopped(tmp_path):
    env = {**os.environ, "METASTORE_PORT": "x1", "LAKEHOUSE_METASTORE_DIR": str(tmp_path)}
    bad = subprocess.run(
        [str(ROOT / "scripts" / "metastore.sh"), "start"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "metastore.sh: error: invalid port 'x1' (METASTORE_PORT)"
    port = closed_port()
    status = subprocess.run(
        [str(ROOT / "scripts" / "metastore.sh"), "status"],
        env={**env, "METASTORE_PORT": str(port)},
        capture_output=True,
        text=True,
    )
    assert status.returncode == 3 and status.stdout.strip() == "metastore: stopped"

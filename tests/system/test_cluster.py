"""The same jobs on a real Spark standalone cluster (a master and two workers on
127.0.0.1, started from the installed pyspark) give the tables local mode gives.

Everything reaches the executors through ``./spark-submit.sh`` alone: the jars
(``--jars`` from the cache) and ``lib/`` (``--py-files``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F

from datagen.orders import generate, produce
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT
from tests.harness.ports import closed_port

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.kafka]

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
LAUNCHER = str(ROOT / "spark-submit.sh")
DAY = date(2026, 3, 1)


def wait_for(what: str, check, timeout: float = 90.0, logs: list[Path] = ()) -> None:
    """Poll ``check`` until it is true; fail with the logs when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"{what} did not happen within {timeout:.0f}s\n{tails}")


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def master_state(ui_port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return {}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """``(master URL, web UI port)`` of a live cluster; torn down whatever happens."""
    base = tmp_path_factory.mktemp("standalone")
    port, ui = closed_port(), closed_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(base / "logs")}
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start(name: str, *args: str) -> None:
        log = base / f"{name}.log"
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [str(SPARK_CLASS), *args],
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own group: killed as a whole below
            )
        )

    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        )
        wait_for("the master listening", lambda: answers(port) and answers(ui), logs=logs)
        url = f"spark://127.0.0.1:{port}"
        for i in (1, 2):
            start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                str(closed_port()),
                "--work-dir",
                str(base / f"work{i}"),
            )
        wait_for(
            "two workers registered",
            lambda: (
                sum(w.get("state") == "ALIVE" for w in master_state(ui).get("workers", [])) == 2
            ),
            logs=logs,
        )
        yield url, ui
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def launch(conf: Path, env_name: str, lake: Path, *args: str) -> tuple[int, dict, str]:
    result = subprocess.run(
        [LAUNCHER, "--conf-dir", str(conf), "--env", env_name, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LAKEHOUSE_LAKE_ROOT": str(lake)},
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    record = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return result.returncode, record, result.stderr[-4000:]


def table(spark, path: Path, drop: tuple[str, ...]):
    df = spark.read.format("delta").load(str(path)).drop(*drop)
    return sorted(tuple(r) for r in df.collect())


def test_batch_load_and_stream_ingest_on_a_standalone_cluster_equal_local_mode(
    spark, standalone, tmp_path, kafka_bootstrap, kafka_topic
):
    url, ui = standalone
    cluster_env = {
        "spark": {
            "master": url,
            "conf": {
                "spark.executor.memory": "768m",
                "spark.executor.cores": "1",
                "spark.cores.max": "2",
            },
        }
    }
    pipe = pipeline_yaml(
        source={
            "kafka": {"topic": kafka_topic, "bootstrap_servers": kafka_bootstrap},
            "files": {"path": "landing/date={date}", "format": "json"},
        },
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"}],
    )
    gated = pipeline_yaml(
        "gated",
        source=pipe["source"],
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "fail"}],
    )
    conf = write_conf(
        tmp_path,
        envs={"local": {}, "standalone": cluster_env},
        pipelines={"orders": pipe, "gated": gated},
    )
    rows = [
        {
            "order_id": f"o{i}",
            "amount": f"{i - 2}.25",
            "status": "paid",
            "event_time": f"2026-03-01T{i % 24:02d}:{i % 60:02d}:00",
        }
        for i in range(200)
    ]
    rows += [dict(rows[5], amount="99.00", event_time="2026-03-01T23:59:00")]  # newer: wins
    lakes = {"standalone": tmp_path / "lake-cluster", "local": tmp_path / "lake-local"}
    for lake in lakes.values():
        landing = lake / "landing" / f"date={DAY.isoformat()}"
        landing.mkdir(parents=True)
        (landing / "part-0.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    start = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
    produce(
        kafka_bootstrap,
        kafka_topic,
        generate(
            400,
            seed=7,
            start=start,
            spread=timedelta(minutes=20),
            dup_share=0.1,
            malformed_share=0.02,
        ),
    )

    for env_name, lake in lakes.items():
        code, record, err = launch(
            conf,
            env_name,
            lake,
            "batch_load",
            "--pipeline",
            "orders",
            "--date",
            DAY.isoformat(),
            "--source",
            "files",
        )
        assert code == 0, f"{env_name}: {err}"
        assert record["rows_out"] == 198 and record["rows_quarantined"] == 2  # amounts -2, -1
        code, record, err = launch(conf, env_name, lake, "stream_ingest", "--pipeline", "orders")
        assert code == 0, f"{env_name}: {err}"
        assert record["rows_in"] == 400

    audit = ("loaded_at", "run_id", "ingested_at")
    for sub, drop in (
        ("silver/orders", audit),
        ("bronze/orders", audit),
        ("quarantine/orders", audit),
        ("quarantine/orders_loads", ("quarantined_at", "run_id", "source")),
    ):
        on_cluster = table(spark, lakes["standalone"] / sub, drop)
        assert on_cluster, sub
        assert on_cluster == table(spark, lakes["local"] / sub, drop), sub
    silver = spark.read.format("delta").load(str(lakes["standalone"] / "silver" / "orders"))
    assert silver.where(F.col("order_id") == "o5").first().amount == 99

    # the work really ran on the cluster's executors
    apps = master_state(ui).get("completedapps", []) + master_state(ui).get("activeapps", [])
    names = " ".join(str(a.get("name")) for a in apps)
    assert "lakehouse-jobs:batch_load" in names and "lakehouse-jobs:stream_ingest" in names, names

    # the job's own exit code comes back through the launcher from the cluster too
    args = ("batch_load", "--pipeline", "gated", "--date", DAY.isoformat(), "--source", "files")
    code, record, err = launch(conf, "standalone", lakes["standalone"], *args)
    assert code == 3, err
    assert record["exit_code"] == 3 and "quality gate" in record["error_message"]

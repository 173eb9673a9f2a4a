"""The jobs with the lake on a real S3-compatible server (scripts/s3.sh): a re-run that commits
nothing, two loads at once that both reach the ledger, a killed backfill that resumes.

The landed source files stay on the local disk (an absolute path in the
pipeline file); every table, the ledger and the quality results live under
``s3a://lake/<test>/``. The stream's kill -9 run on S3 is in
tests/system/test_stream_chaos.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.jobs import backfill, batch_load
from lakehouse.lake import fs
from tests.harness.backfill import day_rows
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT, S3_BUCKET, TEST_S3_YAML

D1 = date(2026, 3, 1)
LAUNCHER = str(ROOT / "spark-submit.sh")


class S3Lake:
    """A files-sourced pipeline whose lake is a fresh prefix on the test S3 server."""

    def __init__(self, tmp_path: Path, request, monkeypatch, capsys):
        request.getfixturevalue("s3_server")
        self.capsys = capsys
        safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:50].strip("-")
        self.root = f"s3a://{S3_BUCKET}/{safe}-{uuid.uuid4().hex[:8]}"
        self.landing = tmp_path / "landing"
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", self.root)
        pipe = pipeline_yaml(
            source={"files": {"path": f"{self.landing}/date={{date}}", "format": "json"}},
            backfill={"group_days": 1, "retry": {"attempts": 2, "base_delay": "100ms"}},
        )
        pipe.pop("stream"), pipe.pop("bronze")
        self.conf = write_conf(
            tmp_path, envs={"local": {"s3": TEST_S3_YAML}}, pipelines={"orders": pipe}
        )

    def land(self, *days: date) -> None:
        for day in days:
            folder = self.landing / f"date={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            lines = [json.dumps(r) for r in day_rows(day)]
            (folder / "part.json").write_text("\n".join(lines) + "\n")

    def argv(self, *args: str) -> list[str]:
        return ["--conf-dir", str(self.conf), "--pipeline", "orders", *args]

    def last_record(self) -> dict:
        return json.loads(self.capsys.readouterr().out.strip().splitlines()[-1])

    def launch(self, job: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [LAUNCHER, *self.argv(*args)[:2], job, *self.argv(*args)[2:]],
            env={**os.environ, "LAKEHOUSE_LAKE_ROOT": self.root},
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def silver_ids(self, spark) -> list[str]:
        silver = spark.read.format("delta").load(self.path("silver", "orders"))
        return sorted(r.order_id for r in silver.select("order_id").collect())

    def loads(self, spark) -> list[tuple]:
        ledger = spark.read.format("delta").load(self.path("_ops", "runs"))
        rows = ledger.where(F.col("job") == "batch_load").collect()
        return sorted((r.logical_date, r.status, r.exit_code) for r in rows)


@pytest.fixture
def lake(tmp_path, request, monkeypatch, capsys):
    return S3Lake(tmp_path, request, monkeypatch, capsys)


def expected_ids(*days: date) -> list[str]:
    return sorted(r["order_id"] for day in days for r in day_rows(day))


def test_a_re_run_on_s3_commits_nothing_and_leaves_the_same_table(spark, lake):
    lake.land(D1)
    assert batch_load.main(lake.argv("--date", D1.isoformat())) == 0
    first = lake.last_record()
    silver = DeltaTable.forPath(spark, lake.path("silver", "orders"))
    version = silver.history(1).first()["version"]

    assert batch_load.main(lake.argv("--date", D1.isoformat())) == 0
    again = lake.last_record()
    assert first["status"] == again["status"] == "success"
    assert again["details"]["inserted"] == again["details"]["updated"] == 0
    assert silver.history(1).first()["version"] == version  # no commit at all
    assert lake.silver_ids(spark) == expected_ids(D1)
    assert lake.loads(spark) == [(D1, "success", 0), (D1, "success", 0)]


@pytest.mark.slow
def test_two_loads_at_once_on_s3_both_reach_silver_and_the_ledger(spark, lake):
    days = [D1, D1 + timedelta(days=1)]
    lake.land(*days)
    jobs = [lake.launch("batch_load", "--date", day.isoformat()) for day in days]
    results = [job.communicate(timeout=400) for job in jobs]
    for job, (_, err) in zip(jobs, results, strict=True):
        assert job.returncode == 0, err[-3000:]
    assert lake.silver_ids(spark) == expected_ids(*days)
    assert lake.loads(spark) == [(day, "success", 0) for day in days]


@pytest.mark.slow
def test_a_backfill_killed_on_s3_resumes_and_loads_each_date_once(spark, lake):
    days = [D1 + timedelta(days=i) for i in range(6)]
    lake.land(*days)
    job = lake.launch("backfill", "--start", "2026-03-01", "--end", "2026-03-06", "--parallel", "1")
    log = lake.path("silver", "orders", "_delta_log")
    deadline = time.monotonic() + 300
    while job.poll() is None and time.monotonic() < deadline:
        if sum(n.endswith(".json") for n in fs.list_names(spark, log)) >= 3:  # create + 2 dates
            break
        time.sleep(0.5)
    assert job.poll() is None, "the backfill finished (or died) before it could be killed"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    finished = {day for day, status, _ in lake.loads(spark) if status == "success"}
    assert 1 <= len(finished) < 6

    assert backfill.main(lake.argv("--start", "2026-03-01", "--end", "2026-03-06")) == 0
    record = lake.last_record()
    ran = {date.fromisoformat(r["date"]) for r in record["details"]["results"]}
    assert ran == set(days) - finished  # what had finished did not run again
    successes = [day for day, status, _ in lake.loads(spark) if status == "success"]
    assert sorted(successes) == days  # each date loaded exactly once
    assert lake.silver_ids(spark) == expected_ids(*days)

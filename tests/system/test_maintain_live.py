"""maintain beside a running stream_ingest: both succeed, nothing lost or duplicated.

Two Spark applications on one lake, as in production: the stream (a real
process, processing-time trigger, the real broker) appends today's events
while maintain (in-process, the test's session) compacts the closed days
the stream wrote earlier and VACUUMs.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import datetime, timedelta, timezone

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from datagen.orders import generate, produce
from lakehouse.jobs import maintain
from tests.system.test_stream_chaos import conf_for, last_json, start_job, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_maintain_while_the_stream_runs_loses_and_duplicates_nothing(
    spark, tmp_path, kafka_bootstrap, kafka_topic, monkeypatch, capsys
):
    lake = tmp_path / "lake"
    conf = conf_for(tmp_path, kafka_bootstrap, kafka_topic, max_offsets_per_trigger=40)
    bronze_path = str(lake / "bronze" / "orders")
    now = datetime.now(timezone.utc)
    # two closed days, written in several micro-batches: several files each
    old = generate(240, seed=41, start=now - timedelta(days=6), spread=timedelta(days=2))
    produce(kafka_bootstrap, kafka_topic, old)
    first = start_job(conf, lake, "--trigger", "available_now")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]

    def files_per_day() -> dict:
        df = spark.read.format("delta").load(bronze_path)
        rows = df.groupBy("event_date").agg(F.countDistinct("_metadata.file_path").alias("n"))
        return {r.event_date: r.n for r in rows.collect()}

    closed_before = (now - timedelta(days=2)).date()
    closed = {d: n for d, n in files_per_day().items() if d < closed_before}
    scattered = {d for d, n in closed.items() if n > 1}
    assert len(scattered) >= 2, closed

    # today: a first slice before the stream starts, a steady trickle while
    # maintain runs, and a last slice after it, so the stream is certain to
    # commit both during and after maintain's commits
    today = generate(480, seed=42, start=now - timedelta(minutes=5), spread=timedelta(minutes=5))
    first_slice, trickle, last_slice = today[:40], today[40:440], today[440:]
    produce(kafka_bootstrap, kafka_topic, first_slice)
    # bigger micro-batches from here on: the stream keeps up on a loaded machine
    conf_for(tmp_path, kafka_bootstrap, kafka_topic, max_offsets_per_trigger=200)
    producer = threading.Thread(
        target=produce, args=(kafka_bootstrap, kafka_topic, trickle), kwargs={"rate": 10.0}
    )
    stream = start_job(conf, lake, "--trigger", "processing_time=1s")
    try:
        table = DeltaTable.forPath(spark, bronze_path)
        started_at = table.history(1).first()["version"]
        wait_for(
            lambda: (
                DeltaTable.forPath(spark, bronze_path).history(1).first()["version"] > started_at
            ),
            180,
            "the stream's first batch of today",
            stream,
            interval=1.0,
        )
        producer.start()
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(lake))
        code = maintain.main(["--conf-dir", str(conf), "--pipeline", "orders"])
        report = last_json(capsys.readouterr().out)
        assert code == 0, report
        assert stream.poll() is None, "the stream stopped while maintain ran"
        producer.join(timeout=300)
        produce(kafka_bootstrap, kafka_topic, last_slice)
        wanted = {e.order_id for e in old + today if e.kind in ("valid", "duplicate")}
        wait_for(
            lambda: spark.read.format("delta").load(bronze_path).count() >= len(wanted),
            300,
            f"all {len(wanted)} events in bronze",
            stream,
            interval=2.0,
        )
    finally:
        if stream.poll() is None:
            os.killpg(stream.pid, signal.SIGTERM)
        out, err = stream.communicate(timeout=180)
    assert stream.returncode == 0, err[-3000:]
    assert last_json(out)["status"] == "success"

    bronze = spark.read.format("delta").load(bronze_path)
    assert {r.order_id for r in bronze.select("order_id").collect()} == wanted
    assert bronze.count() == len(wanted)  # nothing twice
    after = files_per_day()
    assert all(after[d] == 1 for d in closed), after  # every closed day compacted
    done = report["details"]["pipelines"]["orders"]["tables"]["bronze.orders"]
    assert done["optimized"]["partitions"] == len(scattered)
    history = DeltaTable.forPath(spark, bronze_path).history().collect()
    optimize = max(r.version for r in history if r.operation == "OPTIMIZE")
    later = [r for r in history if r.version > optimize and r.operation != "OPTIMIZE"]
    assert later, "the stream committed nothing after maintain's OPTIMIZE"
    ledger = spark.read.format("delta").load(str(lake / "_ops" / "runs"))
    jobs = {(r.job, r.status) for r in ledger.collect()}
    assert {("maintain", "success"), ("stream_ingest", "success")} <= jobs
    assert json.loads(ledger.where("job = 'maintain'").first().details)["dry_run"] is False

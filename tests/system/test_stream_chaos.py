"""stream_ingest as a real process: SIGTERM, kill -9 over and over, a broker that goes away."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from datagen.orders import generate, produce
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT, S3_BUCKET, TEST_S3_YAML
from tests.harness.ports import free_port_pair
from tests.harness.procs import communicate

LAUNCHER = str(ROOT / "spark-submit.sh")
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def conf_for(
    tmp_path: Path, bootstrap: str, topic: str, dedup: str = "watermark", s3: bool = False, **kafka
) -> Path:
    pipe = pipeline_yaml(
        source={"kafka": {"topic": topic, "bootstrap_servers": bootstrap, **kafka}},
        bronze={"table": "bronze.orders", "dedup": dedup},
        stream={
            "watermark": "1 hour",
            "retry": {"attempts": 2, "base_delay": "1s"},
            "stop_grace": "60s",
        },
    )
    envs = {"local": {"s3": TEST_S3_YAML}} if s3 else None
    return write_conf(tmp_path, envs=envs, pipelines={"orders": pipe})


def start_job(conf: Path, lake: Path | str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [LAUNCHER, "--conf-dir", str(conf), "stream_ingest", "--pipeline", "orders", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "LAKEHOUSE_LAKE_ROOT": str(lake)},
    )


def wait_for(
    condition,
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"job exited {proc.returncode} before {what}:\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def bronze_committed(lake: Path) -> bool:
    log = lake / "bronze" / "orders" / "_delta_log"
    return log.is_dir() and any(
        p.name.endswith(".json") and not p.name.startswith("0" * 20) for p in log.iterdir()
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_sigterm_stops_cleanly_through_the_launcher_and_the_process_group(
    spark, tmp_path, kafka_bootstrap, kafka_topic
):
    lake = tmp_path / "lake"
    conf = conf_for(tmp_path, kafka_bootstrap, kafka_topic)
    first = generate(200, seed=11, dup_share=0.1)
    produce(kafka_bootstrap, kafka_topic, first)

    job = start_job(conf, lake, "--trigger", "processing_time=1s")
    wait_for(lambda: bronze_committed(lake), 180, "the first batch", job)
    os.kill(job.pid, signal.SIGTERM)  # the launcher forwards it to the driver
    out, err = communicate(job, 180)

    assert job.returncode == 0, err[-3000:]
    record = last_json(out)
    assert record["status"] == "success"
    assert (record["details"]["ended_by"], record["details"]["signal"]) == ("stopped", "SIGTERM")
    assert "SIGTERM received" in err

    second = generate(50, seed=12, dup_share=0.0)
    produce(kafka_bootstrap, kafka_topic, second)
    job = start_job(conf, lake, "--trigger", "processing_time=1s")
    wait_for(
        lambda: len(list((lake / "bronze" / "orders" / "_delta_log").glob("*.json"))) >= 3,
        180,
        "the second run's batch",
        job,
    )
    os.killpg(job.pid, signal.SIGTERM)  # the whole group, as Airflow does
    out, err = communicate(job, 180)
    assert job.returncode == 0, err[-3000:]
    assert last_json(out)["details"]["ended_by"] == "stopped"

    bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders"))
    produced = {e.order_id for e in first + second}
    assert {r.order_id for r in bronze.select("order_id").collect()} == produced
    assert bronze.count() == len(produced)


@pytest.mark.chaos
@pytest.mark.parametrize(
    ("dedup", "kill_count", "on_s3"),
    [
        ("watermark", 10, False),  # idempotent appends (the default)
        ("keys", 5, False),  # key MERGE: slower batches, fewer kills
        ("watermark", 4, True),  # the lake and the checkpoint on the test S3 server
    ],
    ids=["watermark", "keys", "watermark-on-s3"],
)
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
    spark, tmp_path, kafka_bootstrap, kafka_topic, dedup, kill_count, on_s3, request
):
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    print(f"chaos seed {seed}")
    lake: Path | str = tmp_path / "lake"
    if on_s3:
        request.getfixturevalue("s3_server")
        lake = f"s3a://{S3_BUCKET}/chaos-{seed}-{os.getpid()}"
    conf = conf_for(
        tmp_path, kafka_bootstrap, kafka_topic, dedup, on_s3, max_offsets_per_trigger=40
    )
    events = generate(2400, seed=seed, dup_share=0.1, malformed_share=0.02)
    valid_keys = {e.order_id for e in events if e.kind in ("valid", "duplicate")}
    bad_values = sorted(e.value.decode() for e in events if e.kind not in ("valid", "duplicate"))

    producer = threading.Thread(
        target=produce, args=(kafka_bootstrap, kafka_topic, events), kwargs={"rate": 20.0}
    )
    producer.start()
    kills = 0
    try:
        while kills < kill_count:
            job = start_job(conf, lake, "--trigger", "processing_time=1s")
            time.sleep(rng.uniform(5, 16))
            if job.poll() is not None:
                _out, err = job.communicate()
                raise AssertionError(f"job ended by itself ({job.returncode}):\n{err[-3000:]}")
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=60)
            kills += 1
    finally:
        producer.join(timeout=300)

    # available_now: whatever is left, without the rate limit (the kills are over; a
    # catch-up run with another maxOffsetsPerTrigger resumes the same checkpoint)
    catch_up = conf_for(tmp_path / "catch-up", kafka_bootstrap, kafka_topic, dedup, on_s3)
    drain = start_job(catch_up, lake)
    _out, err = communicate(drain, 600)
    assert drain.returncode == 0, err[-3000:]

    bronze = spark.read.format("delta").load(f"{lake}/bronze/orders")
    quarantine = spark.read.format("delta").load(f"{lake}/quarantine/orders")
    assert {r.order_id for r in bronze.select("order_id").collect()} == valid_keys
    assert bronze.count() == len(valid_keys), "a key landed twice in bronze"
    assert sorted((r.raw_value or "") for r in quarantine.collect()) == bad_values
    offsets = quarantine.select("kafka_partition", "kafka_offset").distinct().count()
    assert offsets == quarantine.count() == len(bad_values)


def test_broker_gone_mid_run_exits_75_and_a_later_run_loses_nothing(spark, tmp_path):
    port = free_port_pair()
    broker_env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "broker"),
    }
    kafka_sh = str(ROOT / "scripts" / "kafka.sh")

    def broker(action: str) -> None:
        result = subprocess.run(
            [kafka_sh, action],
            env=broker_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    bootstrap = f"127.0.0.1:{port}"
    lake = tmp_path / "lake"
    broker("start")
    try:
        conf = conf_for(
            tmp_path,
            bootstrap,
            "gone",
            **{
                "options": {
                    "default.api.timeout.ms": "4000",
                    "request.timeout.ms": "3000",
                    "reconnect.backoff.max.ms": "1000",
                }
            },
        )
        first = generate(100, seed=21, dup_share=0.0)
        produce(bootstrap, "gone", first, partitions=1)
        job = start_job(conf, lake, "--trigger", "processing_time=1s")
        wait_for(lambda: bronze_committed(lake), 180, "the first batch", job)
        broker("stop")
        out, err = communicate(job, 300)

        assert job.returncode == 75, out[-3000:] + err[-3000:]
        record = last_json(out)
        assert record["status"] == "failed" and record["exit_code"] == 75
        assert "gave up after 2 attempt(s)" in record["error_message"]

        broker("start")
        second = generate(40, seed=22, dup_share=0.0)
        produce(bootstrap, "gone", second)
        drain = start_job(conf, lake)
        out, err = communicate(drain, 300)
        assert drain.returncode == 0, err[-3000:]
    finally:
        subprocess.run([kafka_sh, "stop"], env=broker_env, capture_output=True, check=False)

    bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders"))
    produced = {e.order_id for e in first + second}
    assert {r.order_id for r in bronze.select("order_id").collect()} == produced
    assert bronze.count() == len(produced)

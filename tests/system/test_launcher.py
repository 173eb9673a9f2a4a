"""spark-submit.sh end to end: help, bad launches, and doctor through real spark-submit."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.harness.builders import base_yaml, pipeline_yaml, write_conf
from tests.harness.env import ROOT
from tests.harness.ports import closed_port

LAUNCHER = str(ROOT / "spark-submit.sh")


def launch(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [LAUNCHER, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_print_command_shows_the_exact_launch_with_secrets_masked(tmp_path):
    base = base_yaml()
    base["spark"]["conf"]["spark.hadoop.fs.s3a.secret.key"] = "${S3_SECRET}"
    conf = write_conf(tmp_path, base=base)
    env = {"S3_SECRET": "topsecret-42", "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake")}
    result = launch(
        "--conf-dir",
        str(conf),
        "--print-command",
        "batch_load",
        "--pipeline",
        "orders",
        "--date",
        "2026-11-25",
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "topsecret-42" not in result.stdout + result.stderr
    words = shlex.split(result.stdout)
    assert words[0] == f"LAKEHOUSE_HOME={ROOT}" and words[3].endswith("spark-submit")
    assert "spark.hadoop.fs.s3a.secret.key=****" in words
    assert words[words.index("--master") + 1] == "local[2]"
    job = words.index(str(ROOT / "jobs" / "batch_load.py"))
    assert words[job + 1 :] == [
        "--pipeline",
        "orders",
        "--date",
        "2026-11-25",
        "--conf-dir",
        str(conf),
    ]
    assert not (tmp_path / "lake").exists()  # nothing ran


def test_conf_and_master_on_the_command_line_win_over_the_env_file(tmp_path):
    base = base_yaml()
    base["spark"]["conf"]["spark.sql.shuffle.partitions"] = "7"
    conf = write_conf(tmp_path, base=base)
    result = launch(
        "--conf-dir",
        str(conf),
        "--conf",
        "spark.sql.shuffle.partitions=3",
        "--conf",
        "spark.hadoop.fs.s3a.secret.key=hunter2-secret",
        "--master",
        "local[1]",
        "--print-command",
        "doctor",
        env={"LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake")},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr
    words = shlex.split(result.stdout)
    assert words[words.index("--master") + 1] == "local[1]"
    shuffles = [w for w in words if w.startswith("spark.sql.shuffle.partitions=")]
    assert shuffles == ["spark.sql.shuffle.partitions=3"]  # in place of the env file's 7
    # the driver's session builder is told not to put the env file's value back
    overrides = [w for w in words if w.startswith("LAKEHOUSE_CONF_OVERRIDES=")]
    assert overrides == [
        "LAKEHOUSE_CONF_OVERRIDES=spark.hadoop.fs.s3a.secret.key,spark.sql.shuffle.partitions"
    ]
    java_options = [w for w in words if w.startswith("spark.driver.defaultJavaOptions=")]
    assert len(java_options) == 1 and "log4j2.configurationFile=file:" in java_options[0]


def test_help_lists_the_jobs():
    result = launch("--help")
    assert result.returncode == 0
    assert "usage: ./spark-submit.sh" in result.stdout
    assert "jobs: backfill,batch_load,doctor,health,maintain,stream_ingest" in result.stdout
    assert "--conf KEY=VALUE" in result.stdout and "75  transient" in result.stdout


def test_job_help_needs_no_spark():
    result = launch("doctor", "--help")
    assert result.returncode == 0 and "--conf-dir" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nosuchjob"],
            "unknown job 'nosuchjob' "
            "(jobs: backfill,batch_load,doctor,health,maintain,stream_ingest)",
        ),
        (["../lib/cli"], "unknown job '../lib/cli'"),
        (["__init__"], "unknown job '__init__'"),
        ([], "no job given"),
        (["--frobnicate", "doctor"], "unknown option --frobnicate"),
        (["--env", "nope", "doctor"], "unknown environment 'nope'"),
        (
            ["--conf-dir", "/no/such/folder", "doctor"],
            "config folder '/no/such/folder' does not exist",
        ),
    ],
)
def test_bad_launch_exits_2_with_one_line(args, message):
    result = launch(*args)
    assert result.returncode == 2, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0]


def test_missing_environment_is_reported(tmp_path):
    result = launch("doctor", env={"LAKEHOUSE_VENV": str(tmp_path / "no-venv")})
    assert result.returncode == 1
    assert "no Python environment" in result.stderr and "scripts/setup.sh" in result.stderr


@pytest.mark.slow
@pytest.mark.kafka
def test_doctor_passes_with_the_broker_up_and_two_runs_share_the_ledger(
    spark, kafka_bootstrap, tmp_path
):
    """Two doctors at once: both pass, and both rows land in one ledger."""
    env = {
        **os.environ,
        "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    procs = [
        subprocess.Popen(
            [LAUNCHER, "doctor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "[ok  ] kafka" in out and "[ok  ] delta" in out
        assert last_json(out)["status"] == "success"
    ledger = spark.read.format("delta").load(str(tmp_path / "lake" / "_ops" / "runs"))
    ids = sorted(last_json(out)["run_id"] for out, _ in outputs)
    assert sorted(r.run_id for r in ledger.collect()) == ids


@pytest.mark.slow
def test_doctor_fails_clearly_with_the_broker_down(tmp_path):
    port = closed_port()
    result = launch(
        "doctor",
        env={
            "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake"),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        },
    )
    assert result.returncode == 1
    assert f"[FAIL] kafka    no Kafka broker answers at 127.0.0.1:{port} (connection refused)" in (
        result.stdout
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("doctor: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("doctor: error: kafka: no Kafka broker answers")
    assert "scripts/kafka.sh start" in errors[0]
    assert "doctor: error" not in result.stdout  # errors go to stderr, even under spark-submit
    printed = last_json(result.stdout)
    assert printed["status"] == "failed" and printed["exit_code"] == 1


@pytest.mark.slow
def test_invalid_pipeline_exits_2_through_spark_submit(tmp_path):
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml(keys=["nope"])})
    result = launch(
        "--conf-dir", str(conf), "doctor", env={"LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake")}
    )
    assert result.returncode == 2
    assert "keys[0]: 'nope' is not a column of the schema" in result.stderr
    assert not Path(tmp_path / "lake").exists()


@pytest.mark.slow
def test_batch_load_through_spark_submit_loads_then_refuses_a_bad_date(tmp_path):
    pipe = pipeline_yaml(
        source={"files": {"path": "landing/{date}", "format": "json"}},
        silver={"table": "silver.orders", "order_by": "event_time"},
    )
    pipe.pop("stream"), pipe.pop("bronze")
    conf = write_conf(tmp_path, pipelines={"orders": pipe})
    lake = tmp_path / "lake"
    (lake / "landing" / "2026-03-01").mkdir(parents=True)
    (lake / "landing" / "2026-03-01" / "a.json").write_text(
        '{"order_id": "a", "amount": "1.50", "event_time": "2026-03-01T10:00:00"}\n'
    )
    env = {"LAKEHOUSE_LAKE_ROOT": str(lake)}
    args = ["--conf-dir", str(conf), "batch_load", "--pipeline", "orders", "--date"]
    result = launch(*args, "2026-03-01", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = last_json(result.stdout)
    assert printed["status"] == "success" and printed["details"]["inserted"] == 1
    assert printed["logical_date"] == "2026-03-01"
    # Spark's start-up noise stays off the console, and so do the project's own warnings
    for noise in (
        "Using Spark's default log4j profile",
        "NativeCodeLoader",
        "resolves to a loopback address",
        " INFO ",
        "locally checkpointed",
        "Spark session is not provided",
        "has not been configured",
    ):
        assert noise not in result.stderr, noise

    again = launch(*args, "2026-03-01", env={**env, "LAKEHOUSE_SPARK_LOG": "INFO"})
    assert again.returncode == 0, again.stderr[-2000:]
    assert last_json(again.stdout)["details"].get("inserted", 0) == 0  # a re-run is a no-op
    assert " INFO SparkContext: " in again.stderr  # Spark's own lines, asked for

    result = launch(*args, "2026-13-01", env=env)
    assert result.returncode == 2
    assert "invalid date '2026-13-01'" in last_json(result.stdout)["error_message"]

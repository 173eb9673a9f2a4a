"""A SASL-secured broker: stream_ingest and doctor through spark-submit.sh with SCRAM credentials.

The credentials reach the pipeline file's ``source.kafka.options`` through
``${VAR}``; the pre-check asks the broker with them through the JVM admin
client. Refused credentials exit 2 at once (no retry, nothing written), and
the password shows in no output of any run.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from datagen.orders import produce
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT
from tests.harness.sasl import SaslBroker, sasl_options
from tests.harness.stream import T0, order

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LAUNCHER = str(ROOT / "spark-submit.sh")
EVENTS = 30
USER_VAR, PASSWORD_VAR = "ORDERS_KAFKA_USER", "ORDERS_KAFKA_PASSWORD"


@pytest.fixture(scope="module")
def topic(sasl_broker: SaslBroker) -> str:
    """A topic on the SASL broker holding EVENTS orders (produced on its PLAINTEXT port)."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    events = [order(f"s{i}", T0 + timedelta(seconds=i)) for i in range(EVENTS)]
    produce(sasl_broker.plaintext, name, events, partitions=2)
    return name


def configure(tmp_path: Path, broker: SaslBroker, topic: str) -> Path:
    """A config folder whose pipeline reads ``topic`` through the SASL listener."""
    pipe = pipeline_yaml(
        source={
            "kafka": {
                "topic": topic,
                "bootstrap_servers": broker.sasl,
                "options": sasl_options(USER_VAR, PASSWORD_VAR),
            }
        },
        # a retried failure would show: three attempts, a second apart, each logged
        stream={"watermark": "1 hour", "retry": {"attempts": 3, "base_delay": "1s"}},
    )
    return write_conf(tmp_path, pipelines={"orders": pipe})


def launch(
    tmp_path: Path, broker: SaslBroker, password: str, *args: str
) -> subprocess.CompletedProcess:
    """``./spark-submit.sh --conf-dir CONF ARGS`` with the credentials in the environment."""
    env = {
        **os.environ,
        "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake"),
        "KAFKA_BOOTSTRAP_SERVERS": broker.sasl,  # the env's default is that broker too
        USER_VAR: broker.user,
        PASSWORD_VAR: password,
    }
    return subprocess.run(
        [LAUNCHER, "--conf-dir", str(tmp_path / "conf"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_secret_kept(result: subprocess.CompletedProcess, password: str) -> None:
    assert password not in result.stdout and password not in result.stderr


def test_the_script_started_a_sasl_listener_without_printing_the_password(sasl_broker):
    started = sasl_broker.started
    assert started is not None
    assert f"SASL_PLAINTEXT (SCRAM-SHA-512, user {sasl_broker.user}) at {sasl_broker.sasl}" in (
        started.stdout
    )
    assert_secret_kept(started, sasl_broker.password)
    logs = sasl_broker.folder / "logs"
    for path in [sasl_broker.folder / "server.properties", *logs.iterdir()]:
        assert sasl_broker.password not in path.read_text(errors="replace"), path


def test_stream_ingest_reads_the_sasl_broker_with_credentials_from_the_environment(
    tmp_path, sasl_broker, topic
):
    configure(tmp_path, sasl_broker, topic)
    result = launch(
        tmp_path, sasl_broker, sasl_broker.password, "stream_ingest", "--pipeline", "orders"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = last_json(result.stdout)
    assert record["status"] == "success"
    assert record["rows_in"] == EVENTS and record["rows_out"] == EVENTS
    assert record["details"]["attempts"] == 1 and record["details"]["errors"] == []
    assert (tmp_path / "lake" / "bronze" / "orders" / "_delta_log").is_dir()
    assert_secret_kept(result, sasl_broker.password)


def test_a_wrong_password_exits_2_at_once_with_one_line_and_writes_nothing(
    tmp_path, sasl_broker, topic
):
    configure(tmp_path, sasl_broker, topic)
    wrong = f"wrong-{uuid.uuid4().hex}"
    result = launch(tmp_path, sasl_broker, wrong, "stream_ingest", "--pipeline", "orders")
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [
        line for line in result.stderr.splitlines() if line.startswith("stream_ingest: error:")
    ]
    assert len(errors) == 1, result.stderr[-3000:]
    named = [line for line in result.stderr.splitlines() if "uthentication" in line]
    assert named == errors, result.stderr[-3000:]  # the Kafka client does not say it again
    assert errors[0].startswith(
        f"stream_ingest: error: Kafka at {sasl_broker.sasl}: authentication failed "
        "(SaslAuthenticationException: "
    )
    assert "restarting in" not in result.stderr and "gave up after" not in result.stderr
    assert "Traceback" not in result.stderr
    record = last_json(result.stdout)
    assert (
        record["exit_code"] == 2 and record["error_message"] == errors[0].split(": error: ", 1)[1]
    )
    lake = tmp_path / "lake"
    assert not (lake / "bronze").exists() and not (lake / "_checkpoints").exists()
    assert_secret_kept(result, wrong)
    assert_secret_kept(result, sasl_broker.password)


def test_print_command_does_not_show_the_password(tmp_path, sasl_broker, topic):
    configure(tmp_path, sasl_broker, topic)
    result = launch(
        tmp_path,
        sasl_broker,
        sasl_broker.password,
        "--print-command",
        "stream_ingest",
        "--pipeline",
        "orders",
    )
    assert result.returncode == 0, result.stderr
    assert "stream_ingest.py" in result.stdout
    assert_secret_kept(result, sasl_broker.password)


def test_doctor_reaches_the_sasl_broker_with_the_pipeline_credentials(tmp_path, sasl_broker, topic):
    configure(tmp_path, sasl_broker, topic)
    result = launch(tmp_path, sasl_broker, sasl_broker.password, "doctor")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    kafka = [line for line in result.stdout.splitlines() if "] kafka" in line]
    assert len(kafka) == 1, result.stdout
    assert kafka[0].startswith(f"  [ok  ] kafka    {sasl_broker.sasl}: cluster ")
    assert kafka[0].endswith("1 broker(s), SASL_PLAINTEXT (pipelines: orders)")
    assert last_json(result.stdout)["status"] == "success"
    assert_secret_kept(result, sasl_broker.password)


def test_doctor_names_refused_credentials(tmp_path, sasl_broker, topic):
    configure(tmp_path, sasl_broker, topic)
    wrong = f"wrong-{uuid.uuid4().hex}"
    result = launch(tmp_path, sasl_broker, wrong, "doctor")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        f"  [FAIL] kafka    Kafka at {sasl_broker.sasl}: authentication failed "
        "(SaslAuthenticationException: "
    ) in result.stdout
    assert "[ok  ] delta" in result.stdout  # the other checks still ran
    assert_secret_kept(result, wrong)

"""scripts/kafka.sh: a real broker's life cycle, and clear errors when parts are missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from tests.harness.env import ROOT
from tests.harness.ports import free_port_pair

SCRIPT = str(ROOT / "scripts" / "kafka.sh")


def run(*args: str, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [SCRIPT, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_unknown_command_prints_usage():
    result = run("explode", env={})
    assert result.returncode == 2 and "Usage: scripts/kafka.sh" in result.stderr


def test_missing_jars_are_reported(tmp_path):
    result = run(
        "start",
        env={
            "LAKEHOUSE_JARS_DIR": str(tmp_path / "none"),
            "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k"),
            "KAFKA_PORT": str(free_port_pair()),
        },
    )
    assert result.returncode == 1
    assert "Kafka broker jars not found" in result.stderr and "scripts/setup.sh" in result.stderr


def test_missing_java_is_reported(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (
        "bash",
        "dirname",
        "cat",
        "ls",
        "rm",
        "mkdir",
        "readlink",
        "awk",
        "sed",
        "seq",
        "sleep",
        "basename",
        "python3",
    ):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {
        "PATH": str(bin_dir),
        "JAVA_HOME": "",
        "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k"),
        "KAFKA_PORT": str(free_port_pair()),
    }
    result = subprocess.run(
        ["bash", SCRIPT, "start"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Java not found" in result.stderr


def test_status_of_a_stopped_broker(tmp_path):
    result = run(
        "status",
        env={"LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k"), "KAFKA_PORT": str(free_port_pair())},
    )
    assert result.returncode == 3 and "kafka: stopped" in result.stdout


def test_port_taken_by_another_process(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        result = run(
            "start",
            env={
                "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k"),
                "KAFKA_PORT": str(port),
                "KAFKA_CONTROLLER_PORT": str(free_port_pair()),
            },
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.slow
def test_start_topics_stop_and_restart_keeps_data(tmp_path):
    # A cluster id that starts with "-" once failed the format step (read as an option).
    env = {
        "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k"),
        "KAFKA_PORT": str(free_port_pair()),
        "KAFKA_CLUSTER_ID": "-leadingDashClusterId0",
    }
    try:
        started = run("start", env=env)
        assert started.returncode == 0, started.stderr
        assert "formatting storage" in started.stdout and "ready at" in started.stdout
        meta = (tmp_path / "k" / "data" / "meta.properties").read_text()
        assert "cluster.id=-leadingDashClusterId0" in meta.splitlines()
        assert run("start", env=env).stdout.startswith("kafka: already running")
        assert run("status", env=env).returncode == 0
        assert run("topics", "create", "keep.me", "3", env=env).returncode == 0
        stopped = run("stop", env=env)
        assert stopped.returncode == 0 and "kafka: stopped" in stopped.stdout
        assert run("status", env=env).returncode == 3

        again = run("start", env=env)
        assert again.returncode == 0 and "formatting storage" not in again.stdout
        listed = run("topics", "list", env=env)
        assert "keep.me" in listed.stdout.split()
    finally:
        run("stop", env=env)


@pytest.mark.parametrize("port", ["abc", "0", "99999"])
def test_invalid_port_is_refused(tmp_path, port):
    result = run("status", env={"KAFKA_PORT": port, "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k")})
    assert result.returncode == 2
    assert f"invalid port '{port}'" in result.stderr

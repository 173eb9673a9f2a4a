"""scripts/s3.sh: a real S3-compatible server's life cycle, and clear errors for bad input."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.harness.env import ROOT
from tests.harness.ports import closed_port

SCRIPT = str(ROOT / "scripts" / "s3.sh")
KEYS = {"S3_ACCESS_KEY": "script-test", "S3_SECRET_KEY": "not-shown-anywhere-1234"}


def run(*args: str, env: dict[str, str], timeout: float = 90):
    return subprocess.run(
        [SCRIPT, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"S3_PORT": str(closed_port()), "LAKEHOUSE_S3_DIR": str(tmp_path / "s3"), **extra}


def test_unknown_command_prints_usage():
    result = run("explode", env={})
    assert result.returncode == 2 and "Usage: scripts/s3.sh" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"S3_PORT": "http"}, "s3.sh: error: invalid port 'http' (S3_PORT)"),
        ({"S3_SECRET_KEY": "x"}, "s3.sh: error: S3_ACCESS_KEY is not set"),
        ({"S3_ACCESS_KEY": "x"}, "s3.sh: error: S3_SECRET_KEY is not set"),
        ({**KEYS, "S3_BUCKETS": "Bad_Bucket"}, "s3.sh: error: invalid bucket name 'Bad_Bucket'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_starts_nothing(tmp_path, env, message):
    base = server_env(tmp_path)
    base.pop("S3_ACCESS_KEY", None)
    result = run("start", env={**base, "S3_ACCESS_KEY": "", "S3_SECRET_KEY": "", **env})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)
    assert not (tmp_path / "s3" / "server.pid").exists()


def test_a_port_taken_by_another_process_is_named(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        result = run("start", env={**server_env(tmp_path), **KEYS, "S3_PORT": str(port)})
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_start_status_stop_and_the_secret_stays_out_of_output_and_argv(tmp_path):
    env = {**server_env(tmp_path), **KEYS, "S3_BUCKETS": "lake raw"}
    started = run("start", env=env)
    try:
        assert started.returncode == 0, started.stderr
        assert "s3: ready at http://127.0.0.1:" in started.stdout
        assert sorted(p.name for p in (tmp_path / "s3" / "data").iterdir()) == ["lake", "raw"]
        pid = (tmp_path / "s3" / "server.pid").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert KEYS["S3_SECRET_KEY"] not in argv
        assert KEYS["S3_SECRET_KEY"] not in started.stdout + started.stderr
        assert oct((tmp_path / "s3" / "s3proxy.conf").stat().st_mode & 0o777) == "0o600"
        assert run("start", env=env).stdout.startswith("s3: already running")
        assert run("status", env=env).returncode == 0
    finally:
        stopped = run("stop", env=env)
    assert stopped.returncode == 0 and "s3: stopped" in stopped.stdout
    status = run("status", env=env)
    assert status.returncode == 3 and "s3: stopped" in status.stdout

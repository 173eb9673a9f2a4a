"""The launcher relays a job's output as it is written, with or without awk of any kind.

The JVM part is a stand-in here: ``$SPARK_HOME/bin/spark-submit`` is a small
bash script that does what Spark's PythonRunner does with a driver (runs it
with ``$PYSPARK_DRIVER_PYTHON``, stderr merged into stdout, copied through as
it comes) and runs a test driver instead of the job. What is under test is
everything around it: ``spark-submit.sh``, the launcher's check-only pass,
its relay and the job side's stderr marking. Runs through real spark-submit
are in test_launcher.py and the job tiers.
"""

from __future__ import annotations

import os
import pty
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT

LAUNCHER = str(ROOT / "spark-submit.sh")

STANDIN = """#!/bin/bash
# stand-in for spark-submit: record the call, run the test driver like PythonRunner
printf '%s\\n' "$@" > "$STANDIN_LOG"
export PYSPARK_GATEWAY_PORT=0
exec "$PYSPARK_DRIVER_PYTHON" "$STANDIN_DRIVER" 2>&1
"""

DRIVER = """
import os, sys, time
from pathlib import Path
from lakehouse.runtime.job import route_stderr

route_stderr()
print("first line")  # no flush: the launcher makes the driver's output unbuffered
print(f"stderr is a terminal: {sys.stderr.isatty()}", file=sys.stderr)
sys.stderr.write("\\r[#.] 1/2")
sys.stderr.flush()
go = Path(os.environ["STANDIN_GO"])
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        print("the test never said go", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.02)
sys.stderr.write("\\r[##] 2/2")
sys.stderr.flush()
print("", file=sys.stderr)
print("second line")
sys.exit(int(os.environ.get("STANDIN_EXIT", "0")))
"""


@pytest.fixture
def standin(tmp_path) -> dict[str, str]:
    home = tmp_path / "spark-home"
    (home / "bin").mkdir(parents=True)
    submit = home / "bin" / "spark-submit"
    submit.write_text(STANDIN)
    submit.chmod(0o755)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    return {
        "SPARK_HOME": str(home),
        "STANDIN_DRIVER": str(driver),
        "STANDIN_LOG": str(tmp_path / "spark-submit.args"),
        "STANDIN_GO": str(tmp_path / "go"),
    }


def path_with(tmp_path: Path, awk: str | None) -> str:
    """A PATH with only what spark-submit.sh needs, plus ``awk`` as mawk, gawk or absent."""
    bin_dir = tmp_path / f"bin-{awk or 'none'}"
    bin_dir.mkdir()
    for tool in ("bash", "env", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    if awk is not None:
        found = shutil.which(awk)
        assert found, f"{awk} is not installed (scripts/setup.sh --os-packages installs it)"
        (bin_dir / "awk").symlink_to(found)
    return str(bin_dir)


def reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in iter(stream.readline, b""):
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("awk", [None, "mawk", "gawk"])
def test_each_line_reaches_the_caller_when_it_is_written(tmp_path, standin, awk):
    env = {**os.environ, **standin, "PATH": path_with(tmp_path, awk)}
    proc = subprocess.Popen(
        [LAUNCHER, "--conf-dir", str(ROOT / "conf"), "doctor"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    out, err = reader(proc.stdout), reader(proc.stderr)
    try:
        # the driver writes its second line only after "go": the first must be here before
        assert out.get(timeout=60) == b"first line\n"
        assert err.get(timeout=10) == b"stderr is a terminal: False\n"
        Path(standin["STANDIN_GO"]).touch()
        assert out.get(timeout=30) == b"second line\n"
        assert out.get(timeout=30) is None
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    rest = b""
    while (line := err.get(timeout=10)) is not None:
        rest += line
    assert rest == b"\r[#.] 1/2\r[##] 2/2\n"  # the bar's pieces, each written when flushed
    assert Path(standin["STANDIN_LOG"]).read_text().splitlines()[-1] == str(ROOT / "conf")


def test_the_job_exit_code_is_the_launchers(tmp_path, standin):
    Path(standin["STANDIN_GO"]).touch()
    env = {**os.environ, **standin, "STANDIN_EXIT": "3"}
    result = subprocess.run(
        [LAUNCHER, "doctor"], capture_output=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 3
    assert result.stdout == b"first line\nsecond line\n"


def test_a_terminal_gets_the_progress_bar(tmp_path, standin):
    """With stderr on a terminal, the job's stderr says it is one (the backfill draws its bar)."""
    Path(standin["STANDIN_GO"]).touch()
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [LAUNCHER, "doctor"],
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, **standin},
        )
        os.close(follower)
        seen = b""
        while b"2/2" not in seen:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the launcher is gone
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    assert b"stderr is a terminal: True" in seen


def test_a_bad_pipeline_file_exits_2_before_spark_submit_starts(tmp_path, standin):
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml(keys=["nope"])})
    result = subprocess.run(
        [
            LAUNCHER,
            "--conf-dir",
            str(conf),
            "batch_load",
            "--pipeline",
            "orders",
            "--date",
            "2026-03-01",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **standin, "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "keys[0]: 'nope' is not a column of the schema" in errors[0]
    assert not Path(standin["STANDIN_LOG"]).exists(), "spark-submit was started"
    assert '"exit_code": 2' in result.stdout.splitlines()[-1]
    assert not (tmp_path / "lake").exists()


def test_lakehouse_run_is_the_same_launcher(tmp_path, standin):
    Path(standin["STANDIN_GO"]).touch()
    env = {**os.environ, **standin, "PYTHONPATH": str(ROOT / "lib")}
    env.pop("LAKEHOUSE_PROG", None)
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse", "run", "--conf-dir", str(ROOT / "conf"), "doctor"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"first line\nsecond line\n"
    bad = subprocess.run(
        [sys.executable, "-m", "lakehouse", "run", "docter"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("lakehouse run: error: unknown job 'docter'")
    assert "did you mean 'doctor'?" in bad.stderr

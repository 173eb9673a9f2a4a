"""The chaos tests' wait for a job: a hung one is killed and reported, not waited on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness.procs import communicate, session_pids

HANGS = (
    "import faulthandler, signal, time\n"
    "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
    "def stuck_in_here():\n"
    "    time.sleep(120)\n"
    "stuck_in_here()\n"
)


def test_a_hung_job_is_killed_with_its_python_stack_in_the_report():
    job = subprocess.Popen(
        [sys.executable, "-c", HANGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with pytest.raises(AssertionError) as failed:
        communicate(job, 2)
    report = str(failed.value)
    assert "no exit within 2s; killed." in report
    assert "stuck_in_here" in report  # the stack it dumped on SIGUSR1
    assert job.returncode is not None and session_pids(job.pid) == []


def test_a_job_that_ends_in_time_gives_its_output():
    job = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert communicate(job, 60) == ("out\n", "err\n")

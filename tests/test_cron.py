"""orchestration/cron/orders-daily.sh: the chain's order, dates, retries and stops.

The jobs themselves are covered elsewhere (and the same chain runs for real
in tests/test_airflow.py); here a stub launcher records each call and exits
with the codes a test scripts, so the script's own logic is what is tested.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = str(ROOT / "orchestration" / "cron" / "orders-daily.sh")


def run(tmp_path: Path, codes: list[int], *args: str) -> tuple[int, list[str], str]:
    calls, plan = tmp_path / "calls", tmp_path / "codes"
    plan.write_text("".join(f"{c}\n" for c in codes))
    stub = tmp_path / "launcher"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        f'code=$(head -n1 {plan}); sed -i 1d {plan}; exit "${{code:-0}}"\n'
    )
    stub.chmod(0o755)
    env = {**os.environ, "LAKEHOUSE_LAUNCHER": str(stub), "RETRY_DELAY": "0"}
    result = subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    made = calls.read_text().splitlines() if calls.exists() else []
    return result.returncode, made, result.stderr


def test_the_chain_runs_in_order_for_yesterday_by_default(tmp_path):
    yesterday = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    code, calls, _ = run(tmp_path, [0, 0, 0])
    assert code == 0
    assert calls == [
        "stream_ingest --pipeline orders --trigger available_now",
        f"batch_load --pipeline orders --date {yesterday}",
        "health --pipeline orders",
    ]


@pytest.mark.parametrize("transient", [1, 75])
def test_1_and_75_are_tried_again_then_the_chain_goes_on(tmp_path, transient):
    code, calls, _ = run(tmp_path, [0, transient, transient, 0, 0], date(2026, 3, 1).isoformat())
    assert code == 0
    assert [c.split()[0] for c in calls] == [
        "stream_ingest",
        "batch_load",
        "batch_load",
        "batch_load",
        "health",
    ]


def test_three_transient_failures_stop_the_chain_with_that_code(tmp_path):
    code, calls, err = run(tmp_path, [75, 75, 75], "2026-03-01")
    assert code == 75 and len(calls) == 3 and "stream_ingest exited 75; stopping" in err


@pytest.mark.parametrize("permanent", [2, 3, 4])
def test_2_3_and_4_stop_at_once_without_a_retry(tmp_path, permanent):
    code, calls, err = run(tmp_path, [0, permanent], "2026-03-01")
    assert code == permanent and len(calls) == 2
    assert f"batch_load exited {permanent}; stopping" in err


def test_a_second_copy_while_one_runs_exits_75_and_runs_nothing(tmp_path):
    lock = ROOT / ".build" / "cron-orders.lock"
    lock.parent.mkdir(exist_ok=True)
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        deadline = datetime.now() + timedelta(seconds=10)
        while subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 0:
            assert datetime.now() < deadline, "the lock was never taken"
        code, calls, err = run(tmp_path, [0, 0, 0], "2026-03-01")
    finally:
        holder.kill()
        holder.wait()
    assert code == 75 and calls == [] and "another run for orders is in progress" in err

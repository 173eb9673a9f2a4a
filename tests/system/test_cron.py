"""orchestration/cron/orders-daily.sh: the chain's order, dates, retries and stops.

The jobs themselves are covered elsewhere (and the same chain runs for real
in tests/system/test_airflow.py); here a stub launcher records each call and exits
with the codes a test scripts, so the script's own logic is what is tested.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.harness.env import ROOT

SCRIPT = str(ROOT / "orchestration" / "cron" / "orders-daily.sh")
MAINTAIN = str(ROOT / "orchestration" / "cron" / "orders-maintain.sh")


def run(
    tmp_path: Path, codes: list[int], *args: str, script: str = SCRIPT
) -> tuple[int, list[str], str]:
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
        [script, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    made = calls.read_text().splitlines() if calls.exists() else []
    return result.returncode, made, result.stderr


def test_the_chain_runs_in_order_for_yesterday_by_default(tmp_path):
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    code, calls, _ = run(tmp_path, [0, 0, 0, 0])
    assert code == 0
    assert calls == [
        "stream_ingest --pipeline orders --trigger available_now",
        f"batch_load --pipeline orders --date {yesterday.isoformat()}",
        f"backfill --pipeline orders --start {yesterday - timedelta(days=3)} "
        f"--end {yesterday - timedelta(days=1)} --changed-only",  # late events of the days before
        "health --pipeline orders",
    ]


@pytest.mark.parametrize("transient", [1, 75])
def test_1_and_75_are_tried_again_then_the_chain_goes_on(tmp_path, transient):
    code, calls, _ = run(tmp_path, [0, transient, transient, 0, 0, 0], date(2026, 3, 1).isoformat())
    assert code == 0
    assert [c.split()[0] for c in calls] == [
        "stream_ingest",
        "batch_load",
        "batch_load",
        "batch_load",
        "backfill",
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
    import fcntl

    lock = ROOT / ".build" / "cron-orders.lock"
    lock.parent.mkdir(exist_ok=True)
    # held by this process (flock(2), as flock(1) takes it) and released on close: a
    # holder process killed with a child still holding the file would keep it for later tests
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, calls, err = run(tmp_path, [0, 0, 0], "2026-03-01")
    assert code == 75 and calls == [] and "another run for orders is in progress" in err


def test_maintain_runs_on_its_own_lock_beside_the_daily_chain(tmp_path):
    import fcntl

    lock = ROOT / ".build" / "cron-orders.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as held:  # the daily chain runs: upkeep goes ahead anyway
        fcntl.flock(held, fcntl.LOCK_EX)
        code, calls, _ = run(tmp_path, [75, 0], "--dry-run", script=MAINTAIN)
    assert code == 0
    assert calls == ["maintain --pipeline orders --dry-run"] * 2  # 75 was tried again
    (tmp_path / "calls").unlink()
    with open(ROOT / ".build" / "cron-orders-maintain.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, calls, err = run(tmp_path, [0], script=MAINTAIN)
    assert code == 75 and calls == [] and "orders-maintain: another run for orders" in err


def test_maintain_refused_for_its_config_stops_with_2_at_once(tmp_path):
    code, calls, err = run(tmp_path, [2, 0], script=MAINTAIN)
    assert code == 2 and calls == ["maintain --pipeline orders"]
    assert "maintain exited 2; stopping" in err


@pytest.mark.slow
@pytest.mark.kafka
def test_the_chain_run_two_nights_loads_a_late_arrival_into_silver(
    spark, tmp_path, kafka_bootstrap, kafka_topic
):
    """The real chain (real launcher, broker, Delta): an event of D that reaches
    Kafka after D's run is in silver after D+1's run."""
    from datagen.orders import generate, produce
    from tests.harness.builders import pipeline_yaml, write_conf

    lake = tmp_path / "lake"
    conf = write_conf(
        tmp_path,
        pipelines={
            "orders": pipeline_yaml(
                source={"kafka": {"topic": kafka_topic, "bootstrap_servers": kafka_bootstrap}}
            )
        },
    )
    env = {
        **os.environ,
        "LAKEHOUSE_CONF_DIR": str(conf),
        "LAKEHOUSE_LAKE_ROOT": str(lake),
        "RETRY_DELAY": "1",
    }
    day = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

    def night(of: date) -> None:
        result = subprocess.run(
            [SCRIPT, of.isoformat()], capture_output=True, text=True, env=env, timeout=900
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    produce(
        kafka_bootstrap, kafka_topic, generate(40, seed=5, start=day, spread=timedelta(hours=8))
    )
    night(day.date())
    # 23:58 on D, sent after D's run: on time for the next stream run (watermark ~15:00)
    tail = generate(1, seed=6, start=day.replace(hour=23, minute=58), dup_share=0, id_prefix="t")
    nextday = generate(
        30, seed=7, start=day + timedelta(days=1), spread=timedelta(hours=8), id_prefix="n"
    )
    produce(kafka_bootstrap, kafka_topic, tail + nextday)
    night(day.date() + timedelta(days=1))

    bronze = spark.read.format("delta").load(str(lake / "bronze" / "orders"))
    silver = spark.read.format("delta").load(str(lake / "silver" / "orders"))
    for d in (day.date(), day.date() + timedelta(days=1)):
        wanted = {r.order_id for r in bronze.where(bronze.event_date == d).collect()}
        got = {r.order_id for r in silver.where(silver.event_date == d).collect()}
        assert got == wanted, f"silver {d} differs from its source"
    assert tail[0].order_id in {r.order_id for r in silver.collect()}
    runs = spark.read.format("delta").load(str(lake / "_ops" / "runs"))
    reloads = runs.where("job = 'batch_load' AND logical_date = '2026-03-01'").count()
    assert reloads == 2  # loaded on its night, loaded again the next one

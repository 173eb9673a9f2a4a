"""backfill on real Delta: plan and skip, parallel = serial, retries, catch-up, bad ranges."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import date, timedelta

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.batch.backfill import (
    catchup_range,
    date_range,
    parse_injections,
    plan,
    worst_exit_code,
)
from lakehouse.core.errors import UsageError
from tests.harness.backfill import (
    BackfillHarness,
    day_rows,
)
from tests.harness.env import ROOT

D1 = date(2026, 3, 1)
DAYS = [D1 + timedelta(days=i) for i in range(4)]


@pytest.fixture
def bf(tmp_path, capsys, monkeypatch):
    return BackfillHarness(tmp_path, capsys, monkeypatch)


# ---------------------------------------------------------------- pure planning


def test_date_range_and_its_limits():
    assert date_range(D1, D1, 1) == [D1]
    assert len(date_range(D1, date(2026, 3, 31), 400)) == 31
    with pytest.raises(UsageError, match="after --end"):
        date_range(date(2026, 3, 2), D1, 400)
    with pytest.raises(UsageError, match="more than --max-days 10"):
        date_range(D1, date(2026, 3, 11), 10)


def test_catchup_range_covers_the_gap_and_the_lookback():
    loaded = {date(2026, 3, d) for d in (1, 2, 3)}
    span = (D1, date(2026, 3, 3))
    dates, again = catchup_range(span, loaded, date(2026, 3, 5), 2, 400)
    assert dates == [date(2026, 3, d) for d in (2, 3, 4, 5)]
    assert again == {date(2026, 3, 2), date(2026, 3, 3)}
    assert catchup_range(
        (D1, date(2026, 3, 5)), set(DAYS) | {date(2026, 3, 5)}, date(2026, 3, 5), 0, 400
    ) == ([], set())
    with pytest.raises(UsageError, match="no successful load"):
        catchup_range(None, set(), D1, 1, 400)


def test_catchup_range_fills_the_holes_before_the_last_load():
    """03-02 failed between two good loads: catch-up plans it, not only what follows 03-03."""
    loaded = {D1, date(2026, 3, 3)}
    dates, again = catchup_range((D1, date(2026, 3, 3)), loaded, date(2026, 3, 5), 1, 400)
    assert dates == [date(2026, 3, d) for d in (2, 3, 4, 5)]
    assert again == {date(2026, 3, 3)}
    steps = plan(dates, loaded, force=False, again=again)
    assert [s.day.day for s in steps if s.run] == [2, 3, 4, 5]
    # loaded under another config only: a hole too; lookback 0 re-runs nothing loaded
    dates, again = catchup_range((D1, date(2026, 3, 3)), {D1}, date(2026, 3, 3), 0, 400)
    assert dates == [date(2026, 3, 2), date(2026, 3, 3)] and again == set()
    # --max-days counts from the first date to run, and says what to do
    with pytest.raises(UsageError, match=r"2026-03-02.*--max-days 3.*--start/--end"):
        catchup_range((D1, date(2026, 3, 3)), loaded, date(2026, 3, 5), 1, 3)
    assert catchup_range(
        (D1, date(2026, 3, 3)), loaded | {date(2026, 3, 2)}, date(2026, 3, 5), 1, 3
    )[0] == [date(2026, 3, d) for d in (3, 4, 5)]


def test_plan_skips_loaded_dates_unless_forced():
    steps = plan([D1, DAYS[1]], {D1}, force=False)
    assert [(s.run, s.why.split(";")[0]) for s in steps] == [
        (False, "loaded before from its source as it is now"),
        (True, "not loaded yet with this pipeline config"),
    ]
    assert all(s.run for s in plan([D1, DAYS[1]], {D1}, force=True))


def test_worst_exit_code_orders_failures():
    assert worst_exit_code([0, 0]) == 0
    assert worst_exit_code([0, 75]) == 75
    assert worst_exit_code([75, 3]) == 3
    assert worst_exit_code([3, 1, 75]) == 1
    assert worst_exit_code([2]) == 1  # schema drift on a date: a permanent failure
    assert worst_exit_code([]) == 0


def test_parse_injections_refuses_nonsense():
    assert parse_injections("2026-03-01=transient:2, 2026-03-02=permanent") == {
        D1: ("transient", 2),
        DAYS[1]: ("permanent", 1),
    }
    with pytest.raises(UsageError, match="LAKEHOUSE_INJECT_FAILURES"):
        parse_injections("2026-03-01=sometimes")


# ---------------------------------------------------------------- real runs


def test_a_range_loads_every_date_then_a_rerun_skips_them(spark, bf):
    bf.land(*DAYS[:3])
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-03")
    assert code == 0 and record["status"] == "success"
    assert bf.silver(spark).count() == 9
    assert [(d, s) for d, _, s, _ in bf.loads(spark)] == [(d, "success") for d in DAYS[:3]]

    code, record, out = bf.run("--start", "2026-03-01", "--end", "2026-03-03")
    assert code == 0 and record["details"]["skipped"] == 3 and record["details"]["to_run"] == 0
    assert len(bf.loads(spark)) == 3  # nothing ran again
    assert "loaded before from its source as it is now" in out


def test_parallel_2_gives_the_serial_table(spark, bf):
    bf.land(*DAYS)
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-04", "--parallel", "1")[0] == 0
    serial = bf.comparable(spark).collect()
    shutil.rmtree(bf.lake / "silver")
    shutil.rmtree(bf.lake / "_ops")
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-04", "--parallel", "2")
    assert code == 0 and record["details"]["parallel"] == 2
    now = bf.comparable(spark)
    assert_df_equality(spark.createDataFrame(serial, now.schema), now)


def test_grouped_loads_commit_once_per_group_and_equal_the_serial_table(spark, bf):
    bf.land(*DAYS)
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-04", "--parallel", "1")[0] == 0
    serial = bf.comparable(spark).collect()
    shutil.rmtree(bf.lake / "silver")
    shutil.rmtree(bf.lake / "_ops")
    code, record, _ = bf.run(
        "--start", "2026-03-01", "--end", "2026-03-04", "--group-days", "3", "--parallel", "2"
    )
    assert code == 0 and record["details"]["group_days"] == 3
    now = bf.comparable(spark)
    assert_df_equality(spark.createDataFrame(serial, now.schema), now)
    assert [(d, s) for d, _, s, _ in bf.loads(spark)] == [(d, "success") for d in DAYS]
    history = DeltaTable.forPath(spark, str(bf.lake / "silver" / "orders")).history()
    writes = history.where(F.col("operation") == "MERGE").collect()
    assert sorted(json.loads(r.userMetadata).get("logical_dates", ["one"])[0] for r in writes) == [
        "2026-03-01",
        "one",
    ]  # 03-01..03-03 in one commit, 03-04 in another


def test_a_date_without_source_fails_alone_inside_its_group(spark, bf):
    bf.land(DAYS[0], DAYS[2])
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-03", "--group-days", "3")
    assert code == 1
    statuses = {r["date"]: r["status"] for r in record["details"]["results"]}
    assert statuses == {"2026-03-01": "done", "2026-03-02": "failed", "2026-03-03": "done"}
    assert {r.order_id[:4] for r in bf.silver(spark).collect()} == {"0301", "0303"}


def test_a_drifting_date_fails_alone_and_its_group_still_loads(spark, bf):
    bf.land(*DAYS[:3])
    bf.replace_day(DAYS[1], [{**r, "coupon": "X"} for r in day_rows(DAYS[1])])
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-03", "--group-days", "3")
    assert code == 1
    results = {r["date"]: r for r in record["details"]["results"]}
    assert results["2026-03-02"]["status"] == "failed" and results["2026-03-02"]["exit_code"] == 2
    assert "coupon" in results["2026-03-02"]["error"]
    assert {r.order_id[:4] for r in bf.silver(spark).collect()} == {"0301", "0303"}


def test_a_failed_quality_gate_fails_its_date_alone_with_exit_3_and_no_retry(spark, bf):
    bf.configure(quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "fail"}])
    bf.land(*DAYS[:3])
    rows = [{**r, "amount": "-1.00"} if i == 0 else r for i, r in enumerate(day_rows(DAYS[1]))]
    bf.replace_day(DAYS[1], rows)
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-03", "--group-days", "3")
    assert code == 3
    results = {r["date"]: r for r in record["details"]["results"]}
    assert results["2026-03-02"]["status"] == "failed" and results["2026-03-02"]["exit_code"] == 3
    assert "range_amount (1 of 3 rows" in results["2026-03-02"]["error"]
    assert {r.order_id[:4] for r in bf.silver(spark).collect()} == {"0301", "0303"}
    assert [x for x in bf.loads(spark) if x[0] == DAYS[1]] == [(DAYS[1], 1, "failed", 3)]


def test_row_count_change_in_a_group_gives_the_verdicts_of_dates_loaded_one_at_a_time(spark, bf):
    """Each date of a group is compared with the earlier dates of the group that pass."""
    change = {"rule": "row_count_change", "max_ratio": 0.5, "window": 2, "on_fail": "fail"}
    bf.configure(quality=[change])
    bf.land(*DAYS)
    # 4 rows; 9 (+125% of 4: fails); 7 (+75% of 4 alone, +8% if the failed 9 counted:
    # fails); 5 (+25% of 4: passes)
    for day, n in zip(DAYS, (4, 9, 7, 5), strict=True):
        bf.replace_day(day, day_rows(day, n))

    def verdicts(group: str):
        code, record, _ = bf.run(
            "--start", "2026-03-01", "--end", "2026-03-04", "--group-days", group, "--parallel", "1"
        )
        codes = {r["date"]: r["exit_code"] for r in record["details"]["results"]}
        return code, codes, bf.comparable(spark).collect()

    alone = verdicts("1")
    assert alone[:2] == (
        3,
        {"2026-03-01": 0, "2026-03-02": 3, "2026-03-03": 3, "2026-03-04": 0},
    )
    shutil.rmtree(bf.lake / "silver")
    shutil.rmtree(bf.lake / "_ops")
    shutil.rmtree(bf.lake / "quarantine", ignore_errors=True)
    grouped = verdicts("4")
    assert grouped[:2] == alone[:2], f"grouped {grouped[1]} vs one at a time {alone[1]}"
    assert grouped[2] == alone[2]
    assert {r.order_id[:4] for r in grouped[2]} == {"0301", "0304"}


def test_a_transient_failure_is_retried_with_growing_delays(spark, bf, monkeypatch):
    bf.land(*DAYS[:2])
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAILURES", "2026-03-02=transient:2")
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-02")
    assert code == 0
    assert bf.loads(spark) == [
        (D1, 1, "success", 0),
        (DAYS[1], 1, "failed", 75),
        (DAYS[1], 2, "failed", 75),
        (DAYS[1], 3, "success", 0),
    ]
    d2 = next(r for r in record["details"]["results"] if r["date"] == "2026-03-02")
    # full jitter: each wait is drawn below a ceiling that doubles (100 ms, then 200 ms)
    assert len(d2["delays_s"]) == 2 and d2["delays_s"][0] <= 0.1 and d2["delays_s"][1] <= 0.2


def test_transient_failures_beyond_the_budget_exit_75_and_keep_the_rest(spark, bf, monkeypatch):
    bf.land(*DAYS[:2])
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAILURES", "2026-03-01=transient:5")
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-02")
    assert code == 75 and record["exit_code"] == 75
    assert [r for r in bf.loads(spark) if r[0] == D1] == [(D1, n, "failed", 75) for n in (1, 2, 3)]
    assert {r.order_id[:4] for r in bf.silver(spark).collect()} == {"0302"}


def test_a_permanent_failure_is_not_retried_and_the_others_load(spark, bf, monkeypatch):
    bf.land(*DAYS[:3])
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAILURES", "2026-03-02=permanent")
    code, record, out = bf.run("--start", "2026-03-01", "--end", "2026-03-03", "--parallel", "1")
    assert code == 1
    assert [r for r in bf.loads(spark) if r[0] == DAYS[1]] == [(DAYS[1], 1, "failed", 1)]
    assert {r.order_id[:4] for r in bf.silver(spark).collect()} == {"0301", "0303"}
    assert "injected permanent failure for 2026-03-02" in record["error_message"]
    assert "2026-03-02  failed" in out

    shutil.rmtree(bf.lake / "silver")
    shutil.rmtree(bf.lake / "_ops")
    code, record, _ = bf.run(
        "--start", "2026-03-01", "--end", "2026-03-03", "--parallel", "1", "--fail-fast"
    )
    assert code == 1
    statuses = {r["date"]: r["status"] for r in record["details"]["results"]}
    assert statuses == {"2026-03-01": "done", "2026-03-02": "failed", "2026-03-03": "not_run"}


def test_catchup_fills_exactly_the_gap_plus_the_lookback(spark, bf):
    bf.land(*DAYS)
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-02")[0] == 0
    code, record, _ = bf.run("--catchup", "--until", "2026-03-04")
    assert code == 0
    ran = [r["date"] for r in record["details"]["results"]]
    assert ran == ["2026-03-02", "2026-03-03", "2026-03-04"]  # lookback 1 re-runs 03-02
    assert bf.silver(spark).count() == 12


def test_catchup_fills_a_hole_left_before_the_last_loaded_date(spark, bf, monkeypatch):
    bf.land(*DAYS)
    code, record, _ = bf.run("--catchup", "--until", "2026-03-04")
    assert code == 2 and "no successful load" in record["error_message"]
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAILURES", "2026-03-02=permanent")
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-03")[0] == 1  # 03-02 failed for good
    monkeypatch.delenv("LAKEHOUSE_INJECT_FAILURES")
    code, record, _ = bf.run("--catchup", "--until", "2026-03-04")
    assert code == 0
    ran = [r["date"] for r in record["details"]["results"]]
    assert ran == ["2026-03-02", "2026-03-03", "2026-03-04"], ran  # the hole, lookback, new
    assert bf.silver(spark).count() == 12
    code, record, _ = bf.run("--catchup", "--until", "2026-03-04", "--lookback", "0")
    assert code == 0 and record["details"]["to_run"] == 0  # nothing left to fill


def test_force_reruns_every_date_and_changes_nothing(spark, bf):
    bf.land(*DAYS[:2])
    bf.run("--start", "2026-03-01", "--end", "2026-03-02")
    before = bf.comparable(spark).collect()
    table = DeltaTable.forPath(spark, str(bf.lake / "silver" / "orders"))
    version = table.history(1).first()[0]
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-02", "--force")
    assert code == 0 and record["details"]["to_run"] == 2
    assert all(r["unchanged"] == 3 for r in record["details"]["results"])
    assert bf.comparable(spark).collect() == before
    assert table.history(1).first()[0] == version


def test_dry_run_prints_the_plan_and_loads_nothing(spark, bf):
    bf.land(*DAYS[:2])
    bf.run("--start", "2026-03-01", "--end", "2026-03-01")
    code, record, out = bf.run("--start", "2026-03-01", "--end", "2026-03-02", "--dry-run")
    assert code == 0 and record["status"] == "dry_run"
    assert "2026-03-01  skip" in out and "2026-03-02  run" in out
    assert len(bf.loads(spark)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-03-05", "--end", "2026-03-01"], "is after --end"),
        (["--start", "2025-01-01", "--end", "2026-03-01"], "more than --max-days 400"),
        (["--start", "2026-03-01", "--end", "2026-03-31", "--max-days", "7"], "--max-days 7"),
        (["--start", "2026-02-29", "--end", "2026-03-01"], "invalid date '2026-02-29'"),
        (["--start", "2026-03-01"], "give --start and --end"),
        (["--catchup"], "--catchup needs --until"),
        (["--start", "2026-03-01", "--end", "2026-03-02", "--parallel", "0"], "at least 1"),
    ],
)
def test_bad_ranges_exit_2_before_any_spark_work(bf, args, message):
    code, record, _ = bf.run(*args)
    assert code == 2 and message in record["error_message"]
    assert not bf.lake.exists()


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_table(spark, bf, tmp_path):
    days = [D1 + timedelta(days=i) for i in range(6)]
    bf.land(*days)
    cmd = [str(ROOT / "spark-submit.sh"), "--conf-dir", str(bf.conf), "backfill"]
    cmd += ["--pipeline", "orders", "--start", "2026-03-01", "--end", "2026-03-06"]
    cmd += ["--parallel", "1"]
    env = {**os.environ, "LAKEHOUSE_LAKE_ROOT": str(bf.lake)}
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    commits = bf.lake / "silver" / "orders" / "_delta_log"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if commits.exists() and len(list(commits.glob("*.json"))) >= 3:  # create + 2 dates
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the backfill finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    finished = {r[0] for r in bf.loads(spark) if r[2] == "success"}
    assert 1 <= len(finished) < 6

    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-06")
    assert code == 0
    ran = {date.fromisoformat(r["date"]) for r in record["details"]["results"]}
    assert ran == set(days) - finished  # the finished dates did not run again
    assert all(n == 1 for n in _success_counts(bf.loads(spark)).values())

    other = tmp_path / "serial"
    bf.monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(other))
    bf.lake = other
    bf.land(*days)
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-06", "--parallel", "1")[0] == 0
    serial = bf.comparable(spark)
    bf.lake = tmp_path / "lake"
    assert_df_equality(bf.comparable(spark), serial)


def _success_counts(loads) -> dict:
    counts: dict = {}
    for day, _attempt, status, _code in loads:
        if status == "success":
            counts[day] = counts.get(day, 0) + 1
    return counts


def test_a_date_whose_source_changed_after_its_load_runs_again(spark, bf):
    bf.land(*DAYS[:2])
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-02")[0] == 0
    # a late file for 03-02 lands after its load (the daily chain's late tail)
    late = bf.lake / "landing" / "date=2026-03-02" / "late.json"
    late.write_text(json.dumps({**day_rows(DAYS[1])[0], "order_id": "0302-late"}) + "\n")

    code, _, out = bf.run("--start", "2026-03-01", "--end", "2026-03-02", "--dry-run")
    assert code == 0 and "2026-03-02  run   loaded before; its source changed since" in out

    code, record, out = bf.run("--start", "2026-03-01", "--end", "2026-03-02")

    assert code == 0
    assert [r["date"] for r in record["details"]["results"]] == ["2026-03-02"]
    assert "0302-late" in {r.order_id for r in bf.silver(spark).collect()}
    code, record, _ = bf.run("--start", "2026-03-01", "--end", "2026-03-02")
    assert code == 0 and record["details"]["to_run"] == 0  # loaded from the source as it is


def test_changed_only_reloads_changed_dates_and_loads_no_new_one(spark, bf):
    bf.land(*DAYS[:2])
    assert bf.run("--start", "2026-03-01", "--end", "2026-03-01")[0] == 0
    bf.replace_day(DAYS[0], day_rows(DAYS[0], n=5))  # the same file, landed again, longer

    code, record, out = bf.run("--start", "2026-03-01", "--end", "2026-03-02", "--changed-only")

    assert code == 0
    assert [r["date"] for r in record["details"]["results"]] == ["2026-03-01"]
    assert "2026-03-02  skipped" in out and "not loaded before (--changed-only)" in out
    assert {r.order_id for r in bf.silver(spark).collect()} == {f"0301-{i}" for i in range(5)}


def test_a_date_loaded_from_another_source_kind_is_not_loaded_for_this_one(spark, tmp_path):
    from lakehouse.batch.backfill import loaded_dates
    from lakehouse.lake.ledger import Ledger, RunRecord, utcnow

    ledger = Ledger(spark, str(tmp_path / "runs"))
    for day, kind in ((D1, "bronze"), (DAYS[1], "files")):
        record = RunRecord(
            "r-" + day.isoformat(),
            "batch_load",
            utcnow(),
            pipeline="orders",
            logical_date=day,
            conf_fingerprint="fp",
            details={"source_kind": kind, "source_state": "1:abc"},
        )
        ledger.append(record.finish("success", 0))
    assert loaded_dates(ledger, "orders", "fp", "files") == {DAYS[1]: "1:abc"}
    assert loaded_dates(ledger, "orders", "fp", "bronze") == {D1: "1:abc"}
    assert set(loaded_dates(ledger, "orders", "fp")) == {D1, DAYS[1]}

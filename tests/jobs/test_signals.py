"""SIGTERM/SIGINT to a running job: Spark work cancelled, exit 75, the run recorded.

The signals are real (``os.kill`` of this process); the jobs run in-process
on the shared session, so "no Spark job left running" is checked on it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from lakehouse.core.stopping import StopToken
from lakehouse.ops import notify
from lakehouse.runtime.job import Outcome, job_parser, run_job
from tests.harness.backfill import BackfillHarness
from tests.harness.builders import write_conf

D1 = date(2026, 3, 1)


def parser():
    return job_parser("demo", "A demo job.")


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    return write_conf(tmp_path)


def ledger_rows(spark, tmp_path):
    return spark.read.format("delta").load(str(tmp_path / "lake" / "_ops" / "runs")).collect()


def sigterm_soon(seconds: float = 0.5) -> None:
    threading.Timer(seconds, os.kill, args=(os.getpid(), signal.SIGTERM)).start()


def test_sigterm_while_the_main_thread_waits_in_a_spark_action(spark, conf, tmp_path, capsys):
    reached_the_end = []

    def body(ctx):
        def slow(x):
            time.sleep(0.5)
            return x

        sigterm_soon(1.0)
        # 2 partitions x 60 rows x 0.5 s: a minute of work unless it is cancelled
        ctx.spark.range(0, 120, numPartitions=2).select(F.udf(slow, "long")("id")).collect()
        reached_the_end.append(True)
        return Outcome()

    previous = signal.getsignal(signal.SIGTERM)
    code = run_job("demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), body)

    assert code == 75 and not reached_the_end
    assert signal.getsignal(signal.SIGTERM) == previous  # handlers restored
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []  # the action was cancelled
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["error_class"] == "Interrupted"
    assert printed["error_message"].startswith("interrupted by SIGTERM")
    (row,) = ledger_rows(spark, tmp_path)
    assert (row.run_id, row.status, row.exit_code) == (printed["run_id"], "failed", 75)


def test_a_stop_between_actions_cancels_the_next_one(spark, conf, tmp_path, capsys):
    def body(ctx):
        os.kill(os.getpid(), signal.SIGTERM)
        assert ctx.stop.wait(10)  # the flag is set; no exception reached this frame
        ctx.spark.range(0, 60, numPartitions=1).select(
            F.udf(lambda x: time.sleep(1) or x, "long")("id")
        ).collect()  # a minute of work, started after the stop: cancelled
        return Outcome()

    code = run_job("demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), body)

    assert code == 75
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []
    (row,) = ledger_rows(spark, tmp_path)
    assert (row.status, row.exit_code, row.error_class) == ("failed", 75, "Interrupted")


def test_a_job_that_polls_the_stop_flag_ends_early_and_is_recorded(spark, conf, tmp_path, capsys):
    def body(ctx):
        sigterm_soon(0.3)
        ctx.stop.wait(30)
        ctx.stop.check()  # raises Interrupted
        return Outcome()

    code = run_job("demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), body)
    assert code == 75
    (row,) = ledger_rows(spark, tmp_path)
    assert row.error_message.startswith("interrupted by SIGTERM")


def test_a_signal_during_the_epilogue_does_not_lose_the_ledger_row(
    spark, conf, tmp_path, capsys, monkeypatch
):
    outer = []
    real_finish = notify.finish_run

    def finish_then_signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. the launcher's forwarded copy of a signal
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # let the handler run before the ledger write
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(notify, "finish_run", finish_then_signalled)
    previous = signal.signal(signal.SIGTERM, lambda *_: outer.append("SIGTERM"))
    try:
        code = run_job(
            "demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), lambda c: Outcome()
        )
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert outer == []  # the job's own handler was still installed: the driver lives on
    assert code == 0  # the work was done before the signal
    (row,) = ledger_rows(spark, tmp_path)
    assert (row.status, row.exit_code) == ("success", 0)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"] == row.run_id


def test_a_token_holds_its_cancels_for_bookkeeping():
    cancels = []
    token = StopToken(cancel=lambda: cancels.append(time.monotonic()))
    with token.working():
        with token.holding():
            token.set("SIGTERM")
            time.sleep(0.6)
            held = len(cancels)
        deadline = time.monotonic() + 10
        while not cancels and time.monotonic() < deadline:
            time.sleep(0.05)
    assert held == 0 and cancels  # nothing cancelled while held, cancelled right after
    count = len(cancels)
    time.sleep(0.5)
    assert len(cancels) == count  # the work is over: no more cancels


# ---------------------------------------------------------------- backfill


@pytest.fixture
def bf(tmp_path, capsys, monkeypatch):
    return BackfillHarness(tmp_path, capsys, monkeypatch)


def test_a_backfill_stopped_mid_group_exits_75_and_starts_no_load_after(spark, bf, monkeypatch):
    days = [D1 + timedelta(days=i) for i in range(6)]
    bf.land(*days)
    # the load of 03-02 signals its own process, then stalls in a Spark job (~1 min)
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAILURES", "2026-03-02=sigterm")
    code, record, _ = bf.run(
        "--start", "2026-03-01", "--end", "2026-03-06", "--group-days", "3", "--parallel", "1"
    )

    assert code == 75 and record["exit_code"] == 75
    statuses = {r["date"]: (r["status"], r["exit_code"]) for r in record["details"]["results"]}
    assert (
        statuses
        == {
            **{str(d): ("failed", 75) for d in days[:3]},  # the group that was running
            **{str(d): ("not_run", 0) for d in days[3:]},  # never started
        }
    )
    # one attempt each for the running group, no retry, no one-date-at-a-time fallback
    assert bf.loads(spark) == [(d, 1, "failed", 75) for d in days[:3]]
    assert not (bf.lake / "silver" / "orders").exists()
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []
    assert record["error_message"].startswith("interrupted by SIGTERM")

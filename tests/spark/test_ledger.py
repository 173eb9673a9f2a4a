"""The run ledger: rows as documented, JSON line equal to the row, concurrent appenders,
appends retried after a landed commit written once."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from lakehouse.lake.ledger import LEDGER_SCHEMA, Ledger, RunRecord, new_run_id
from tests.harness.faults import commits, lose_the_first_ack

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


def finished(job: str = "batch_load", **fields) -> RunRecord:
    record = RunRecord(run_id=new_run_id(), job=job, started_at=T0, **fields)
    return record.finish("success", 0, ended_at=T0 + timedelta(seconds=12.5))


def test_record_finish_computes_duration_and_checks_status():
    record = finished(pipeline="orders", logical_date=date(2026, 11, 24), rows_in=10)
    assert record.duration_s == 12.5 and record.status == "success"
    with pytest.raises(ValueError, match="status must be one of"):
        RunRecord(run_id="x", job="j", started_at=T0).finish("great", 0)


def test_json_line_carries_every_ledger_column():
    record = finished(pipeline="orders", logical_date=date(2026, 11, 24), details={"batches": 3})
    data = json.loads(record.to_json())
    assert set(data) == set(LEDGER_SCHEMA.fieldNames())
    assert data["logical_date"] == "2026-11-24"
    assert data["started_at"] == "2026-11-25T06:00:00.000Z"
    assert data["details"] == {"batches": 3}


def test_append_then_read_back(spark, settings):
    ledger = Ledger(spark, settings.ledger_path)
    record = finished(
        pipeline="orders",
        logical_date=date(2026, 11, 24),
        rows_in=10,
        rows_out=9,
        rows_quarantined=1,
        details={"note": "ok"},
    )
    failed = RunRecord(run_id=new_run_id(), job="stream_ingest", started_at=T0)
    failed.finish(
        "failed", 75, ended_at=T0, error=TimeoutError("broker down"), error_message="broker down"
    )
    ledger.append(record)
    ledger.append(failed)
    rows = {r.run_id: r for r in ledger.read().collect()}
    assert rows[record.run_id].rows_quarantined == 1
    assert rows[record.run_id].logical_date == date(2026, 11, 24)
    assert rows[record.run_id].started_at == datetime(2026, 11, 25, 6, 0)  # UTC, session tz UTC
    assert json.loads(rows[record.run_id].details) == {"note": "ok"}
    assert (
        rows[failed.run_id].status,
        rows[failed.run_id].exit_code,
        rows[failed.run_id].error_class,
    ) == ("failed", 75, "TimeoutError")


def test_unfinished_record_is_refused(spark, settings):
    with pytest.raises(ValueError, match="finish"):
        Ledger(spark, settings.ledger_path).append(RunRecord("x", "j", T0))


def test_two_concurrent_appenders_lose_nothing(spark, settings):
    """Two writers start on a ledger that does not exist yet and append at once."""
    ledger = Ledger(spark, settings.ledger_path)
    per_writer = 4
    written: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            start.wait()
            for _ in range(per_writer):
                record = finished(job=name)
                ledger.append(record)
                written.append(record.run_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = ledger.read().select("run_id", "job").collect()
    assert sorted(r.run_id for r in rows) == sorted(written)
    assert len(rows) == 2 * per_writer
    assert {r.job for r in rows} == {"w0", "w1"}


def test_racing_creators_of_a_new_ledger_all_get_their_row(spark, tmp_path):
    """createIfNotExists can report "table not found" to a losing creator: retried."""
    for attempt in range(4):
        ledger = Ledger(spark, str(tmp_path / f"ledger{attempt}"))
        start = threading.Barrier(3)
        errors: list[BaseException] = []

        def writer(ledger: Ledger, start: threading.Barrier, errors: list) -> None:
            try:
                start.wait()
                ledger.append(finished())
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(ledger, start, errors)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and ledger.read().count() == 3


def test_an_append_retried_after_its_commit_landed_writes_the_rows_once(
    spark, settings, monkeypatch
):
    ledger = Ledger(spark, settings.ledger_path)
    ledger.append(finished())  # the table exists: every commit below is an append
    before = commits(spark, settings.ledger_path)
    batch = [finished(pipeline="orders", logical_date=date(2026, 11, d)) for d in (23, 24)]
    lost = lose_the_first_ack(monkeypatch)
    ledger.append_many(batch)  # committed, "failed", retried
    monkeypatch.undo()
    assert lost, "the first save did not run"
    ids = [r.run_id for r in ledger.read().collect()]
    assert sorted(ids.count(r.run_id) for r in batch) == [1, 1], f"appended twice: {ids}"
    assert commits(spark, settings.ledger_path) == before + 1

    ledger.append_many(batch)  # the same records again (a retry one level up): skipped
    assert ledger.read().count() == 3
    assert commits(spark, settings.ledger_path) == before + 1, "the same records made a commit"

    # different records always land: new run ids, or a reused one (LAKEHOUSE_RUN_ID)
    # in another record (here its next attempt)
    reused = finished(attempt=2)
    reused.run_id = batch[0].run_id
    ledger.append_many([finished()])
    ledger.append_many([reused])
    assert ledger.read().count() == 5
    assert commits(spark, settings.ledger_path) == before + 3


def test_the_ledger_read_without_a_jvm_gives_the_records_spark_gives(spark, settings):
    from lakehouse.lake import find_run_without_jvm

    assert find_run_without_jvm(settings, "none-yet") is None  # no ledger at all
    ledger = Ledger(spark, settings.ledger_path)
    first = finished(pipeline="orders", logical_date=date(2026, 11, 24), details={"n": 1})
    again = RunRecord(run_id=first.run_id, job="batch_load", started_at=T0 + timedelta(hours=1))
    again.finish(
        "failed", 75, ended_at=T0 + timedelta(hours=2), error=TimeoutError("x"), error_message="x"
    )
    ledger.append(first)
    ledger.append(again)  # the id reused: the last to end is the answer
    ledger.append(finished(job="health"))
    found = find_run_without_jvm(settings, first.run_id)
    assert found is not None and found.exit_code == 75 and found.error_class == "TimeoutError"
    assert found.to_json() == ledger.find(first.run_id).to_json()
    assert find_run_without_jvm(settings, "no-such-run") is None


def test_run_status_reads_the_ledger_with_no_java_on_the_machine(spark, tmp_path, monkeypatch):
    """The cluster-mode launcher's last step: no JVM can start (no java on PATH, a
    JAVA_HOME that does not exist), yet it finds the run and exits with its code."""
    import os
    import subprocess
    import sys

    from lakehouse.config import load_settings
    from tests.harness.env import ROOT

    conf = str(ROOT / "conf")
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    settings = load_settings(None, conf)
    record = RunRecord(run_id="cluster-run-7", job="batch_load", started_at=T0)
    record.finish("failed", 3, ended_at=T0 + timedelta(seconds=5), error_message="rules broke")
    Ledger(spark, settings.ledger_path).append(record)
    env = {
        "PATH": str(tmp_path / "empty-bin"),  # no java, no shell to start one
        "JAVA_HOME": str(tmp_path / "no-java"),
        "LAKEHOUSE_LAKE_ROOT": str(tmp_path / "lake"),
        "PYTHONPATH": str(ROOT / "lib"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }

    def status(run_id: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "lakehouse.launch.runstatus", "--run-id", run_id]
        return subprocess.run(
            [*command, "--submit-status", "0", "--conf-dir", conf],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    found = status("cluster-run-7")
    assert found.returncode == 3, found.stderr
    assert json.loads(found.stdout.strip().splitlines()[-1])["error_message"] == "rules broke"
    lost = status("cluster-run-8")
    assert lost.returncode == 1 and "run cluster-run-8 is not in the ledger" in lost.stderr

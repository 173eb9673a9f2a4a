"""The stream sink's gate and run totals, without Spark: which batches may still write."""

from __future__ import annotations

import pytest

from lakehouse.quality import QualityReport
from lakehouse.stream.sink import STOP_MARK, BatchMetrics, RunTotals, SinkGate, StopRequested


def test_an_open_gate_admits_batches_and_remembers_the_last_one_written():
    gate = SinkGate()
    assert gate.close() is None  # nothing ran: nothing to wait for
    gate = SinkGate()
    gate.enter(0)
    gate.leave()
    gate.done(0, completed=1)
    gate.enter(1)
    assert gate.close() == 1  # the running batch: the caller waits for its commit
    gate.leave()
    assert gate.closed


def test_a_closed_gate_refuses_the_next_batch_with_the_stop_mark():
    gate = SinkGate()
    gate.enter(4)
    gate.leave()
    gate.done(4, completed=1)
    assert gate.close() == 4  # no batch running: the last one written
    with pytest.raises(StopRequested, match=f"{STOP_MARK}: batch 5 left for the next run"):
        gate.enter(5)


def test_the_batch_limit_closes_the_gate_exactly_after_the_last_batch_wanted():
    gate = SinkGate(limit=2)
    for batch, completed in ((0, 1), (1, 2)):
        assert not gate.closed
        gate.enter(batch)
        gate.leave()
        gate.done(batch, completed)
    assert gate.closed
    with pytest.raises(StopRequested):
        gate.enter(2)


def test_a_failed_batch_is_not_counted_as_written():
    gate = SinkGate(limit=1)
    gate.enter(0)
    gate.leave()  # the batch raised: done() is never called
    assert not gate.closed and gate.close() is None


def test_run_totals_sum_the_batches_and_keep_the_last_ones_for_the_ledger():
    run = RunTotals(judged=False)
    first = BatchMetrics(0, input_rows=5, bronze_inserted=3, duplicates=1, quarantined=1)
    first.by_reason = {"malformed_json": 1}
    assert run.add(first, None) == 1
    first.unknown_field_rows, first.unknown_fields = 2, ["coupon"]
    second = BatchMetrics(1, input_rows=2, bronze_inserted=1, late=1, quarantined=1)
    second.by_reason = {"late": 1, "malformed_json": 0}
    second.unknown_field_rows, second.unknown_fields = 1, ["coupon", "channel"]
    assert run.add(second, None) == 2
    assert run.completed == 2
    assert run.sums() == {
        "batches": 2,
        "input_rows": 7,
        "bronze_inserted": 4,
        "duplicates": 1,
        "late": 1,
        "quarantined": 2,
        "quarantined_by_reason": {"malformed_json": 1, "late": 1},
        "quality_dropped": 0,
        "unknown_field_rows": 3,
        "unknown_fields": ["channel", "coupon"],
    }
    assert "3 with fields outside" not in first.line() and "2 with fields outside" in first.line()
    assert [b["batch_id"] for b in run.batch_details()] == [0, 1]
    assert run.quality_report() is None  # no row rules: no report


def test_run_totals_report_includes_the_batch_a_fail_rule_stopped():
    run = RunTotals(judged=True)
    run.add(BatchMetrics(0, input_rows=3), QualityReport(rows_checked=3))
    run.failed_quality = QualityReport(rows_checked=2)
    report = run.quality_report()
    assert report is not None and report.rows_checked == 5

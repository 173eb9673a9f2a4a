"""The quality gate in batch_load, SLA verdicts and alerts of real job runs."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pyspark.sql import functions as F

from tests.harness.load import D1, D2, LoadHarness, ids, row
from tests.harness.ports import closed_port
from tests.harness.webhook import webhook_server

RANGE_FAIL = {"rule": "range", "column": "amount", "min": 0, "on_fail": "fail"}
RANGE_QUARANTINE = {**RANGE_FAIL, "on_fail": "quarantine"}
STATUS_WARN = {
    "rule": "accepted_values",
    "column": "status",
    "values": ["placed", "paid"],
    "on_fail": "warn",
}
PAID_DROP = {
    "rule": "expression",
    "name": "paid_has_amount",
    "expr": "status <> 'paid' OR amount > 0",
    "on_fail": "drop",
}


@pytest.fixture
def load(tmp_path, capsys, monkeypatch):
    return LoadHarness(tmp_path, capsys, monkeypatch)


def quality_table(spark, load: LoadHarness):
    return spark.read.format("delta").load(str(load.lake / "_ops" / "quality"))


def ledger(spark, load: LoadHarness):
    return spark.read.format("delta").load(str(load.lake / "_ops" / "runs"))


def test_a_failed_gate_exits_3_leaves_silver_untouched_and_keeps_the_rows(spark, load):
    load.configure(quality=[RANGE_FAIL])
    load.land(D1, [row("a"), row("b")])
    assert load.run(D1)[0] == 0
    before = load.silver(spark).orderBy("order_id").collect()
    version = load.version(spark)

    load.land(D1, [row("a", "11.00"), row("b", "-5.00"), row("c")])
    code, record = load.run(D1)
    assert code == 3 and record["status"] == "failed" and record["exit_code"] == 3
    assert "range_amount (1 of 3 rows" in record["error_message"]
    assert '{"order_id":"b"}' in record["error_message"]
    assert load.version(spark) == version  # nothing written to silver
    assert load.silver(spark).orderBy("order_id").collect() == before
    bad = load.quarantine(spark).where(F.col("reason") == "quality").collect()
    assert [json.loads(r.record)["order_id"] for r in bad] == ["b"]
    assert bad[0].detail == "rules: range_amount"
    results = quality_table(spark, load).where(F.col("run_id") == record["run_id"]).collect()
    assert [(r.rule, r.rows_checked, r.rows_failed, r.passed) for r in results] == [
        ("range_amount", 3, 1, False)
    ]


def test_quarantine_drop_and_warn_rules_in_one_load(spark, load):
    load.configure(quality=[RANGE_QUARANTINE, STATUS_WARN, PAID_DROP])
    rows = [
        row("a"),
        row("b", "-1.00"),  # range: quarantined
        row("c", "0.00", status="paid"),  # paid without amount: dropped
        row("d", status="shipped"),  # not an accepted value: warned, loaded
    ]
    load.land(D1, rows)
    code, record = load.run(D1)
    assert code == 0
    assert ids(load.silver(spark)) == ["a", "d"]
    q = record["details"]["quality"]
    assert (q["rows_checked"], q["rows_dropped"], q["rows_quarantined"]) == (4, 1, 1)
    assert q["broken"] == {"range_amount": 1, "accepted_values_status": 1, "paid_has_amount": 1}
    assert record["rows_quarantined"] == 1
    assert record["details"]["quarantined_by_reason"] == {"quality": 1}
    bad = load.quarantine(spark).collect()
    assert [(json.loads(r.record)["order_id"], r.detail) for r in bad] == [
        ("b", "rules: range_amount")
    ]
    # a re-run changes nothing: same silver, same quarantine, no new commit
    version = load.version(spark)
    quarantine_version = load.quarantine(spark).inputFiles()
    code, again = load.run(D1)
    assert code == 0 and load.version(spark) == version
    assert load.quarantine(spark).inputFiles() == quarantine_version
    assert again["details"]["quality"] == q


def test_a_fixed_row_is_loaded_and_leaves_the_quarantine(spark, load):
    load.configure(quality=[RANGE_QUARANTINE])
    load.land(D1, [row("a"), row("b", "-1.00")])
    assert load.run(D1)[0] == 0
    load.land(D1, [row("a"), row("b", "1.00")])
    assert load.run(D1)[0] == 0
    assert ids(load.silver(spark)) == ["a", "b"]
    assert load.quarantine(spark).count() == 0


def test_a_rule_that_does_not_resolve_is_exit_2_before_any_write(spark, load):
    bad = {"rule": "expression", "name": "typo", "expr": "lenght(status) > 1", "on_fail": "fail"}
    load.configure(quality=[bad])
    load.land(D1, [row("a")])
    code, record = load.run(D1)
    assert code == 2 and "does not resolve" in record["error_message"]
    assert not (load.lake / "silver").exists()
    assert not (load.lake / "quarantine").exists()


def test_a_config_typo_in_an_expression_is_exit_2_without_spark(spark, load):
    bad = {"rule": "expression", "name": "typo", "expr": "statuz = 'paid'", "on_fail": "fail"}
    load.configure(quality=[bad])
    code, record = load.run(D1)
    assert code == 2 and "unknown column(s) statuz" in record["error_message"]
    assert not (load.lake / "_ops").exists()  # not even a ledger row: config errors come first


def test_row_count_change_compares_with_earlier_successful_loads(spark, load):
    change = {"rule": "row_count_change", "max_ratio": 0.5, "window": 3, "on_fail": "fail"}
    load.configure(quality=[change])
    days = [date(2026, 3, d) for d in (1, 2, 3)]
    for day in days:
        at = f"{day.isoformat()}T10:00:00"
        load.land(day, [row(f"{day.day}-{i}", at=at) for i in range(4)])
        assert load.run(day)[0] == 0
    day4 = date(2026, 3, 4)
    at4 = "2026-03-04T10:00:00"
    load.land(day4, [row(f"4-{i}", at=at4) for i in range(9)])  # +125% of 4
    code, record = load.run(day4)
    assert code == 3
    assert "9 rows, +125% vs the average 4 of the last 3 runs" in record["error_message"]
    load.land(day4, [row(f"4-{i}", at=at4) for i in range(5)])  # +25%: fine
    assert load.run(day4)[0] == 0


def test_sla_met_is_recorded_for_every_run(spark, load):
    load.configure(sla={"batch_load": {"max_duration": "1h"}})
    load.land(D1, [row("a")])
    code, record = load.run(D1)
    assert code == 0 and record["sla_met"] is True
    load.configure(sla={"batch_load": {"max_duration": "1ms"}})  # no load is that fast
    code, record = load.run(D1)
    assert code == 0 and record["sla_met"] is False
    assert record["details"]["sla_misses"][0].endswith("max_duration 1ms")
    stored = ledger(spark, load).orderBy("ended_at").select("sla_met").collect()
    assert [r.sla_met for r in stored] == [True, False]


def test_alerts_reach_the_webhook_and_the_file_and_a_dead_sink_changes_nothing(spark, load):
    with webhook_server() as hook:
        sinks = [
            {"sink": "webhook", "url": hook.url(), "on": ["failure", "quality", "sla_miss"]},
            {"sink": "file", "path": "_ops/alerts.jsonl", "on": ["all"]},
        ]
        load.configure(
            quality=[RANGE_FAIL], alerts=sinks, sla={"batch_load": {"max_duration": "1ms"}}
        )
        load.land(D1, [row("a"), row("b", "-1.00")])
        code, record = load.run(D1)
        assert code == 3
        events = sorted(r["body"]["lakehouse"]["event"] for r in hook.requests)
        assert events == ["quality", "sla_miss"]
        quality = next(
            r["body"] for r in hook.requests if r["body"]["lakehouse"]["event"] == "quality"
        )
        assert "quality gate failed for 2026-03-01" in quality["text"]
        assert quality["lakehouse"]["fields"]["run_id"] == record["run_id"]
        assert record["details"]["alerts"]["alerts_sent"] == 4  # 2 webhook + 2 file
        lines = (load.lake / "_ops" / "alerts.jsonl").read_text().splitlines()
        assert sorted(json.loads(x)["event"] for x in lines) == ["quality", "sla_miss"]

        # the same condition again within min_interval (1h): not re-sent
        code, record = load.run(D1)
        assert code == 3 and len(hook.requests) == 2
        assert record["details"]["alerts"]["alerts_suppressed"] == 4

    # the sink is gone: the job's outcome is the same, the failure is counted
    dead = f"http://127.0.0.1:{closed_port()}/hooks/SECRET"
    load.configure(alerts=[{"sink": "webhook", "url": dead, "on": ["success"]}])
    load.land(D2, [row("x", at="2026-03-02T08:00:00")])
    code, record = load.run(D2)
    assert code == 0 and record["status"] == "success"
    assert record["details"]["alerts"]["alerts_failed"] == 1
    assert "SECRET" not in json.dumps(record)


def test_rules_that_take_every_row_of_a_replaced_day_fail_it_and_keep_the_rows(spark, load):
    load.configure(quality=[RANGE_QUARANTINE], silver={"mode": "replace_partition"})
    load.land(D1, [row("a", "-1.00"), row("b", "-2.00")])
    code, record = load.run(D1)
    assert code == 1 and "not emptying the day" in record["error_message"]
    assert "'quality': 2" in record["error_message"]
    assert not (load.lake / "silver").exists()
    bad = load.quarantine(spark).collect()
    assert sorted(json.loads(r.record)["order_id"] for r in bad) == ["a", "b"]
    assert quality_table(spark, load).count() == 1  # the check is on record too


def test_freshness_of_source_judges_a_date_as_of_its_end_not_today(spark, load):
    fresh = {"rule": "freshness_of_source", "max_age": "6h", "on_fail": "fail"}
    load.configure(quality=[fresh])
    load.land(D1, [row("a", at="2026-03-01T20:00:00")])  # 4h before the day ends
    code, record = load.run(D1)
    assert code == 0, record["error_message"]
    load.land(D2, [row("b", at="2026-03-02T09:00:00")])  # 15h before the day ends
    code, record = load.run(D2)
    assert code == 3 and "is 15h old (max 6h)" in record["error_message"]


def test_a_re_run_after_the_deadline_is_judged_on_duration_only(spark, load):
    load.configure(sla={"batch_load": {"max_duration": "1h", "deadline": "06:00"}})
    load.land(D1, [row("a")])
    code, first = load.run(D1)  # 2026-03-01 is long past its deadline
    assert code == 0 and first["sla_met"] is False
    assert "after the deadline 2026-03-02 06:00 UTC" in first["details"]["sla_misses"][0]
    code, again = load.run(D1)  # the date already succeeded once: the deadline was judged
    assert code == 0 and again["sla_met"] is True

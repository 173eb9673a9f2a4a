"""lakehouse.quality: every rule kind and severity on tiny DataFrames (a null row, empty)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError, ExitCode, QualityGateError, exit_code_for
from lakehouse.lake.ledger import Ledger, RunRecord
from lakehouse.lake.ledger_queries import recent_checked_counts
from lakehouse.quality import (
    QUALITY_SCHEMA,
    QualityReport,
    RuleSet,
    check,
    history_for,
    result_rows,
    write_results,
)
from lakehouse.quality.engine import RULES_COLUMN
from tests.harness.faults import commits, lose_the_first_ack

SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType(), True),
        T.StructField("customer_id", T.StringType(), True),
        T.StructField("amount", T.DecimalType(12, 2), True),
        T.StructField("status", T.StringType(), True),
        T.StructField("event_time", T.TimestampType(), True),
    ]
)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def at(hour: int) -> datetime:
    return datetime(2026, 3, 2, hour, 0)


def orders(spark, rows=None):
    rows = (
        [
            ("o1", "c1", Decimal("10.00"), "placed", at(8)),
            ("o2", "c2", Decimal("-1.00"), "paid", at(9)),
            ("o3", None, Decimal("5.00"), "lost", at(10)),
            ("o4", "c4", None, None, at(11)),
        ]
        if rows is None
        else rows
    )
    return spark.createDataFrame(rows, SCHEMA)


def rule(kind: str, on_fail: str = "warn", **kw) -> QualityRule:
    for key in ("columns", "values"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return QualityRule(rule=kind, on_fail=on_fail, **kw)  # type: ignore[arg-type]


def result(report: QualityReport, name: str):
    return next(r for r in report.results if r.rule == name)


def ids(df) -> list[str]:
    return sorted(r.order_id for r in df.select("order_id").collect())


# ---------------------------------------------------------------- row rules


@pytest.mark.parametrize(
    ("kind", "kw", "failing"),
    [
        ("not_null", {"column": "customer_id"}, ["o3"]),
        ("not_null", {"columns": ["customer_id", "status"]}, ["o3", "o4"]),
        ("accepted_values", {"column": "status", "values": ["placed", "paid"]}, ["o3"]),
        ("range", {"column": "amount", "min": 0}, ["o2"]),
        ("range", {"column": "amount", "min": 5, "min_inclusive": False, "max": 10}, ["o2", "o3"]),
        ("range", {"column": "amount", "max": 10, "max_inclusive": False}, ["o1"]),
        ("regex", {"column": "status", "pattern": "^p"}, ["o3"]),
        # o4: status and amount null, so the expression is null: not true, so broken
        (
            "expression",
            {"name": "paid_has_amount", "expr": "status <> 'paid' OR amount > 0"},
            ["o2", "o4"],
        ),
        ("expression", {"name": "always", "expr": "order_id IS NOT NULL"}, []),
        ("expression", {"name": "positive", "expr": "amount > 0"}, ["o2", "o4"]),
    ],
)
def test_each_row_rule_finds_exactly_the_breaking_rows(spark, kind, kw, failing):
    r = rule(kind, "quarantine", **kw)
    good, bad, report = check(orders(spark), [r], keys=["order_id"])
    res = report.results[0]
    assert (res.rows_checked, res.rows_failed, res.passed) == (4, len(failing), not failing)
    assert ids(bad) == failing
    assert ids(good) == sorted({"o1", "o2", "o3", "o4"} - set(failing))
    assert sorted(res.samples) == [f'{{"order_id":"{i}"}}' for i in failing]


def test_nulls_pass_value_rules_but_not_not_null(spark):
    # o4 has a null status and amount: not_null catches it, the value rules leave it alone
    rules = [
        rule("accepted_values", column="status", values=["placed", "paid", "lost"]),
        rule("range", column="amount", min=-5, max=100),
        rule("regex", column="status", pattern="^[a-z]+$"),
    ]
    _, _, report = check(orders(spark), rules)
    assert all(r.passed for r in report.results)


def test_unique_flags_every_row_of_a_repeated_key_and_ignores_nulls(spark):
    df = orders(
        spark,
        [
            ("o1", "c1", Decimal(1), "paid", at(8)),
            ("o1", "c2", Decimal(2), "paid", at(9)),
            ("o2", "c3", Decimal(3), "paid", at(9)),
            (None, "c4", Decimal(4), "paid", at(9)),
            (None, "c5", Decimal(5), "paid", at(9)),
        ],
    )
    good, bad, report = check(df, [rule("unique", "quarantine", columns=["order_id"])])
    assert report.results[0].rows_failed == 2
    assert sorted(r.customer_id for r in bad.collect()) == ["c1", "c2"]
    assert good.count() == 3


def test_unique_over_columns_the_rows_are_distinct_on_is_reported_without_a_window(spark):
    """A stream's kept rows are deduplicated on the keys: `unique` on the keys (or on
    more columns) cannot fail there, so it is not computed; on other columns it is."""
    df = orders(
        spark,
        [
            ("o1", "c1", Decimal(1), "paid", at(8)),
            ("o2", "c1", Decimal(2), "paid", at(9)),
            ("o3", None, Decimal(3), "paid", at(9)),
        ],
    )
    on_keys = [
        rule("unique", "quarantine", columns=["order_id"]),
        rule("unique", "quarantine", columns=["order_id", "status"]),
    ]
    plain = RuleSet(on_keys, keys=["order_id"])
    known = RuleSet(on_keys, keys=["order_id"], distinct_on=["order_id"])
    assert "Window" in plain.flag(df)._jdf.queryExecution().optimizedPlan().toString()
    flagged = known.flag(df)
    assert "Window" not in flagged._jdf.queryExecution().optimizedPlan().toString()
    totals = flagged.groupBy().agg(*known.aggregations()).first().asDict()
    computed = plain.flag(df)
    expected = plain.report_from_totals(
        computed, computed.groupBy().agg(*plain.aggregations()).first().asDict()
    )
    assert known.report_from_totals(flagged, totals) == expected
    assert [r.rows_failed for r in expected.results] == [0, 0]
    assert_df_equality(flagged, computed, ignore_row_order=True)

    # `unique` on a column the rows are not distinct on is still judged
    other = RuleSet(
        [rule("unique", "quarantine", columns=["customer_id"])],
        keys=["order_id"],
        distinct_on=["order_id"],
    )
    flagged = other.flag(df)
    totals = flagged.groupBy().agg(*other.aggregations()).first().asDict()
    assert other.report_from_totals(flagged, totals).results[0].rows_failed == 2


def test_empty_dataframe_passes_row_rules_and_counts_zero(spark):
    rules = [
        rule("not_null", "fail", column="customer_id"),
        rule("unique", "fail", columns=["order_id"]),
        rule("row_count", "warn", min=1),
    ]
    good, bad, report = check(orders(spark, []), rules)
    assert report.rows_checked == 0 and not report.gate_failed
    assert [r.passed for r in report.results] == [True, True, False]
    assert good.count() == 0 and bad.count() == 0


# ---------------------------------------------------------------- severities


def test_severities_warn_drop_quarantine(spark):
    rules = [
        rule("accepted_values", "warn", column="status", values=["placed", "paid"]),
        rule("range", "drop", column="amount", min=0),
        rule("not_null", "quarantine", column="customer_id"),
    ]
    good, bad, report = check(orders(spark), rules, keys=["order_id"])
    # warn keeps o3 (lost), drop removes o2, quarantine moves o3
    assert ids(good) == ["o1", "o4"]
    assert ids(bad) == ["o3"]
    assert (report.rows_dropped, report.rows_quarantined) == (1, 1)
    assert not report.gate_failed
    # the quarantined row names every rule it broke, the warning one too
    assert bad.first()[RULES_COLUMN] == ["accepted_values_status", "not_null_customer_id"]
    expected = orders(spark).where("order_id IN ('o1', 'o4')")
    assert_df_equality(good, expected, ignore_row_order=True)


def test_a_fail_rule_fails_the_gate_with_exit_3(spark):
    rules = [rule("range", "fail", column="amount", min=0), rule("not_null", column="status")]
    _, bad, report = check(orders(spark), rules, keys=["order_id"])
    assert report.gate_failed and [r.rule for r in report.gate_failures] == ["range_amount"]
    assert ids(bad) == ["o2"]  # the offending rows, for the quarantine
    with pytest.raises(QualityGateError) as caught:
        report.raise_for_gate()
    assert exit_code_for(caught.value) == ExitCode.QUALITY
    assert "range_amount (1 of 4 rows" in str(caught.value) and "o2" in str(caught.value)


def test_a_row_breaking_drop_and_quarantine_goes_to_quarantine(spark):
    rules = [
        rule("range", "drop", column="amount", min=0),
        rule("regex", "quarantine", column="status", pattern="^x"),
    ]
    good, bad, report = check(orders(spark), rules)
    assert "o2" in ids(bad) and "o2" not in ids(good)
    assert report.rows_dropped == 0  # counted as quarantined, not twice


# ---------------------------------------------------------------- dataset rules


def test_row_count_bounds(spark):
    rules = [rule("row_count", "fail", min=2, max=3)]
    _, _, report = check(orders(spark), rules)
    assert report.gate_failed and report.results[0].detail == "4 rows, expected [2, 3]"
    _, _, report = check(orders(spark).limit(3), rules)
    assert not report.gate_failed


def test_schema_rule_names_the_differences(spark):
    ok = rule("schema", expected={"order_id": "STRING", "amount": "DECIMAL(12,2)"})
    bad = rule("schema", "fail", name="wanted", expected={"amount": "DOUBLE", "country": "STRING"})
    _, _, report = check(orders(spark), [ok, bad])
    assert result(report, "schema").passed
    wanted = result(report, "wanted")
    assert not wanted.passed
    assert wanted.detail == "amount is decimal(12,2), not double; country missing"


def test_freshness_of_source_with_a_fixed_clock(spark):
    fresh = rule("freshness_of_source", "fail", max_age=Duration.parse("2h"))
    _, _, report = check(orders(spark), [fresh], event_time="event_time", now=NOW)
    assert not report.gate_failed  # newest row 11:00, now 12:00: 1h old
    assert "is 1h old (max 2h)" in report.results[0].detail
    later = datetime(2026, 3, 2, 14, 30, tzinfo=timezone.utc)
    _, _, report = check(orders(spark), [fresh], event_time="event_time", now=later)
    assert report.gate_failed and "is 3h 30m old" in report.results[0].detail
    _, _, report = check(orders(spark, []), [fresh], event_time="event_time", now=NOW)
    assert report.gate_failed and report.results[0].detail == "no rows to tell the age from"


def _again(record: RunRecord, i: int) -> RunRecord:
    record.run_id = f"{record.run_id}-again{i}"
    return record


def test_row_count_change_against_a_prepared_ledger_history(spark, settings):
    ledger = Ledger(spark, settings.ledger_path)
    started = datetime(2026, 3, 1, 5, 0, tzinfo=timezone.utc)

    def run(day: int, checked: int | None, status: str = "success", job: str = "batch_load"):
        rec = RunRecord(
            run_id=f"r{day}-{job}-{status}",
            job=job,
            started_at=started.replace(day=day),
            pipeline="orders",
            logical_date=date(2026, 2, day),
        )
        if checked is not None:
            rec.details["quality"] = {"rows_checked": checked}
        return rec.finish(
            status, 0 if status == "success" else 1, ended_at=started.replace(day=day, hour=6)
        )

    ledger.append_many(
        [
            run(1, 1000),
            run(2, 1200),
            run(3, 800),
            run(4, 5, status="failed"),  # failed runs do not count
            run(5, 1000, job="stream_ingest"),  # nor other jobs
            run(6, None),  # nor runs without a quality summary
            run(7, 1000),  # the date being re-run is not compared with itself
        ]
    )
    # re-runs of one date count once (its latest): they do not crowd out the other dates
    rerun = run(3, 800)
    rerun.run_id, rerun.ended_at = "r3-again", started.replace(day=3, hour=7)
    ledger.append_many([rerun, *[_again(run(7, 1000), i) for i in range(5)]])
    recent = recent_checked_counts(ledger.read(), job="batch_load", pipeline="orders", limit=4)
    history = history_for(recent, date(2026, 2, 7), window=3)
    assert history == [800, 1200, 1000]  # newest first
    change = rule("row_count_change", "fail", max_ratio=0.5, window=3)
    df = orders(spark)  # 4 rows vs an average of 1000: -100%
    _, _, report = check(df, [change], history=history)
    assert report.gate_failed
    assert report.results[0].detail == "4 rows, -100% vs the average 1000 of the last 3 runs"
    _, _, report = check(df, [change], history=[5, 3, 4])  # +0%
    assert not report.gate_failed
    _, _, report = check(df, [change], history=[])
    assert not report.gate_failed and "no earlier successful run" in report.results[0].detail


# ---------------------------------------------------------------- bad rules, groups, results


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("lenght(status) > 1", "does not resolve"),
        ("amount + 1", "must be true or false, not decimal"),
    ],
)
def test_expressions_are_checked_against_the_data_before_any_row_is_read(spark, expr, message):
    with pytest.raises(ConfigError) as caught:
        check(orders(spark), [rule("expression", name="e", expr=expr)])
    assert message in str(caught.value) and exit_code_for(caught.value) == ExitCode.USAGE


def test_a_range_on_a_text_column_is_a_config_error(spark):
    with pytest.raises(ConfigError) as caught:
        check(orders(spark), [rule("range", column="status", min=0)])
    assert "range needs a numeric column; status is string" in str(caught.value)


def test_grouped_evaluation_reports_each_group_apart(spark):
    df = orders(spark).withColumn("day", F.when(F.col("order_id") <= "o2", "a").otherwise("b"))
    rules = RuleSet(
        [rule("range", "quarantine", column="amount", min=0), rule("unique", columns=["status"])],
        keys=["order_id"],
    )
    flagged = rules.flag(df, group_by=["day"], only=F.col("order_id") != "o4")
    reports = rules.evaluate(flagged, group_by=["day"])
    assert set(reports) == {"a", "b"}
    assert (reports["a"].rows_checked, reports["b"].rows_checked) == (2, 1)  # o4 not checked
    assert reports["a"].results[0].rows_failed == 1 and reports["b"].results[0].passed
    assert reports["a"].results[0].samples == ('{"order_id":"o2"}',)


def test_two_rule_sets_with_their_own_prefix_flag_one_frame_and_restrict_unchecks_rows(spark):
    """What the stream does: row checks early (then limited to some rows), unique later."""
    checks = RuleSet([rule("range", "quarantine", column="amount", min=0)], keys=["order_id"])
    uniques = RuleSet([rule("unique", "drop", columns=["status"])], keys=["order_id"], prefix="_qu")
    df = orders(spark).union(orders(spark, [("o5", "c5", Decimal("-2.00"), "paid", at(12))]))
    flagged = checks.restrict(checks.flag(df), F.col("order_id") != "o5")  # o5: not judged
    flagged = uniques.flag(flagged)
    assert not set(checks.flag_columns) & set(uniques.flag_columns)
    row = flagged.groupBy().agg(*checks.aggregations(), *uniques.aggregations()).first()
    got = checks.report_from_totals(flagged, row.asDict())
    assert (got.rows_checked, got.rows_quarantined) == (4, 1)
    assert got.results[0].samples == ('{"order_id":"o2"}',)
    got = uniques.report_from_totals(flagged, row.asDict())
    assert (got.rows_checked, got.rows_dropped) == (5, 2)  # o2 and o5 share "paid"
    moved = flagged.where(F.col(checks.MOVE)).select("order_id").collect()
    assert [r.order_id for r in moved] == ["o2"]
    assert flagged.where(F.col(checks.MOVE).isNull()).count() == 0
    with pytest.raises(ValueError):
        RuleSet([], prefix="flags")


def test_a_history_function_sees_the_reports_of_the_groups_before_it(spark):
    """Groups in key order, each history built from the verdicts of the ones before."""
    df = orders(spark).withColumn("day", F.when(F.col("order_id") <= "o3", "b").otherwise("a"))
    rules = RuleSet([rule("row_count_change", "fail", max_ratio=0.5, window=2)])
    seen = []

    def history(key, earlier):
        seen.append((key, sorted(earlier)))
        return [r.rows_checked for _, r in sorted(earlier.items(), reverse=True)]

    reports = rules.evaluate(rules.flag(df, group_by=["day"]), group_by=["day"], history=history)
    assert seen == [("a", []), ("b", ["a"])]
    assert not reports["a"].gate_failed  # 1 row, nothing to compare with
    assert reports["b"].gate_failed  # 3 rows vs 1: +200%
    assert reports["b"].results[0].detail == "3 rows, +200% vs the average 1 of the last 1 runs"


def test_results_land_in_the_quality_table(spark, settings):
    ranged = [rule("range", "quarantine", column="amount", min=0)]
    _, _, report = check(orders(spark), ranged, keys=["order_id"])
    path = settings.path("_ops", "quality")
    rows = result_rows(
        report,
        run_id="r1",
        job="batch_load",
        pipeline="orders",
        logical_date=date(2026, 3, 2),
        checked_at=NOW,
    )
    write_results(spark, path, rows)
    stored = spark.read.format("delta").load(path)
    assert stored.schema == QUALITY_SCHEMA
    got = stored.first()
    assert (got.rule, got.rows_checked, got.rows_failed, got.passed) == (
        "range_amount",
        4,
        1,
        False,
    )
    assert got.samples == ['{"order_id":"o2"}'] and got.level == "row"


def test_results_retried_after_their_commit_landed_are_written_once(spark, settings, monkeypatch):
    rules = [
        rule("range", "quarantine", column="amount", min=0),
        rule("not_null", columns=["customer_id"]),
    ]
    _, _, report = check(orders(spark), rules, keys=["order_id"])
    path = settings.path("_ops", "quality")

    def rows(run_id: str, day: date = date(2026, 3, 2)) -> list[tuple]:
        return result_rows(
            report,
            run_id=run_id,
            job="batch_load",
            pipeline="orders",
            logical_date=day,
            checked_at=NOW,
        )

    def stored(run_id: str) -> int:
        return spark.read.format("delta").load(path).where(F.col("run_id") == run_id).count()

    write_results(spark, path, rows("r0"))  # the table exists: every commit below is an append
    before = commits(spark, path)
    lost = lose_the_first_ack(monkeypatch)
    write_results(spark, path, rows("r1"))  # committed, "failed", retried
    monkeypatch.undo()
    assert lost, "the first save did not run"
    assert stored("r1") == 2, f"{stored('r1')} rows for 2 rules: appended twice"
    assert commits(spark, path) == before + 1

    write_results(spark, path, rows("r1"))  # the same rows again: skipped
    assert stored("r1") == 2 and commits(spark, path) == before + 1

    write_results(spark, path, rows("r2"))  # another run
    write_results(spark, path, rows("r1", date(2026, 3, 3)))  # the same run, another date
    assert stored("r2") == 2 and stored("r1") == 4
    assert commits(spark, path) == before + 3

"""Freshness and SLA with a fixed clock, consumer lag on a real broker, the health job."""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from lakehouse.config import load_config
from lakehouse.config.model import Freshness, Sla
from lakehouse.core.durations import Duration
from lakehouse.jobs import health
from lakehouse.lake.ledger import Ledger, RunRecord
from lakehouse.ops.freshness import kafka_lag, measure
from lakehouse.ops.sla import evaluate
from lakehouse.quality import QualityReport, RuleResult, result_rows, write_results
from tests.harness.browser import require_chromium, run_chromium
from tests.harness.html import charts_of, parse, sections
from tests.harness.load import LoadHarness, row
from tests.harness.stream import T0, StreamHarness, order


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@contextlib.contextmanager
def local_time_zone(name: str):
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        os.environ["TZ"] = old or "UTC"
        time.tzset()


# ---------------------------------------------------------------- SLA (pure)

SLA = Sla(max_duration=Duration.parse("30m"), deadline="06:00")
D = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("status", "start", "end", "met", "miss"),
    [
        ("success", utc(2026, 3, 2, 5, 0), utc(2026, 3, 2, 5, 20), True, None),
        ("success", utc(2026, 3, 2, 5, 0), utc(2026, 3, 2, 5, 40), False, "ran 40m"),
        ("success", utc(2026, 3, 2, 6, 0), utc(2026, 3, 2, 6, 10), False, "after the deadline"),
        ("failed", utc(2026, 3, 2, 5, 0), utc(2026, 3, 2, 5, 10), None, None),  # can be retried
        ("failed", utc(2026, 3, 2, 6, 0), utc(2026, 3, 2, 6, 10), False, "not succeeded by"),
        ("skipped", utc(2026, 3, 2, 5, 0), utc(2026, 3, 2, 9, 0), None, None),
    ],
)
def test_sla_verdicts_with_a_fixed_clock(status, start, end, met, miss):
    verdict = evaluate(SLA, status=status, started_at=start, ended_at=end, logical_date=D)
    assert verdict.met is met
    if status != "skipped":
        assert verdict.deadline == utc(2026, 3, 2, 6, 0)
    if miss:
        assert any(miss in m for m in verdict.misses), verdict.misses
    else:
        assert not verdict.misses


def test_no_sla_means_no_verdict():
    at = utc(2026, 3, 2, 5, 0)
    assert evaluate(None, status="success", started_at=at, ended_at=at, logical_date=D).met is None
    only_deadline = Sla(deadline="06:00")  # a run without a logical date has no deadline
    verdict = evaluate(
        only_deadline, status="success", started_at=at, ended_at=at, logical_date=None
    )
    assert verdict.met is None


# ---------------------------------------------------------------- freshness (real Delta)


@pytest.fixture
def loaded(spark, tmp_path, capsys, monkeypatch) -> LoadHarness:
    """A silver table whose newest event is 2026-03-01 22:00 UTC."""
    load = LoadHarness(tmp_path, capsys, monkeypatch)
    load.land(D, [row("a", at="2026-03-01T09:00:00"), row("b", at="2026-03-01T22:00:00")])
    assert load.run(D)[0] == 0
    return load


def pipeline_of(load: LoadHarness):
    return load_config("orders", conf_dir=load.conf).pipeline


def test_event_time_freshness_ok_warn_error(spark, loaded):
    p = pipeline_of(loaded)
    fresh = Freshness(
        column="event_time", warn_after=Duration.parse("1h"), error_after=Duration.parse("2h")
    )
    settings = load_config("orders", conf_dir=loaded.conf).settings
    levels = {}
    for minutes in (30, 90, 150):
        now = utc(2026, 3, 1, 22, 0) + timedelta(minutes=minutes)
        result = measure(spark, settings, p, "silver.orders", fresh, now)
        levels[minutes] = (result.level, result.value)
    assert levels == {30: ("ok", 1800.0), 90: ("warn", 5400.0), 150: ("error", 9000.0)}
    # the Python process's time zone does not shift the ages (Spark gives epoch seconds)
    with local_time_zone("Asia/Tokyo"):
        tokyo = measure(spark, settings, p, "silver.orders", fresh, now)
    assert (tokyo.value, tokyo.observed) == (9000.0, utc(2026, 3, 1, 22, 0))
    assert result.message() == "silver.orders is 2h 30m old (error after 2h)"
    assert result.observed == utc(2026, 3, 1, 22, 0)


def test_commit_freshness_and_a_missing_table(spark, loaded):
    p = pipeline_of(loaded)
    settings = load_config("orders", conf_dir=loaded.conf).settings
    last = DeltaTable.forPath(spark, loaded.silver_path).history(1).first()["timestamp"]
    last = last.replace(tzinfo=timezone.utc)
    fresh = Freshness(
        from_="commit", warn_after=Duration.parse("15m"), error_after=Duration.parse("1h")
    )
    got = [
        measure(spark, settings, p, "silver.orders", fresh, last + timedelta(minutes=m)).level
        for m in (5, 20, 90)
    ]
    assert got == ["ok", "warn", "error"]
    missing = measure(spark, settings, p, "bronze.orders", fresh, last)
    assert missing.level == "error" and missing.value is None
    assert "does not exist yet" in missing.message()


@pytest.mark.kafka
def test_kafka_lag_counts_messages_not_yet_ingested(
    spark, tmp_path, kafka_bootstrap, kafka_topic, capsys, monkeypatch
):
    stream = StreamHarness(tmp_path, kafka_bootstrap, kafka_topic, capsys, monkeypatch)
    config = load_config("orders", conf_dir=stream.conf)

    def lag() -> int:
        return kafka_lag(spark, config.settings, config.pipeline)[0]

    stream.produce([order(f"o{i}", T0) for i in range(5)])
    assert lag() == 5  # no checkpoint yet: everything is behind
    assert stream.run()[0] == 0
    assert lag() == 0
    stream.produce([order(f"n{i}", T0) for i in range(3)])
    assert lag() == 3
    fresh = Freshness(from_="kafka_lag", warn_after=2, error_after=10)
    result = measure(spark, config.settings, config.pipeline, "bronze.orders", fresh, T0)
    assert (result.level, result.value, result.unit) == ("warn", 3.0, "messages")


# ---------------------------------------------------------------- the health job


def prepare_history(spark, load: LoadHarness) -> None:
    """Ledger and quality rows with fixed times (around 2026-03-01/02)."""
    ledger = Ledger(spark, str(load.lake / "_ops" / "runs"))

    def rec(run: str, day: date, status: str, start: datetime, minutes: int, **kw):
        r = RunRecord(
            run_id=run,
            job="batch_load",
            started_at=start,
            pipeline="orders",
            logical_date=day,
            rows_out=kw.get("rows_out", 10),
            rows_quarantined=kw.get("rows_quarantined", 1),
        )
        r.finish(
            status, 0 if status == "success" else 1, ended_at=start + timedelta(minutes=minutes)
        )
        r.sla_met = kw.get("sla_met", True if status == "success" else None)
        return r

    ledger.append_many(
        [
            rec("r27", date(2026, 2, 27), "success", utc(2026, 2, 28, 5, 0), 5),
            rec("r28", date(2026, 2, 28), "success", utc(2026, 3, 1, 7, 0), 5, sla_met=False),
            rec("r01a", date(2026, 3, 1), "failed", utc(2026, 3, 2, 5, 0), 2),
            rec("r01b", date(2026, 3, 1), "success", utc(2026, 3, 2, 5, 20), 5, rows_out=20),
        ]
    )
    report = QualityReport(
        rows_checked=20,
        results=[
            RuleResult("not_null_customer_id", "not_null", "quarantine", 20, 2, False),
            RuleResult("range_amount", "range", "quarantine", 20, 0, True),
        ],
    )
    rows = result_rows(
        report,
        run_id="r01b",
        job="batch_load",
        pipeline="orders",
        logical_date=date(2026, 3, 1),
        checked_at=utc(2026, 3, 2, 5, 25),
    )
    write_results(spark, str(load.lake / "_ops" / "quality"), rows)


@pytest.fixture
def monitored(spark, loaded) -> LoadHarness:
    loaded.configure(
        freshness={
            "silver.orders": {"column": "event_time", "warn_after": "1h", "error_after": "2h"}
        },
        sla={"batch_load": {"max_duration": "10m", "deadline": "06:00"}},
        alerts=[{"sink": "file", "path": "_ops/alerts.jsonl", "on": ["stale"]}],
    )
    # the real load above ran today, long after the fixed clocks below: out of every window
    prepare_history(spark, loaded)
    return loaded


def run_health(load: LoadHarness, *args: str) -> tuple[int, dict, str]:
    code = health.main(["--conf-dir", str(load.conf), *args])
    out = load.capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1]), out


def test_health_warns_but_passes_when_nothing_is_at_error_level(spark, monitored, tmp_path):
    out_dir = tmp_path / "report"
    code, record, out = run_health(
        monitored,
        "--pipeline",
        "orders",
        "--now",
        "2026-03-01T23:30:00Z",
        "--report",
        str(out_dir),
        "--window",
        "7d",
    )
    assert code == 0 and record["status"] == "success", out
    assert record["details"]["level"] == "warn"
    report = json.loads((out_dir / "report.json").read_text())
    p = report["pipelines"][0]
    assert [(f["table"], f["level"], f["value"]) for f in p["freshness"]] == [
        ("silver.orders", "warn", 5400.0)
    ]
    job = p["jobs"][0]
    assert (job["job"], job["runs"], job["failed"], job["sla_met"], job["sla_missed"]) == (
        "batch_load",
        2,
        0,
        1,
        1,
    )
    assert [(d["logical_date"], d["level"]) for d in p["deadlines"]] == [
        ("2026-02-27", "ok"),
        ("2026-02-28", "warn"),
    ]
    assert "silver.orders is 1h 30m old (warn after 1h)" in out
    assert "pipeline orders: WARN" in out


def test_health_exits_4_on_error_level_and_writes_json_html_and_alerts(spark, monitored, tmp_path):
    out_dir = tmp_path / "report"
    args = ["--pipeline", "orders", "--now", "2026-03-02T07:00:00Z", "--report", str(out_dir)]
    code, record, _ = run_health(monitored, *args)
    assert code == 4 and record["exit_code"] == 4 and record["status"] == "failed"
    assert "silver.orders is 9h old (error after 2h)" in record["error_message"]
    report = json.loads((out_dir / "report.json").read_text())
    assert report["level"] == "error"
    p = report["pipelines"][0]
    assert p["jobs"][0]["level"] == "warn"  # one failure, but the latest run succeeded
    assert [d["level"] for d in p["deadlines"]] == ["ok", "warn", "ok"]
    assert p["rows_per_day"] == [
        {"date": "2026-02-27", "rows_out": 10, "rows_quarantined": 1},
        {"date": "2026-02-28", "rows_out": 10, "rows_quarantined": 1},
        {"date": "2026-03-01", "rows_out": 20, "rows_quarantined": 1},
    ]
    assert p["quality"]["broken_latest"] == ["not_null_customer_id"]
    assert {r["rule"]: r["rows_failed"] for r in p["quality"]["rules"]} == {
        "not_null_customer_id": 2,
        "range_amount": 0,
    }
    # a stale alert in the file sink; the same condition again is suppressed
    alerts = (monitored.lake / "_ops" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(a)["event"] for a in alerts] == ["stale"]
    assert record["details"]["stale_alerts"]["alerts_sent"] == 1
    code, again, _ = run_health(monitored, *args)
    assert code == 4 and again["details"]["stale_alerts"]["alerts_suppressed"] == 1

    # the HTML: four charts, bars and points matching the JSON
    page = (out_dir / "report.html").read_text()
    check_health_page(page, report)


def check_health_page(page: str, report: dict) -> None:
    charts = charts_of(sections(parse(page), ("orders",))["orders"])
    assert sorted(charts) == ["duration", "freshness", "quarantine", "rows"]
    p = report["pipelines"][0]
    assert len(list(charts["rows"].iter("rect", "bar"))) == len(p["rows_per_day"]) == 3
    assert len(list(charts["quarantine"].iter("rect", "bar"))) == 3
    assert len(list(charts["freshness"].iter("rect", "bar"))) == 1
    points = list(charts["duration"].iter("circle", "point"))
    assert len(points) == sum(len(j["runs_detail"]) for j in p["jobs"]) == 4
    assert len(list(charts["duration"].iter("line", "sla"))) == 1


def test_health_report_in_a_browser(spark, monitored, tmp_path):
    binary = require_chromium()
    out_dir = tmp_path / "report"
    run_health(
        monitored, "--pipeline", "orders", "--now", "2026-03-02T07:00:00Z", "--report", str(out_dir)
    )
    report = json.loads((out_dir / "report.json").read_text())
    dom = run_chromium(binary, tmp_path, "--dump-dom", (out_dir / "report.html").as_uri()).stdout
    check_health_page(dom, report)


def test_health_does_not_judge_its_own_earlier_runs(spark, monitored):
    code, first, _ = run_health(monitored, "--pipeline", "orders")  # now: the data is months old
    assert code == 4 and "silver.orders is" in first["error_message"]
    monitored.configure(  # someone widens the thresholds: nothing is at error level any more
        freshness={"silver.orders": {"column": "event_time", "warn_after": "3650d"}},
        sla={"batch_load": {"max_duration": "10m"}},
    )
    code, second, out = run_health(monitored, "--pipeline", "orders")
    assert code == 0, out
    report = json.loads(Path(second["details"]["report"]["json"]).read_text())
    assert "health" not in [j["job"] for j in report["pipelines"][0]["jobs"]]


def test_health_all_pipelines_and_bad_arguments(spark, monitored, tmp_path):
    code, record, _ = run_health(
        monitored, "--all", "--now", "2026-03-01T23:30:00Z", "--report", str(tmp_path / "r")
    )
    assert code == 0 and record["details"]["pipelines"] == ["orders"]
    for args, message in [
        (["--all", "--pipeline", "orders"], "not allowed with argument"),
        ([], "one of the arguments --pipeline --all is required"),
        (["--all", "--window", "5m"], "too short"),
        (["--all", "--now", "yesterday"], "invalid time"),
        (["--all", "--report", str(monitored.conf / "base.yaml")], "not a writable folder"),
    ]:
        code = health.main(["--conf-dir", str(monitored.conf), *args])
        captured = monitored.capsys.readouterr()
        assert code == 2 and message in captured.err, (args, captured.err)


def test_health_warns_when_silver_is_behind_a_source_that_changed_after_its_load(
    spark, tmp_path, capsys, monkeypatch
):
    load = LoadHarness(tmp_path, capsys, monkeypatch)
    load.land(D, [row("a"), row("b")])
    assert load.run(D)[0] == 0
    code, record, out = run_health(load, "--pipeline", "orders", "--now", "2026-03-02T12:00:00Z")
    assert code == 0 and "completeness" not in out

    folder = load.lake / "landing" / "orders" / f"date={D.isoformat()}"
    (folder / "late.json").write_text(json.dumps(row("c", at="2026-03-01T23:58:00")) + "\n")
    code, record, out = run_health(load, "--pipeline", "orders", "--now", "2026-03-02T12:00:00Z")

    assert code == 0 and record["details"]["level"] == "warn"
    assert "silver 2026-03-01: its source changed after its load" in out
    assert load.run(D)[0] == 0  # loaded again: caught up
    code, record, out = run_health(load, "--pipeline", "orders", "--now", "2026-03-02T12:00:00Z")
    assert "completeness" not in out and "its source changed" not in out

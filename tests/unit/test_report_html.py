"""The health report page (lib/lakehouse/ops/health/html.py): fast, no Spark.

The page is parsed with the standard library's ``html.parser`` (always) and, when
Chromium is on the machine, rendered headless: the DOM it builds must hold the same
charts, and a screenshot must come out. ``LAKEHOUSE_REQUIRE_BROWSER=1`` turns a
missing Chromium into a failure instead of a skip (CI installs it, see
scripts/setup.sh).
"""

from __future__ import annotations

import copy
import json
import re
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lakehouse.ops.health import render_html, write_report
from lakehouse.ops.health.values import format_duration
from tests.harness.browser import require_chromium, run_chromium
from tests.harness.html import Node, TreeBuilder, charts_of, parse, sections  # noqa: F401

EVIL = "<script>alert(1)</script>"
GENERATED = datetime(2026, 11, 26, 5, 0, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _runs(job: str, days: int, hour: int, base_s: float, sla_s: float | None) -> list[dict]:
    runs = []
    for i in range(days):
        logical = (GENERATED - timedelta(days=days - i)).date()
        started = datetime(logical.year, logical.month, logical.day, hour, 1, tzinfo=timezone.utc)
        started += timedelta(days=1)
        failed = i == 5
        duration = base_s + 37.5 * (i % 4) + (1500 if i == 9 else 0)
        runs.append(
            {
                "run_id": f"{job}-{i:02d}",
                "started_at": _iso(started),
                "logical_date": logical.isoformat(),
                "status": "failed" if failed else "success",
                "exit_code": 3 if failed else 0,
                "duration_s": duration,
                "sla_met": None if sla_s is None else (not failed and duration <= sla_s),
                "rows_out": None if failed else 1000 + 10 * i,
                "rows_quarantined": None if failed else i % 3,
            }
        )
    return runs


def make_report() -> dict[str, Any]:
    """A realistic report: "orders" with everything, "clicks" with every list empty."""
    batch_runs = _runs("batch_load", 14, 4, 312.5, 1800)
    stream_runs = _runs("stream_ingest", 6, 0, 60.0, None)
    days = [
        {
            "date": (GENERATED.date() - timedelta(days=14 - i)).isoformat(),
            "rows_out": 1000 + 10 * i,
            "rows_quarantined": i % 3,
        }
        for i in range(14)
    ]
    days[5] = {"date": days[5]["date"], "rows_out": 0, "rows_quarantined": None}
    orders = {
        "name": "orders",
        "level": "error",
        "freshness": [
            {
                "table": "silver.orders",
                "clock": "column",
                "value": 9000.0,
                "unit": "s",
                "warn_after": 3600,
                "error_after": 7200,
                "level": "error",
                "observed": "2026-11-26T02:30:00Z",
                "detail": "max(event_time) 2026-11-26T02:30:00Z",
            },
            {
                "table": "bronze.orders",
                "clock": "kafka_lag",
                "value": 120,
                "unit": "messages",
                "warn_after": 1000,
                "error_after": 10000,
                "level": "ok",
                "observed": None,
                "detail": None,
            },
            {
                "table": "gold.<b>daily</b> & co",
                "clock": "commit",
                "value": None,
                "unit": "s",
                "warn_after": None,
                "error_after": None,
                "level": "warn",
                "observed": None,
                "detail": None,
            },
        ],
        "jobs": [
            {
                "job": "batch_load",
                "runs": 14,
                "succeeded": 13,
                "failed": 1,
                "success_rate": 0.929,
                "sla": {"max_duration_s": 1800, "deadline": "06:00"},
                "sla_met": 12,
                "sla_missed": 1,
                "level": "warn",
                "runs_detail": batch_runs,
            },
            {
                "job": "stream_ingest",
                "runs": 6,
                "succeeded": 6,
                "failed": 0,
                "success_rate": 1.0,
                "sla": None,
                "sla_met": None,
                "sla_missed": None,
                "level": "ok",
                "runs_detail": stream_runs,
            },
        ],
        "deadlines": [
            {
                "job": "batch_load",
                "logical_date": "2026-11-25",
                "deadline": "2026-11-26T06:00:00Z",
                "met": False,
                "level": "error",
                "succeeded_at": None,
            },
            {
                "job": "batch_load",
                "logical_date": "2026-11-24",
                "deadline": "2026-11-25T06:00:00Z",
                "met": True,
                "level": "ok",
                "succeeded_at": "2026-11-25T05:07:30Z",
            },
        ],
        "quality": {
            "rules": [
                {
                    "rule": "not_null_customer_id",
                    "kind": "not_null",
                    "severity": "quarantine",
                    "runs": 14,
                    "failed_runs": 2,
                    "rows_checked": 14000,
                    "rows_failed": 5,
                },
                {
                    "rule": "amount_positive",
                    "kind": "expression",
                    "severity": "warn",
                    "runs": 14,
                    "failed_runs": 0,
                    "rows_checked": None,
                    "rows_failed": None,
                },
            ],
            "per_day": [
                {"date": d["date"], "rows_checked": 1000, "rows_failed": d["rows_quarantined"]}
                for d in days
            ],
        },
        "rows_per_day": days,
    }
    clicks = {
        "name": "clicks",
        "level": "ok",
        "freshness": [],
        "jobs": [],
        "deadlines": [],
        "quality": {"rules": [], "per_day": []},
        "rows_per_day": [],
    }
    return {
        "generated_at": _iso(GENERATED),
        "window_days": 14,
        "level": "error",
        "problems": [
            {
                "pipeline": "orders",
                "level": "error",
                "what": "freshness",
                "message": "silver.orders is 2h 30m old (error after 2h)",
            },
            {
                "pipeline": "orders",
                "level": "warn",
                "what": "quality",
                "message": f"rule saw {EVIL} in a value",
            },
        ],
        "pipelines": [orders, clicks],
    }


# -- a small DOM from html.parser ----------------------------------------------------------


def check_page(page: str, report: dict[str, Any]) -> None:
    """The checks both the raw page and Chromium's DOM must pass."""
    doc = parse(page)
    assert "script" not in doc.tags
    assert "<script" not in page.lower()
    orders_report = report["pipelines"][0]
    by_name = sections(doc)
    orders, clicks = charts_of(by_name["orders"]), charts_of(by_name["clicks"])

    for svg in [*orders.values(), *clicks.values()]:
        title = svg.child("title")
        assert title is not None and title.all_text().strip(), "every chart has a <title>"

    # rows / quarantine: one bar per day, each with a tooltip holding the exact value
    days = orders_report["rows_per_day"]
    for kind, key in (("rows", "rows_out"), ("quarantine", "rows_quarantined")):
        bars = list(orders[kind].iter("rect", "bar"))
        assert len(bars) == len(days)
        for bar, day in zip(bars, days, strict=True):
            tip = bar.child("title")
            assert tip is not None
            expected = "unknown" if day[key] is None else f"{day[key]:,}"
            assert tip.all_text().startswith(day["date"]) and expected in tip.all_text()
    tips = [b.child("title").all_text() for b in orders["rows"].iter("rect", "bar")]
    assert "2026-11-25: 1,130 rows loaded" in tips

    # duration: one point per run, one SLA line for the job with max_duration_s
    jobs = orders_report["jobs"]
    points = list(orders["duration"].iter("circle", "point"))
    assert len(points) == sum(len(job["runs_detail"]) for job in jobs) == 20
    assert sum("failed" in p.classes for p in points) == 2
    assert sum("missed" in p.classes for p in points) == 1
    sla_lines = list(orders["duration"].iter("line", "sla"))
    assert len(sla_lines) == 1
    assert "30m" in sla_lines[0].child("title").all_text()
    point_tips = [p.child("title").all_text() for p in points]
    assert any("312.5 s" in tip and "5m 13s" in tip for tip in point_tips)

    # freshness: one bar per table, the unit in the labels
    fresh_bars = list(orders["freshness"].iter("rect", "bar"))
    assert len(fresh_bars) == len(orders_report["freshness"]) == 3
    fresh_text = orders["freshness"].all_text()
    assert "2h 30m" in fresh_text and "120 messages" in fresh_text
    assert "9,000 s (2h 30m)" in fresh_bars[0].child("title").all_text()
    assert "gold.<b>daily</b> & co" in fresh_text  # escaped in the source, text again here
    assert len(list(orders["freshness"].iter("line", "threshold"))) == 4

    # the empty pipeline: frames with "no data", nothing drawn
    for kind, svg in clicks.items():
        assert "no data" in svg.all_text(), kind
        assert not list(svg.iter("rect", "bar")) and not list(svg.iter("circle", "point"))
        assert svg.child("title") is not None
    for kind in ("rows", "quarantine", "freshness"):
        assert "no data" not in orders[kind].all_text(), kind

    # problems first, then the pipelines; tables present
    problems = doc.root.iter("section")
    assert next(problems).attrs.get("id") == "problems"
    body = doc.root.all_text()
    assert EVIL in body  # shown as text ...
    assert "not_null_customer_id" in body and "0.04%" in body
    assert "No jobs ran in the window." in by_name["clicks"].all_text()


# -- tests ---------------------------------------------------------------------------------


@pytest.fixture
def report() -> dict[str, Any]:
    return make_report()


def test_page_structure(report: dict[str, Any]) -> None:
    page = render_html(report)
    check_page(page, report)
    assert page.startswith("<!DOCTYPE html>")
    assert 'class="badge big error"' in page


def test_write_report_round_trip(report: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "nested" / "health"
    json_path, html_path = write_report(report, out)
    assert (json_path, html_path) == (out / "report.json", out / "report.html")
    assert json.loads(json_path.read_text(encoding="utf-8")) == report
    assert json_path.read_text(encoding="utf-8").startswith('{\n  "generated_at"')
    assert html_path.read_text(encoding="utf-8") == render_html(report)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]
    write_report(report, out)  # again: replaces, no leftovers
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]


def test_everything_is_escaped(report: dict[str, Any]) -> None:
    report["pipelines"][0]["name"] = f'ord"ers{EVIL}'
    report["pipelines"][0]["jobs"][0]["job"] = EVIL
    report["pipelines"][0]["quality"]["rules"][0]["rule"] = EVIL
    report["pipelines"][0]["rows_per_day"][0]["date"] = EVIL
    report["level"] = EVIL
    page = render_html(report)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page and "&lt;b&gt;daily&lt;/b&gt; &amp; co" in page
    doc = parse(page)
    assert "script" not in doc.tags and "b" not in doc.tags
    names = [n.attrs.get("data-pipeline") for n in doc.root.iter("section", "pipeline")]
    assert names == [f'ord"ers{EVIL}', "clicks"]  # the attribute stayed one attribute
    assert "content=\"default-src 'none'" in page  # and a CSP as a second fence


def test_no_problems_and_degenerate_series() -> None:
    run = {
        "run_id": "r",
        "started_at": "2026-11-20T05:00:00Z",
        "duration_s": 0.0,
        "status": "success",
        "sla_met": True,
    }
    job = {"job": "j", "runs_detail": [run, dict(run, run_id="s")], "sla": {"max_duration_s": 0}}
    lone = {"job": "k", "runs_detail": [dict(run, duration_s=None), dict(run, started_at="?")]}
    report = {
        "generated_at": None,
        "window_days": None,
        "level": "ok",
        "problems": [],
        "pipelines": [
            {
                "name": "p",
                "level": None,
                "jobs": [job, lone, {"job": "single", "runs_detail": [run], "sla": None}],
                "freshness": [
                    {"table": "t", "value": 0, "unit": "s", "warn_after": 0, "error_after": 0},
                    {"table": "u", "value": 1e9, "unit": "s", "warn_after": 60, "level": "error"},
                ],
                "quality": None,
                "rows_per_day": [{"date": "2026-11-20", "rows_out": 0, "rows_quarantined": 0}],
            }
        ],
    }
    page = render_html(report)
    doc = parse(page)
    assert "No problems" in doc.root.all_text()
    section = next(doc.root.iter("section", "pipeline"))
    svgs = {svg.attrs["data-chart"]: svg for svg in section.iter("svg")}
    assert len(list(svgs["duration"].iter("circle", "point"))) == 3
    assert len(list(svgs["duration"].iter("line", "sla"))) == 1
    assert "not drawn" in svgs["duration"].all_text()  # the two runs that cannot be placed
    assert len(list(svgs["rows"].iter("rect", "bar"))) == 1
    assert len(list(svgs["freshness"].iter("rect", "overflow"))) == 1
    assert not re.search(r"\b(nan|inf)\b", page, re.IGNORECASE)
    # nothing at all still renders a page
    assert "No pipelines in the report." in render_html({})


def test_format_duration() -> None:
    assert format_duration(9000) == "2h 30m"
    assert format_duration(312.5) == "5m 13s"
    assert format_duration(45) == "45s"
    assert format_duration(2.5) == "2.5s"
    assert format_duration(0) == "0s"
    assert format_duration(3601) == "1h"
    assert format_duration(90061) == "1d 1h"
    assert format_duration(None) == "—"
    assert format_duration(-90) == "-1m 30s"


# -- the browser ---------------------------------------------------------------------------


def test_in_browser(report: dict[str, Any], tmp_path: Path) -> None:
    binary = require_chromium()
    _, html_path = write_report(report, tmp_path / "out")
    url = html_path.resolve().as_uri()

    dom = run_chromium(binary, tmp_path, "--dump-dom", url).stdout
    assert 'data-chart="duration"' in dom, dom[:2000]
    check_page(dom, copy.deepcopy(report))

    shot = tmp_path / "shot.png"
    run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2000)
    assert len(data) > 30_000, f"screenshot only {len(data)} bytes: blank page?"

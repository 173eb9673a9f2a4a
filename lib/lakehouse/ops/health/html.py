"""The health report as one static HTML page: inline CSS and SVG charts, no scripts.

``render_html(report)`` turns the report built by :mod:`.build` (or read back
from report.json) into a self-contained page: it opens from ``file://`` and
fetches nothing (the charts are SVG drawn by :mod:`.charts`, the styles are
inline, and a Content-Security-Policy forbids any request or script).
Standard library only, no Spark.

Every string taken from the report is HTML-escaped. Any list may be empty and
any number may be null (shown as unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lakehouse.ops.health.charts import pipeline_charts, time_window
from lakehouse.ops.health.values import (
    as_map,
    esc,
    fmt_num,
    fmt_ts,
    format_duration,
    level_name,
    level_rank,
    maps,
    num,
)

# -- cells ---------------------------------------------------------------------------------


def _pct(part: Any, whole: Any) -> str:
    a, b = num(part), num(whole)
    if a is None or b is None or b <= 0:
        return "—"
    share = 100.0 * a / b
    if share == 0:
        return "0%"
    if share < 0.01:
        return "<0.01%"
    return f"{share:.2f}".rstrip("0").rstrip(".") + "%"


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "—"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "x"


# -- tables --------------------------------------------------------------------------------


def _badge(level: Any) -> str:
    name = level_name(level)
    shown = level if isinstance(level, str) and level else "unknown"
    return f'<span class="badge {name}">{esc(shown)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], empty: str) -> str:
    if not rows:
        return f'<p class="none">{esc(empty)}</p>'
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _sla_text(sla: Mapping[str, Any]) -> str:
    parts = []
    if num(sla.get("max_duration_s")) is not None:
        parts.append(f"≤ {format_duration(sla.get('max_duration_s'))}")
    if sla.get("deadline"):
        parts.append(f"done by {sla.get('deadline')}")
    return ", ".join(parts) or "—"


def _jobs_table(jobs: list[Mapping[str, Any]]) -> str:
    rows = []
    for job in jobs:
        rate = num(job.get("success_rate"))
        rows.append(
            [
                esc(job.get("job") or "?"),
                _badge(job.get("level")),
                esc(fmt_num(job.get("runs"))),
                esc(fmt_num(job.get("succeeded"))),
                esc(fmt_num(job.get("failed"))),
                esc("—" if rate is None else f"{rate * 100:.1f}%"),
                esc(_sla_text(as_map(job.get("sla")))),
                esc(fmt_num(job.get("sla_met"))),
                esc(fmt_num(job.get("sla_missed"))),
            ]
        )
    headers = ["Job", "Level", "Runs", "Succeeded", "Failed", "Success rate", "SLA"]
    headers += ["SLA met", "SLA missed"]
    return _table(headers, rows, {2, 3, 4, 5, 7, 8}, "No jobs ran in the window.")


def _deadlines_table(deadlines: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            esc(item.get("job") or "?"),
            esc(item.get("logical_date") or "—"),
            esc(fmt_ts(item.get("deadline"))),
            esc(_yes_no(item.get("met"))),
            esc(fmt_ts(item.get("succeeded_at"))),
            _badge(item.get("level")),
        ]
        for item in deadlines
    ]
    headers = ["Job", "Logical date", "Deadline", "Met", "Succeeded at", "Level"]
    return _table(headers, rows, set(), "No deadlines in the window.")


def _rules_table(rules: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            esc(rule.get("rule") or "?"),
            esc(rule.get("kind") or "—"),
            esc(rule.get("severity") or "—"),
            esc(fmt_num(rule.get("runs"))),
            esc(fmt_num(rule.get("failed_runs"))),
            esc(fmt_num(rule.get("rows_checked"))),
            esc(fmt_num(rule.get("rows_failed"))),
            esc(_pct(rule.get("rows_failed"), rule.get("rows_checked"))),
        ]
        for rule in rules
    ]
    headers = ["Rule", "Kind", "Severity", "Runs", "Failed runs", "Rows checked", "Rows failed"]
    headers.append("Failed share")
    return _table(headers, rows, {3, 4, 5, 6, 7}, "No quality rules ran in the window.")


def _runs_details(jobs: list[Mapping[str, Any]]) -> str:
    runs = [(job, run) for job in jobs for run in maps(job.get("runs_detail"))]
    if not runs:
        return ""
    runs.sort(key=lambda pair: str(pair[1].get("started_at") or ""), reverse=True)
    rows = [
        [
            esc(fmt_ts(run.get("started_at"))),
            esc(job.get("job") or "?"),
            esc(run.get("logical_date") or "—"),
            f'<span class="status {_slug(str(run.get("status") or ""))}">'
            f"{esc(run.get('status') or '—')}</span>",
            esc(fmt_num(run.get("exit_code"))),
            esc(format_duration(run.get("duration_s"))),
            esc(_yes_no(run.get("sla_met"))),
            esc(fmt_num(run.get("rows_out"))),
            esc(fmt_num(run.get("rows_quarantined"))),
            f"<code>{esc(run.get('run_id') or '—')}</code>",
        ]
        for job, run in runs
    ]
    headers = ["Started", "Job", "Logical date", "Status", "Exit", "Duration", "SLA met"]
    headers += ["Rows out", "Quarantined", "Run id"]
    table = _table(headers, rows, {4, 5, 7, 8}, "")
    return f"<details><summary>All runs ({len(runs)})</summary>{table}</details>"


def _quality_days_details(per_day: list[Mapping[str, Any]]) -> str:
    if not per_day:
        return ""
    rows = [
        [
            esc(day.get("date") or "?"),
            esc(fmt_num(day.get("rows_checked"))),
            esc(fmt_num(day.get("rows_failed"))),
            esc(_pct(day.get("rows_failed"), day.get("rows_checked"))),
        ]
        for day in sorted(per_day, key=lambda d: str(d.get("date") or ""))
    ]
    table = _table(["Date", "Rows checked", "Rows failed", "Failed share"], rows, {1, 2, 3}, "")
    return (
        f"<details><summary>Quality checks per day ({len(per_day)} days)</summary>{table}</details>"
    )


# -- page ----------------------------------------------------------------------------------

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; }
header.page { background: #fff; border-bottom: 1px solid var(--border); padding: 18px 32px; }
header.page h1 { margin: 0 0 4px; font-size: 22px; display: flex; align-items: center; gap: 12px; }
.meta { color: var(--muted); margin: 0; }
nav.pipelines { margin-top: 10px; display: flex; flex-wrap: wrap; gap: 8px; }
nav.pipelines a { text-decoration: none; color: var(--fg); border: 1px solid var(--border);
  border-radius: 6px; padding: 2px 8px; background: var(--bg); }
nav.pipelines a:hover { border-color: #0969da; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 32px 40px; }
section.card { background: #fff; border: 1px solid var(--border); border-radius: 8px;
  padding: 18px 24px; margin-bottom: 20px; }
section.card h2 { margin: 0 0 10px; font-size: 18px; display: flex; align-items: center;
  gap: 10px; }
h3 { font-size: 15px; margin: 20px 0 8px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px;
  font-weight: 600; letter-spacing: .03em; text-transform: uppercase; border: 1px solid; }
.badge.ok { background: #dafbe1; color: #116329; border-color: #aceebb; }
.badge.warn { background: #fff8c5; color: #7d4e00; border-color: #eac54f; }
.badge.error { background: #ffebe9; color: #a40e26; border-color: #ffcecb; }
.badge.unknown { background: #f6f8fa; color: #59636e; border-color: #d1d9e0; }
.badge.big { font-size: 14px; padding: 3px 14px; }
.badge.big.ok { background: #1f883d; color: #fff; border-color: #1f883d; }
.badge.big.warn { background: #d29922; color: #1f2328; border-color: #d29922; }
.badge.big.error { background: #cf222e; color: #fff; border-color: #cf222e; }
ul.problems { list-style: none; margin: 0; padding: 0; }
ul.problems li { padding: 7px 0; border-bottom: 1px solid #eaeef2; display: flex; gap: 10px;
  align-items: baseline; }
ul.problems li:last-child { border-bottom: 0; }
ul.problems .where { font-weight: 600; white-space: nowrap; }
ul.problems .what { color: var(--muted); white-space: nowrap; }
p.none { color: var(--muted); margin: 4px 0; }
p.none.good { color: #116329; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr));
  gap: 16px; }
figure { margin: 0; border: 1px solid #eaeef2; border-radius: 6px; padding: 12px 14px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg.chart { display: block; width: 100%; height: auto; max-width: 760px;
  font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; }
svg.chart text { font-size: 11.5px; fill: #59636e; }
svg.chart text.label { font-size: 12.5px; font-weight: 600; fill: #1f2328; }
svg.chart text.value { font-size: 12.5px; font-weight: 600; }
svg.chart text.value.ok { fill: #1f883d; }
svg.chart text.value.warn { fill: #9a6700; }
svg.chart text.value.error { fill: #cf222e; }
svg.chart .muted, svg.chart tspan.muted { fill: #6e7781; font-weight: 400; }
svg.chart text.small { font-size: 11px; }
svg.chart text.nodata { font-size: 14px; fill: #8c959f; font-style: italic; }
svg.chart text.barlabel { font-size: 10.5px; }
svg.chart text.sla-label { fill: #cf222e; font-weight: 600; }
svg.chart .point:hover, svg.chart .bar:hover { opacity: .75; }
.scroll { overflow-x: auto; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; }
table.data th, table.data td { padding: 6px 10px; border-bottom: 1px solid #eaeef2;
  text-align: left; vertical-align: top; }
table.data thead th { background: var(--bg); color: var(--muted); font-weight: 600;
  white-space: nowrap; }
table.data .num { text-align: right; font-variant-numeric: tabular-nums; }
table.data code { font-size: 12px; color: var(--muted); }
.status.failed { color: #a40e26; font-weight: 600; }
.status.success { color: #116329; }
details { margin-top: 12px; }
summary { cursor: pointer; color: #0969da; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 24px; }
@media print { body { background: #fff; } section.card { break-inside: avoid; } }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _problems_section(problems: list[Mapping[str, Any]]) -> str:
    if not problems:
        body = '<p class="none good">No problems</p>'
    else:
        ordered = sorted(problems, key=lambda p: -level_rank(p.get("level")))
        items = "".join(
            f"<li>{_badge(p.get('level'))}"
            f'<span class="where">{esc(p.get("pipeline") or "—")}</span>'
            f'<span class="what">{esc(p.get("what") or "")}</span>'
            f'<span class="message">{esc(p.get("message") or "")}</span></li>'
            for p in ordered
        )
        body = f'<ul class="problems">{items}</ul>'
    return (
        f'<section class="card" id="problems"><h2>Problems'
        f'<span class="count">({len(problems)})</span></h2>{body}</section>'
    )


def _pipeline_section(
    index: int, pipeline: Mapping[str, Any], window: tuple[float, float] | None
) -> str:
    name = str(pipeline.get("name") or f"pipeline {index + 1}")
    anchor = f"p{index}-{_slug(name)}"
    jobs = maps(pipeline.get("jobs"))
    tables = maps(pipeline.get("freshness"))
    deadlines = maps(pipeline.get("deadlines"))
    quality = as_map(pipeline.get("quality"))
    rules = maps(quality.get("rules"))
    per_day = maps(quality.get("per_day"))
    days = sorted(maps(pipeline.get("rows_per_day")), key=lambda d: str(d.get("date") or ""))
    missed = sum(1 for d in deadlines if d.get("met") is False)
    summary = (
        f"{len(jobs)} jobs · {len(tables)} tables watched for freshness · "
        f"{len(deadlines)} deadlines ({missed} missed) · {len(rules)} quality rules"
    )
    charts = pipeline_charts(name, jobs, tables, days, window, anchor)
    figures = "".join(
        f"<figure><figcaption>{esc(caption)}</figcaption>{svg}</figure>" for caption, svg in charts
    )
    return (
        f'<section class="card pipeline" id="{anchor}" data-pipeline="{esc(name)}">'
        f"<h2>{esc(name)} {_badge(pipeline.get('level'))}</h2>"
        f'<p class="meta">{esc(summary)}</p>'
        f'<div class="charts">{figures}</div>'
        f"<h3>Jobs</h3>{_jobs_table(jobs)}{_runs_details(jobs)}"
        f"<h3>Deadlines</h3>{_deadlines_table(deadlines)}"
        f"<h3>Data quality rules</h3>{_rules_table(rules)}{_quality_days_details(per_day)}"
        "</section>"
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    report = as_map(report)
    level = level_name(report.get("level"))
    shown_level = report.get("level") if isinstance(report.get("level"), str) else "unknown"
    generated = fmt_ts(report.get("generated_at"))
    window_days = report.get("window_days")
    problems = maps(report.get("problems"))
    pipelines = maps(report.get("pipelines"))
    window = time_window(report)

    meta = [f"Generated {generated}"]
    if num(window_days) is not None:
        meta.append(f"last {fmt_num(window_days)} days")
    meta.append(f"{len(pipelines)} pipelines")
    meta.append(f"{len(problems)} problems")
    nav = "".join(
        f'<a href="#p{i}-{_slug(str(p.get("name") or f"pipeline {i + 1}"))}">'
        f"{esc(p.get('name') or f'pipeline {i + 1}')} {_badge(p.get('level'))}</a>"
        for i, p in enumerate(pipelines)
    )
    sections = "".join(_pipeline_section(i, p, window) for i, p in enumerate(pipelines))
    if not pipelines:
        sections = '<section class="card"><p class="none">No pipelines in the report.</p></section>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Health report: {esc(shown_level)} — {esc(generated)}</title>"
        f"<style>{_CSS}</style></head>\n<body>"
        '<header class="page">'
        f'<h1>Lakehouse health <span class="badge big {level}">{esc(shown_level)}</span></h1>'
        f'<p class="meta">{esc(" · ".join(meta))}</p>'
        f'<nav class="pipelines">{nav}</nav></header>\n'
        f"<main>{_problems_section(problems)}\n{sections}</main>"
        "<footer>lakehouse-jobs health report · one self-contained file: "
        "no scripts, no external resources</footer>"
        "</body></html>\n"
    )

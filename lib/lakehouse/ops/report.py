"""The health report as one static HTML file: inline CSS and SVG charts, no scripts.

``render_html(report)`` turns the report dict built by the ``health`` job into a
self-contained page: it opens from ``file://`` and fetches nothing (the charts
are SVG drawn here, the styles are inline, and a Content-Security-Policy forbids
any request or script). ``write_report(report, out_dir)`` writes ``report.json``
and ``report.html`` side by side. Standard library only, no Spark.

Every string taken from the report is HTML-escaped. Any list may be empty (its
chart draws the frame and says "no data") and any number may be null (shown as
unknown). Per pipeline the page has four charts, each an ``<svg class="chart">``
with a ``data-chart`` name: ``duration`` (run durations against the SLA),
``freshness`` (age or lag against the thresholds), ``rows`` and ``quarantine``
(rows per day); bars are ``<rect class="bar">``, runs ``<circle class="point">``,
each with a ``<title>`` tooltip holding the exact value.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from lakehouse.core.clock import human_duration, parse_iso

__all__ = ["format_duration", "render_html", "write_report"]

_LEVEL_RANK = {"ok": 0, "warn": 1, "error": 2}
COLOURS = {
    "ok": "#1f883d",
    "warn": "#d29922",
    "error": "#cf222e",
    "unknown": "#8c959f",
    "info": "#0969da",
}
_ROWS_COLOUR = "#0969da"
_QUARANTINE_COLOUR = "#bc4c00"
_GRID = "#eaeef2"
_AXIS = "#afb8c1"

# Chart geometry, in SVG user units (the SVG scales to its box).
_W = 560
_LEFT = 58
_RIGHT = 14
_PLOT_W = _W - _LEFT - _RIGHT
_DAY = 86400


# -- values --------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float | None:
    """A finite number as float, else None (null, text, bool, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _level(value: Any) -> str:
    return value if isinstance(value, str) and value in _LEVEL_RANK else "unknown"


def _rank(value: Any) -> int:
    return _LEVEL_RANK.get(_level(value), -1)


def _maps(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list (anything else, or a non-list, counts as empty)."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _fmt_num(value: Any) -> str:
    """A number exactly, with thousands separators; "—" when unknown."""
    number = _num(value)
    if number is None:
        return "—"
    if isinstance(value, int) or number.is_integer():
        return f"{int(number):,}"
    return f"{number:,}"


def _compact(value: float) -> str:
    """Short axis label: 950, 1.2k, 3M."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            text = f"{value / scale:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2g}"


def format_duration(seconds: Any) -> str:
    """Seconds as a human duration (:func:`lakehouse.core.clock.human_duration`); "—" if unknown."""
    return human_duration(_num(seconds), unknown="—")


def _parse_ts(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``...Z`` or with offset; naive means UTC) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_iso(value)


def _fmt_ts(value: Any) -> str:
    """``2026-11-26 05:00 UTC``; unparsable text as given; "—" when null."""
    moment = _parse_ts(value)
    if moment is None:
        return "—" if value is None else str(value)
    pattern = "%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC"
    return moment.strftime(pattern)


def _short_date(value: Any) -> str:
    """``2026-11-20`` as ``Nov 20`` (axis labels); other text as given."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).strftime("%b %d")
        except ValueError:
            pass
    return "?" if value is None else str(value)


def _pct(part: Any, whole: Any) -> str:
    a, b = _num(part), _num(whole)
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


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(value: float) -> str:
    """An SVG coordinate."""
    return f"{value:.1f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "x"


# -- scales --------------------------------------------------------------------------------


def _nice_count_max(vmax: float, target: int = 4) -> tuple[float, float]:
    """(axis top, tick step) for counts: steps of 1, 2 or 5 times a power of ten."""
    if vmax <= 0:
        return 1.0, 1.0
    raw = vmax / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0)
    return step * math.ceil(vmax / step), step


_DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)
_DURATION_STEPS += (21600, 43200, _DAY, 2 * _DAY, 7 * _DAY)


def _nice_duration_max(vmax: float, target: int = 4) -> tuple[float, float]:
    """(axis top, tick step) for seconds, on whole seconds, minutes, hours or days."""
    if vmax <= 0:
        return 1.0, 1.0
    step = next((s for s in _DURATION_STEPS if vmax / s <= target), None)
    if step is None:
        step = 7 * _DAY * math.ceil(vmax / (7 * _DAY) / target)
    return step * math.ceil(vmax / step), float(step)


_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_TIME_STEPS += (_DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY)


def _time_ticks(lo: float, hi: float, max_ticks: int) -> list[tuple[float, str]]:
    """Ticks on whole UTC minutes/hours/days between epoch seconds lo and hi."""
    span = hi - lo
    step = next((s for s in _TIME_STEPS if span / s <= max_ticks), None)
    if step is None:
        step = 28 * _DAY * math.ceil(span / (28 * _DAY) / max_ticks)
    ticks = []
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        moment = datetime.fromtimestamp(tick, tz=timezone.utc)
        if step >= _DAY or (moment.hour == 0 and moment.minute == 0):
            label = moment.strftime("%b %d")
        else:
            label = moment.strftime("%H:%M")
        ticks.append((float(tick), label))
        tick += step
    return ticks


# -- SVG pieces ----------------------------------------------------------------------------


def _svg_open(kind: str, chart_id: str, height: float, title: str, desc: str) -> str:
    return (
        f'<svg class="chart" data-chart="{kind}" xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {_W} {_f(height)}" width="{_W}" height="{_f(height)}" role="img"'
        f' aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{_esc(title)}</title>'
        f'<desc id="{chart_id}-d">{_esc(desc)}</desc>'
    )


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{_esc(v)}"' for k, v in attrs.items())
    klass = f' class="{cls}"' if cls else ""
    return f'<text{klass} x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{extra}>{_esc(text)}</text>'


def _no_data(x: float, y: float) -> str:
    return _text(x, y, "no data", "nodata", "middle")


def _frame(x: float, y: float, w: float, h: float) -> str:
    return (
        f'<rect class="frame" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}"'
        f' fill="none" stroke="{_AXIS}"/>'
    )


def _hline(x1: float, x2: float, y: float, colour: str = _GRID, cls: str = "grid") -> str:
    return (
        f'<line class="{cls}" x1="{_f(x1)}" x2="{_f(x2)}" y1="{_f(y)}" y2="{_f(y)}"'
        f' stroke="{colour}"/>'
    )


def _vline(x: float, y1: float, y2: float, colour: str = _GRID, cls: str = "grid") -> str:
    return (
        f'<line class="{cls}" x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y1)}" y2="{_f(y2)}"'
        f' stroke="{colour}"/>'
    )


# -- chart: run duration against SLA -------------------------------------------------------

_PANEL_HEAD = 22
_PANEL_PLOT = 112
_PANEL_GAP = 16
_LEGEND_H = 26
_XAXIS_H = 26

_RUN_KINDS = {
    "met": ("SLA met", COLOURS["ok"]),
    "missed": ("SLA missed", COLOURS["warn"]),
    "failed": ("failed", COLOURS["error"]),
    "nosla": ("no SLA", COLOURS["info"]),
    "other": ("skipped / other", COLOURS["unknown"]),
}


def _run_kind(run: Mapping[str, Any]) -> str:
    status = run.get("status")
    if status == "failed":
        return "failed"
    if status == "success":
        met = run.get("sla_met")
        return "met" if met is True else "missed" if met is False else "nosla"
    return "other"


def _time_window(report: Mapping[str, Any]) -> tuple[float, float] | None:
    generated = _parse_ts(report.get("generated_at"))
    days = _num(report.get("window_days"))
    if generated is None or days is None or days <= 0:
        return None
    end = generated.timestamp()
    return end - days * _DAY, end


def _duration_chart(name: str, jobs: list[Mapping[str, Any]], window, chart_id: str) -> str:
    series = []
    times: list[float] = []
    for job in jobs:
        points = []
        unplotted = 0
        for run in _maps(job.get("runs_detail")):
            started = _parse_ts(run.get("started_at"))
            seconds = _num(run.get("duration_s"))
            if started is None or seconds is None:
                unplotted += 1
                continue
            points.append((started.timestamp(), max(seconds, 0.0), run))
        points.sort(key=lambda point: point[0])
        times.extend(point[0] for point in points)
        sla = _num(_map(job.get("sla")).get("max_duration_s"))
        if sla is not None and sla < 0:
            sla = None
        series.append((str(job.get("job") or "?"), points, unplotted, sla))

    lo, hi = window if window else (min(times, default=0.0), max(times, default=0.0))
    if times:
        lo, hi = min(lo, min(times)), max(hi, max(times))
    if hi - lo < 60:  # one run, or all at the same moment
        lo, hi = lo - 1800, hi + 1800
    pad = (hi - lo) * 0.03
    lo, hi = lo - pad, hi + pad
    ticks = _time_ticks(lo, hi, max_ticks=_PLOT_W // 60)

    def x_of(t: float) -> float:
        return _LEFT + (t - lo) / (hi - lo) * _PLOT_W

    panels = max(1, len(series))
    height = _LEGEND_H + panels * (_PANEL_HEAD + _PANEL_PLOT) + (panels - 1) * _PANEL_GAP
    height += _XAXIS_H
    runs = sum(len(points) for _, points, _, _ in series)
    out = [
        _svg_open(
            "duration",
            chart_id,
            height,
            f"Run duration against SLA — {name}",
            f"Duration of each run over time, one panel per job ({len(series)} jobs, "
            f"{runs} runs); dashed line: the SLA's maximum duration.",
        )
    ]
    # legend
    x = 4.0
    for label, colour in _RUN_KINDS.values():
        out.append(f'<circle cx="{_f(x + 5)}" cy="12" r="4.5" fill="{colour}"/>')
        out.append(_text(x + 14, 16, label, "legend"))
        x += 14 + len(label) * 6.3 + 14
    out.append(
        f'<line x1="{_f(x)}" x2="{_f(x + 22)}" y1="12" y2="12" stroke="{COLOURS["error"]}"'
        ' stroke-width="1.5" stroke-dasharray="5 3"/>'
    )
    out.append(_text(x + 27, 16, "SLA max", "legend"))

    if not series:
        series = [("", [], 0, None)]
    for i, (job_name, points, unplotted, sla) in enumerate(series):
        top = _LEGEND_H + i * (_PANEL_HEAD + _PANEL_PLOT + _PANEL_GAP)
        y0 = top + _PANEL_HEAD
        y1 = y0 + _PANEL_PLOT
        if job_name:
            note = f"{len(points)} runs"
            if unplotted:
                note += f" ({unplotted} more without start time or duration, not drawn)"
            if sla is not None:
                note += f" · SLA ≤ {format_duration(sla)}"
            out.append(
                f'<text class="label" x="{_LEFT}" y="{_f(top + 14)}">{_esc(job_name)}'
                f'<tspan class="muted" dx="8">{_esc(note)}</tspan></text>'
            )
        vmax = max([p[1] for p in points] + ([sla] if sla is not None else []), default=0.0)
        top_value, step = _nice_duration_max(vmax)

        def y_of(v: float, y1: float = y1, top_value: float = top_value) -> float:
            return y1 - v / top_value * _PANEL_PLOT

        tick = 0.0
        while tick <= top_value + 1e-9:
            y = y_of(tick)
            out.append(_hline(_LEFT, _LEFT + _PLOT_W, y))
            if points or sla is not None:
                out.append(_text(_LEFT - 6, y + 4, format_duration(tick), "tick", "end"))
            tick += step
        for t, _label in ticks:
            out.append(_vline(x_of(t), y0, y1))
        out.append(_frame(_LEFT, y0, _PLOT_W, _PANEL_PLOT))
        if sla is not None:
            y = y_of(sla)
            out.append(
                f'<line class="sla" x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{_f(y)}"'
                f' y2="{_f(y)}" stroke="{COLOURS["error"]}" stroke-width="1.5"'
                f' stroke-dasharray="5 3"><title>{_esc(job_name)}: SLA maximum duration '
                f"{_esc(format_duration(sla))} ({_esc(_fmt_num(sla))} s)</title></line>"
            )
            out.append(
                _text(_LEFT + _PLOT_W - 4, y - 4, f"SLA {format_duration(sla)}", "sla-label", "end")
            )
        if not points:
            out.append(_no_data(_LEFT + _PLOT_W / 2, y0 + _PANEL_PLOT / 2 + 4))
            continue
        if len(points) > 1:
            coords = " ".join(f"{_f(x_of(t))},{_f(y_of(v))}" for t, v, _ in points)
            out.append(
                f'<polyline class="trend" points="{coords}" fill="none" stroke="{_AXIS}"'
                ' stroke-width="1"/>'
            )
        radius = 4.5 if len(points) <= 40 else 3.0
        for t, v, run in points:
            kind = _run_kind(run)
            tip = (
                f"{job_name} · started {_fmt_ts(run.get('started_at'))} · "
                f"{format_duration(v)} ({_fmt_num(run.get('duration_s'))} s) · "
                f"status {run.get('status') or '—'} · "
                f"SLA {_RUN_KINDS[kind][0] if kind in ('met', 'missed') else 'n/a'} · "
                f"logical date {run.get('logical_date') or '—'} · "
                f"rows out {_fmt_num(run.get('rows_out'))} · run {run.get('run_id') or '—'}"
            )
            out.append(
                f'<circle class="point {kind}" cx="{_f(x_of(t))}" cy="{_f(y_of(v))}"'
                f' r="{radius}" fill="{_RUN_KINDS[kind][1]}" stroke="#fff" stroke-width="1">'
                f"<title>{_esc(tip)}</title></circle>"
            )
    # x axis labels under the last panel
    base = height - _XAXIS_H + 16
    for t, label in ticks:
        out.append(_text(x_of(t), base, label, "tick", "middle"))
    out.append("</svg>")
    return "".join(out)


# -- chart: freshness against thresholds ---------------------------------------------------

_FRESH_ROW = 60
_FRESH_TOP = 26


def _unit_value(value: Any, unit: Any) -> str:
    """A freshness value in its unit: seconds as ``2h 30m``, else ``120 messages``."""
    if _num(value) is None:
        return "unknown"
    if unit == "s":
        return format_duration(value)
    return f"{_fmt_num(value)} {unit}" if unit else _fmt_num(value)


def _unit_exact(value: Any, unit: Any) -> str:
    if _num(value) is None:
        return "unknown"
    exact = f"{_fmt_num(value)} {unit}".strip() if unit else _fmt_num(value)
    return f"{exact} ({format_duration(value)})" if unit == "s" else exact


def _freshness_chart(name: str, tables: list[Mapping[str, Any]], chart_id: str) -> str:
    rows = max(1, len(tables))
    height = _FRESH_TOP + rows * _FRESH_ROW
    pad = 12.0
    track_x, track_w = pad, _W - 2 * pad
    out = [
        _svg_open(
            "freshness",
            chart_id,
            height,
            f"Freshness against thresholds — {name}",
            f"One bar per table ({len(tables)}): its age or lag, coloured by level, with the "
            "warn and error thresholds marked; each bar has its own scale.",
        )
    ]
    x = 4.0
    for label, colour in (("warn after", COLOURS["warn"]), ("error after", COLOURS["error"])):
        out.append(
            f'<line x1="{_f(x + 4)}" x2="{_f(x + 4)}" y1="5" y2="19" stroke="{colour}"'
            ' stroke-width="2.5"/>'
        )
        out.append(_text(x + 12, 16, label, "legend"))
        x += 12 + len(label) * 6.3 + 16
    out.append(_text(x, 16, "· each bar on its own scale", "legend muted"))
    if not tables:
        out.append(_frame(track_x, _FRESH_TOP + 8, track_w, _FRESH_ROW - 20))
        out.append(_no_data(_W / 2, _FRESH_TOP + _FRESH_ROW / 2 + 2))
    for i, table in enumerate(tables):
        top = _FRESH_TOP + i * _FRESH_ROW
        table_name = str(table.get("table") or "?")
        clock = table.get("clock")
        unit = table.get("unit")
        level = _level(table.get("level"))
        colour = COLOURS[level]
        value = _num(table.get("value"))
        warn = _num(table.get("warn_after"))
        error = _num(table.get("error_after"))
        thresholds = [v for v in (warn, error) if v is not None and v > 0]
        limit = 2 * max(thresholds) if thresholds else None
        overflow = value is not None and limit is not None and value > limit
        if overflow:
            scale = limit
        else:
            scale = max([v for v in (value, warn, error) if v is not None and v > 0], default=0)
            scale = scale * 1.15 if scale > 0 else 1.0

        def x_of(v: float, scale: float = scale) -> float:
            return track_x + min(max(v, 0.0), scale) / scale * track_w

        value_text = _unit_value(table.get("value"), unit)
        out.append(
            f'<text class="label" x="{_f(track_x)}" y="{_f(top + 14)}">'
            f"{_esc(_truncate(table_name, 52))}"
            f'<tspan class="muted" dx="8">{_esc(clock or "")}</tspan></text>'
        )
        out.append(
            f'<text class="value {level}" x="{_f(track_x + track_w)}" y="{_f(top + 14)}"'
            f' text-anchor="end" fill="{colour}">{_esc(value_text)}'
            f'<tspan class="muted" dx="6">{_esc(level)}</tspan></text>'
        )
        bar_y, bar_h = top + 21, 14.0
        out.append(
            f'<rect class="track" x="{_f(track_x)}" y="{_f(bar_y)}" width="{_f(track_w)}"'
            f' height="{_f(bar_h)}" rx="3" fill="#f0f3f6"/>'
        )
        width = x_of(value) - track_x if value is not None else 0.0
        tip = (
            f"{table_name} ({clock or 'clock ?'}): {_unit_exact(table.get('value'), unit)}; "
            f"warn after {_unit_exact(table.get('warn_after'), unit)}, "
            f"error after {_unit_exact(table.get('error_after'), unit)}; level {level}"
        )
        if table.get("observed"):
            tip += f"; observed {_fmt_ts(table.get('observed'))}"
        if table.get("detail"):
            tip += f"; {table.get('detail')}"
        bar_class = (
            "bar" + (" overflow" if overflow else "") + (" missing" if value is None else "")
        )
        out.append(
            f'<rect class="{bar_class}"'
            f' x="{_f(track_x)}" y="{_f(bar_y)}" width="{_f(width)}" height="{_f(bar_h)}" rx="3"'
            f' fill="{colour}"><title>{_esc(tip)}</title></rect>'
        )
        if overflow:
            end = track_x + track_w
            out.append(
                f'<path d="M{_f(end - 14)},{_f(bar_y - 1)} l5,{_f(bar_h + 2)}'
                f' M{_f(end - 8)},{_f(bar_y - 1)} l5,{_f(bar_h + 2)}" stroke="#fff"'
                ' stroke-width="2.5"/>'
            )
        for threshold, kind in ((warn, "warn"), (error, "error")):
            if threshold is None:
                continue
            mx = x_of(threshold)
            out.append(
                f'<line class="threshold {kind}" x1="{_f(mx)}" x2="{_f(mx)}"'
                f' y1="{_f(bar_y - 4)}" y2="{_f(bar_y + bar_h + 4)}" stroke="{COLOURS[kind]}"'
                f' stroke-width="2.5"><title>{kind} after '
                f"{_esc(_unit_exact(threshold, unit))}</title></line>"
            )
        sub = [
            f"{kind} after {_unit_value(threshold, unit)}"
            for threshold, kind in ((warn, "warn"), (error, "error"))
            if threshold is not None
        ] or ["no thresholds set"]
        if table.get("detail"):
            sub.append(_truncate(str(table.get("detail")), 60))
        elif table.get("observed"):
            sub.append(f"observed {_fmt_ts(table.get('observed'))}")
        out.append(_text(track_x, bar_y + bar_h + 15, " · ".join(sub), "muted small"))
    out.append("</svg>")
    return "".join(out)


# -- chart: rows per day (bars) ------------------------------------------------------------

_BAR_H = 230
_BAR_TOP = 18
_BAR_BOTTOM = 30


def _bar_chart(
    kind: str,
    title: str,
    days: list[Mapping[str, Any]],
    key: str,
    what: str,
    colour: str,
    chart_id: str,
) -> str:
    plot_h = _BAR_H - _BAR_TOP - _BAR_BOTTOM
    y1 = _BAR_TOP + plot_h
    values = [_num(day.get(key)) for day in days]
    known = [v for v in values if v is not None]
    top_value, step = _nice_count_max(max(known, default=0.0))
    total = sum(known)
    out = [
        _svg_open(
            kind,
            chart_id,
            _BAR_H,
            title,
            f"One bar per day ({len(days)} days), {what}; total {_fmt_num(total)}.",
        )
    ]

    def y_of(v: float) -> float:
        return y1 - max(v, 0.0) / top_value * plot_h

    tick = 0.0
    while tick <= top_value + 1e-9:
        y = y_of(tick)
        out.append(_hline(_LEFT, _LEFT + _PLOT_W, y))
        if known:
            out.append(_text(_LEFT - 6, y + 4, _compact(tick), "tick", "end"))
        tick += step
    out.append(_frame(_LEFT, _BAR_TOP, _PLOT_W, plot_h))
    if not days:
        out.append(_no_data(_LEFT + _PLOT_W / 2, _BAR_TOP + plot_h / 2 + 4))
        out.append("</svg>")
        return "".join(out)
    slot = _PLOT_W / len(days)
    bar_w = max(1.0, min(slot * 0.72, 44.0))
    every = max(1, math.ceil(len(days) / max(1, _PLOT_W // 52)))
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        cx = _LEFT + slot * (i + 0.5)
        label = str(day.get("date") or "?")
        if value is None:
            out.append(
                f'<rect class="bar missing" x="{_f(cx - bar_w / 2)}" y="{_f(y1)}"'
                f' width="{_f(bar_w)}" height="0" fill="{colour}">'
                f"<title>{_esc(label)}: {_esc(what)} unknown</title></rect>"
            )
            out.append(_text(cx, y1 - 4, "?", "muted", "middle"))
        else:
            y = y_of(value)
            out.append(
                f'<rect class="bar" x="{_f(cx - bar_w / 2)}" y="{_f(y)}" width="{_f(bar_w)}"'
                f' height="{_f(y1 - y)}" fill="{colour}">'
                f"<title>{_esc(label)}: {_esc(_fmt_num(day.get(key)))} {_esc(what)}</title></rect>"
            )
            if slot >= 30:
                out.append(_text(cx, y - 4, _compact(value), "barlabel", "middle"))
        if i % every == 0:
            out.append(_text(cx, y1 + 16, _short_date(day.get("date")), "tick", "middle"))
    out.append("</svg>")
    return "".join(out)


# -- tables --------------------------------------------------------------------------------


def _badge(level: Any) -> str:
    name = _level(level)
    shown = level if isinstance(level, str) and level else "unknown"
    return f'<span class="badge {name}">{_esc(shown)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], empty: str) -> str:
    if not rows:
        return f'<p class="none">{_esc(empty)}</p>'
    head = "".join(
        f'<th scope="col"{" class=num" if i in numeric else ""}>{_esc(h)}</th>'
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
    if _num(sla.get("max_duration_s")) is not None:
        parts.append(f"≤ {format_duration(sla.get('max_duration_s'))}")
    if sla.get("deadline"):
        parts.append(f"done by {sla.get('deadline')}")
    return ", ".join(parts) or "—"


def _jobs_table(jobs: list[Mapping[str, Any]]) -> str:
    rows = []
    for job in jobs:
        rate = _num(job.get("success_rate"))
        rows.append(
            [
                _esc(job.get("job") or "?"),
                _badge(job.get("level")),
                _esc(_fmt_num(job.get("runs"))),
                _esc(_fmt_num(job.get("succeeded"))),
                _esc(_fmt_num(job.get("failed"))),
                _esc("—" if rate is None else f"{rate * 100:.1f}%"),
                _esc(_sla_text(_map(job.get("sla")))),
                _esc(_fmt_num(job.get("sla_met"))),
                _esc(_fmt_num(job.get("sla_missed"))),
            ]
        )
    headers = ["Job", "Level", "Runs", "Succeeded", "Failed", "Success rate", "SLA"]
    headers += ["SLA met", "SLA missed"]
    return _table(headers, rows, {2, 3, 4, 5, 7, 8}, "No jobs ran in the window.")


def _deadlines_table(deadlines: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            _esc(item.get("job") or "?"),
            _esc(item.get("logical_date") or "—"),
            _esc(_fmt_ts(item.get("deadline"))),
            _esc(_yes_no(item.get("met"))),
            _esc(_fmt_ts(item.get("succeeded_at"))),
            _badge(item.get("level")),
        ]
        for item in deadlines
    ]
    headers = ["Job", "Logical date", "Deadline", "Met", "Succeeded at", "Level"]
    return _table(headers, rows, set(), "No deadlines in the window.")


def _rules_table(rules: list[Mapping[str, Any]]) -> str:
    rows = [
        [
            _esc(rule.get("rule") or "?"),
            _esc(rule.get("kind") or "—"),
            _esc(rule.get("severity") or "—"),
            _esc(_fmt_num(rule.get("runs"))),
            _esc(_fmt_num(rule.get("failed_runs"))),
            _esc(_fmt_num(rule.get("rows_checked"))),
            _esc(_fmt_num(rule.get("rows_failed"))),
            _esc(_pct(rule.get("rows_failed"), rule.get("rows_checked"))),
        ]
        for rule in rules
    ]
    headers = ["Rule", "Kind", "Severity", "Runs", "Failed runs", "Rows checked", "Rows failed"]
    headers.append("Failed share")
    return _table(headers, rows, {3, 4, 5, 6, 7}, "No quality rules ran in the window.")


def _runs_details(jobs: list[Mapping[str, Any]]) -> str:
    runs = [(job, run) for job in jobs for run in _maps(job.get("runs_detail"))]
    if not runs:
        return ""
    runs.sort(key=lambda pair: str(pair[1].get("started_at") or ""), reverse=True)
    rows = [
        [
            _esc(_fmt_ts(run.get("started_at"))),
            _esc(job.get("job") or "?"),
            _esc(run.get("logical_date") or "—"),
            f'<span class="status {_slug(str(run.get("status") or ""))}">'
            f"{_esc(run.get('status') or '—')}</span>",
            _esc(_fmt_num(run.get("exit_code"))),
            _esc(format_duration(run.get("duration_s"))),
            _esc(_yes_no(run.get("sla_met"))),
            _esc(_fmt_num(run.get("rows_out"))),
            _esc(_fmt_num(run.get("rows_quarantined"))),
            f"<code>{_esc(run.get('run_id') or '—')}</code>",
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
            _esc(day.get("date") or "?"),
            _esc(_fmt_num(day.get("rows_checked"))),
            _esc(_fmt_num(day.get("rows_failed"))),
            _esc(_pct(day.get("rows_failed"), day.get("rows_checked"))),
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
        ordered = sorted(problems, key=lambda p: -_rank(p.get("level")))
        items = "".join(
            f"<li>{_badge(p.get('level'))}"
            f'<span class="where">{_esc(p.get("pipeline") or "—")}</span>'
            f'<span class="what">{_esc(p.get("what") or "")}</span>'
            f'<span class="message">{_esc(p.get("message") or "")}</span></li>'
            for p in ordered
        )
        body = f'<ul class="problems">{items}</ul>'
    return (
        f'<section class="card" id="problems"><h2>Problems'
        f'<span class="count">({len(problems)})</span></h2>{body}</section>'
    )


def _pipeline_section(index: int, pipeline: Mapping[str, Any], window) -> str:
    name = str(pipeline.get("name") or f"pipeline {index + 1}")
    anchor = f"p{index}-{_slug(name)}"
    jobs = _maps(pipeline.get("jobs"))
    tables = _maps(pipeline.get("freshness"))
    deadlines = _maps(pipeline.get("deadlines"))
    quality = _map(pipeline.get("quality"))
    rules = _maps(quality.get("rules"))
    per_day = _maps(quality.get("per_day"))
    days = sorted(_maps(pipeline.get("rows_per_day")), key=lambda d: str(d.get("date") or ""))
    missed = sum(1 for d in deadlines if d.get("met") is False)
    summary = (
        f"{len(jobs)} jobs · {len(tables)} tables watched for freshness · "
        f"{len(deadlines)} deadlines ({missed} missed) · {len(rules)} quality rules"
    )
    charts = [
        ("Run duration against SLA", _duration_chart(name, jobs, window, f"{anchor}-duration")),
        ("Freshness against thresholds", _freshness_chart(name, tables, f"{anchor}-freshness")),
        (
            "Rows loaded per day",
            _bar_chart(
                "rows",
                f"Rows loaded per day — {name}",
                days,
                "rows_out",
                "rows loaded",
                _ROWS_COLOUR,
                f"{anchor}-rows",
            ),
        ),
        (
            "Quarantined rows per day",
            _bar_chart(
                "quarantine",
                f"Quarantined rows per day — {name}",
                days,
                "rows_quarantined",
                "rows quarantined",
                _QUARANTINE_COLOUR,
                f"{anchor}-quarantine",
            ),
        ),
    ]
    figures = "".join(
        f"<figure><figcaption>{_esc(caption)}</figcaption>{svg}</figure>" for caption, svg in charts
    )
    return (
        f'<section class="card pipeline" id="{anchor}" data-pipeline="{_esc(name)}">'
        f"<h2>{_esc(name)} {_badge(pipeline.get('level'))}</h2>"
        f'<p class="meta">{_esc(summary)}</p>'
        f'<div class="charts">{figures}</div>'
        f"<h3>Jobs</h3>{_jobs_table(jobs)}{_runs_details(jobs)}"
        f"<h3>Deadlines</h3>{_deadlines_table(deadlines)}"
        f"<h3>Data quality rules</h3>{_rules_table(rules)}{_quality_days_details(per_day)}"
        "</section>"
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    report = _map(report)
    level = _level(report.get("level"))
    shown_level = report.get("level") if isinstance(report.get("level"), str) else "unknown"
    generated = _fmt_ts(report.get("generated_at"))
    window_days = report.get("window_days")
    problems = _maps(report.get("problems"))
    pipelines = _maps(report.get("pipelines"))
    window = _time_window(report)

    meta = [f"Generated {generated}"]
    if _num(window_days) is not None:
        meta.append(f"last {_fmt_num(window_days)} days")
    meta.append(f"{len(pipelines)} pipelines")
    meta.append(f"{len(problems)} problems")
    nav = "".join(
        f'<a href="#p{i}-{_slug(str(p.get("name") or f"pipeline {i + 1}"))}">'
        f"{_esc(p.get('name') or f'pipeline {i + 1}')} {_badge(p.get('level'))}</a>"
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
        f"<title>Health report: {_esc(shown_level)} — {_esc(generated)}</title>"
        f"<style>{_CSS}</style></head>\n<body>"
        '<header class="page">'
        f'<h1>Lakehouse health <span class="badge big {level}">{_esc(shown_level)}</span></h1>'
        f'<p class="meta">{_esc(" · ".join(meta))}</p>'
        f'<nav class="pipelines">{nav}</nav></header>\n'
        f"<main>{_problems_section(problems)}\n{sections}</main>"
        "<footer>lakehouse-jobs health report · one self-contained file: "
        "no scripts, no external resources</footer>"
        "</body></html>\n"
    )


# -- files ---------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"report value of type {type(value).__name__} is not JSON: {value!r}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` (indent 2) and ``report.html`` into out_dir (created if needed).

    Returns (json path, html path). Each file is replaced atomically, so a reader never
    sees half a report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    html_path = out_dir / "report.html"
    text = json.dumps(report, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    page = render_html(report)
    _write_atomic(json_path, text)
    _write_atomic(html_path, page)
    return json_path, html_path

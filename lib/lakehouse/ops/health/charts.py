"""The page's charts: SVG drawn here, no scripts, no external resources.

Per pipeline four charts (:func:`pipeline_charts`), each an
``<svg class="chart">`` with a ``data-chart`` name: ``duration`` (run
durations against the SLA), ``freshness`` (age or lag against the
thresholds), ``rows`` and ``quarantine`` (rows per day); bars are
``<rect class="bar">``, runs ``<circle class="point">``, each with a
``<title>`` tooltip holding the exact value. An empty list draws the frame and
says "no data".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from lakehouse.ops.health.values import (
    as_map,
    esc,
    fmt_num,
    fmt_ts,
    format_duration,
    level_name,
    maps,
    num,
    parse_ts,
)

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


# -- labels --------------------------------------------------------------------------------


def _compact(value: float) -> str:
    """Short axis label: 950, 1.2k, 3M."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            text = f"{value / scale:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2g}"


def _short_date(value: Any) -> str:
    """``2026-11-20`` as ``Nov 20`` (axis labels); other text as given."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).strftime("%b %d")
        except ValueError:
            pass
    return "?" if value is None else str(value)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(value: float) -> str:
    """An SVG coordinate."""
    return f"{value:.1f}"


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
        f'<title id="{chart_id}-t">{esc(title)}</title>'
        f'<desc id="{chart_id}-d">{esc(desc)}</desc>'
    )


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
    klass = f' class="{cls}"' if cls else ""
    return f'<text{klass} x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{extra}>{esc(text)}</text>'


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


def time_window(report: Mapping[str, Any]) -> tuple[float, float] | None:
    """The report's window in epoch seconds (its end is ``generated_at``); None if unknown."""
    generated = parse_ts(report.get("generated_at"))
    days = num(report.get("window_days"))
    if generated is None or days is None or days <= 0:
        return None
    end = generated.timestamp()
    return end - days * _DAY, end


def _duration_panel(
    top: float,
    job_name: str,
    points: list[tuple[float, float, Mapping[str, Any]]],
    unplotted: int,
    sla: float | None,
    *,
    ticks: list[tuple[float, str]],
    x_of: Callable[[float], float],
) -> list[str]:
    """One job's panel of the duration chart: its grid, SLA line and runs."""
    out: list[str] = []
    y0 = top + _PANEL_HEAD
    y1 = y0 + _PANEL_PLOT
    if job_name:
        note = f"{len(points)} runs"
        if unplotted:
            note += f" ({unplotted} more without start time or duration, not drawn)"
        if sla is not None:
            note += f" · SLA ≤ {format_duration(sla)}"
        out.append(
            f'<text class="label" x="{_LEFT}" y="{_f(top + 14)}">{esc(job_name)}'
            f'<tspan class="muted" dx="8">{esc(note)}</tspan></text>'
        )
    vmax = max([p[1] for p in points] + ([sla] if sla is not None else []), default=0.0)
    top_value, step = _nice_duration_max(vmax)

    def y_of(v: float) -> float:
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
            f' stroke-dasharray="5 3"><title>{esc(job_name)}: SLA maximum duration '
            f"{esc(format_duration(sla))} ({esc(fmt_num(sla))} s)</title></line>"
        )
        out.append(
            _text(_LEFT + _PLOT_W - 4, y - 4, f"SLA {format_duration(sla)}", "sla-label", "end")
        )
    if not points:
        out.append(_no_data(_LEFT + _PLOT_W / 2, y0 + _PANEL_PLOT / 2 + 4))
        return out
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
            f"{job_name} · started {fmt_ts(run.get('started_at'))} · "
            f"{format_duration(v)} ({fmt_num(run.get('duration_s'))} s) · "
            f"status {run.get('status') or '—'} · "
            f"SLA {_RUN_KINDS[kind][0] if kind in ('met', 'missed') else 'n/a'} · "
            f"logical date {run.get('logical_date') or '—'} · "
            f"rows out {fmt_num(run.get('rows_out'))} · run {run.get('run_id') or '—'}"
        )
        out.append(
            f'<circle class="point {kind}" cx="{_f(x_of(t))}" cy="{_f(y_of(v))}"'
            f' r="{radius}" fill="{_RUN_KINDS[kind][1]}" stroke="#fff" stroke-width="1">'
            f"<title>{esc(tip)}</title></circle>"
        )
    return out


def _duration_chart(
    name: str,
    jobs: list[Mapping[str, Any]],
    window: tuple[float, float] | None,
    chart_id: str,
) -> str:
    series = []
    times: list[float] = []
    for job in jobs:
        points = []
        unplotted = 0
        for run in maps(job.get("runs_detail")):
            started = parse_ts(run.get("started_at"))
            seconds = num(run.get("duration_s"))
            if started is None or seconds is None:
                unplotted += 1
                continue
            points.append((started.timestamp(), max(seconds, 0.0), run))
        points.sort(key=lambda point: point[0])
        times.extend(point[0] for point in points)
        sla = num(as_map(job.get("sla")).get("max_duration_s"))
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
    for i, panel in enumerate(series):
        top = _LEGEND_H + i * (_PANEL_HEAD + _PANEL_PLOT + _PANEL_GAP)
        out.extend(_duration_panel(top, *panel, ticks=ticks, x_of=x_of))
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
    if num(value) is None:
        return "unknown"
    if unit == "s":
        return format_duration(value)
    return f"{fmt_num(value)} {unit}" if unit else fmt_num(value)


def _unit_exact(value: Any, unit: Any) -> str:
    if num(value) is None:
        return "unknown"
    exact = f"{fmt_num(value)} {unit}".strip() if unit else fmt_num(value)
    return f"{exact} ({format_duration(value)})" if unit == "s" else exact


def _freshness_row(
    top: float, table: Mapping[str, Any], track_x: float, track_w: float
) -> list[str]:
    """One table's row of the freshness chart: name, value, bar, thresholds."""
    out: list[str] = []
    table_name = str(table.get("table") or "?")
    clock = table.get("clock")
    unit = table.get("unit")
    level = level_name(table.get("level"))
    colour = COLOURS[level]
    value = num(table.get("value"))
    warn = num(table.get("warn_after"))
    error = num(table.get("error_after"))
    thresholds = [v for v in (warn, error) if v is not None and v > 0]
    limit = 2 * max(thresholds) if thresholds else None
    overflow = value is not None and limit is not None and value > limit
    if overflow:
        scale = limit
    else:
        scale = max([v for v in (value, warn, error) if v is not None and v > 0], default=0)
        scale = scale * 1.15 if scale > 0 else 1.0

    def x_of(v: float) -> float:
        return track_x + min(max(v, 0.0), scale) / scale * track_w

    value_text = _unit_value(table.get("value"), unit)
    out.append(
        f'<text class="label" x="{_f(track_x)}" y="{_f(top + 14)}">'
        f"{esc(_truncate(table_name, 52))}"
        f'<tspan class="muted" dx="8">{esc(clock or "")}</tspan></text>'
    )
    out.append(
        f'<text class="value {level}" x="{_f(track_x + track_w)}" y="{_f(top + 14)}"'
        f' text-anchor="end" fill="{colour}">{esc(value_text)}'
        f'<tspan class="muted" dx="6">{esc(level)}</tspan></text>'
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
        tip += f"; observed {fmt_ts(table.get('observed'))}"
    if table.get("detail"):
        tip += f"; {table.get('detail')}"
    bar_class = "bar" + (" overflow" if overflow else "") + (" missing" if value is None else "")
    out.append(
        f'<rect class="{bar_class}"'
        f' x="{_f(track_x)}" y="{_f(bar_y)}" width="{_f(width)}" height="{_f(bar_h)}" rx="3"'
        f' fill="{colour}"><title>{esc(tip)}</title></rect>'
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
            f"{esc(_unit_exact(threshold, unit))}</title></line>"
        )
    sub = [
        f"{kind} after {_unit_value(threshold, unit)}"
        for threshold, kind in ((warn, "warn"), (error, "error"))
        if threshold is not None
    ] or ["no thresholds set"]
    if table.get("detail"):
        sub.append(_truncate(str(table.get("detail")), 60))
    elif table.get("observed"):
        sub.append(f"observed {fmt_ts(table.get('observed'))}")
    out.append(_text(track_x, bar_y + bar_h + 15, " · ".join(sub), "muted small"))
    return out


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
        out.extend(_freshness_row(_FRESH_TOP + i * _FRESH_ROW, table, track_x, track_w))
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
    values = [num(day.get(key)) for day in days]
    known = [v for v in values if v is not None]
    top_value, step = _nice_count_max(max(known, default=0.0))
    total = sum(known)
    out = [
        _svg_open(
            kind,
            chart_id,
            _BAR_H,
            title,
            f"One bar per day ({len(days)} days), {what}; total {fmt_num(total)}.",
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
                f"<title>{esc(label)}: {esc(what)} unknown</title></rect>"
            )
            out.append(_text(cx, y1 - 4, "?", "muted", "middle"))
        else:
            y = y_of(value)
            out.append(
                f'<rect class="bar" x="{_f(cx - bar_w / 2)}" y="{_f(y)}" width="{_f(bar_w)}"'
                f' height="{_f(y1 - y)}" fill="{colour}">'
                f"<title>{esc(label)}: {esc(fmt_num(day.get(key)))} {esc(what)}</title></rect>"
            )
            if slot >= 30:
                out.append(_text(cx, y - 4, _compact(value), "barlabel", "middle"))
        if i % every == 0:
            out.append(_text(cx, y1 + 16, _short_date(day.get("date")), "tick", "middle"))
    out.append("</svg>")
    return "".join(out)


# -- the four charts of a pipeline ---------------------------------------------------------


def pipeline_charts(
    name: str,
    jobs: list[Mapping[str, Any]],
    tables: list[Mapping[str, Any]],
    days: list[Mapping[str, Any]],
    window: tuple[float, float] | None,
    anchor: str,
) -> list[tuple[str, str]]:
    """(caption, SVG) of each chart of one pipeline; ``window`` from :func:`time_window`."""
    return [
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

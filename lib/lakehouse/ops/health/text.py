"""The health report as plain text: the table ``lakehouse.jobs.health`` prints."""

from __future__ import annotations

from lakehouse.core.durations import human_seconds
from lakehouse.ops.health.model import HealthReport


def render_text(report: HealthReport) -> str:
    """The report as a readable plain-text table (what the job prints)."""
    lines = [
        f"health: {report['level'].upper()} "
        f"(window {report['window_days']:g}d, at {report['generated_at']})"
    ]
    for p in report["pipelines"]:
        lines.append("")
        lines.append(f"pipeline {p['name']}: {p['level'].upper()}")
        if p["freshness"]:
            lines.append(
                f"  {'table':<24} {'clock':<10} {'staleness':<22} {'warn / error':<22} level"
            )
            for f in p["freshness"]:
                if f["value"] is None:
                    value = "unknown"
                elif f["unit"] == "messages":
                    value = f"{int(f['value'])} messages"
                else:
                    value = human_seconds(f["value"])

                def limit(x: float | None, unit: str = f["unit"]) -> str:
                    if x is None:
                        return "-"
                    return str(int(x)) if unit == "messages" else human_seconds(x)

                limits = f"{limit(f['warn_after'])} / {limit(f['error_after'])}"
                lines.append(
                    f"  {f['table']:<24} {f['clock']:<10} {value:<22} {limits:<22} {f['level']}"
                )
        if p["jobs"]:
            lines.append(
                f"  {'job':<24} {'runs':>5} {'failed':>7} {'success':>8} "
                f"{'sla met/missed':>15}  level"
            )
            for j in p["jobs"]:
                rate = "-" if j["success_rate"] is None else f"{j['success_rate']:.1%}"
                sla = f"{j['sla_met']}/{j['sla_missed']}"
                lines.append(
                    f"  {j['job']:<24} {j['runs']:>5} {j['failed']:>7} {rate:>8} "
                    f"{sla:>15}  {j['level']}"
                )
        missed = [d for d in p["deadlines"] if d["level"] != "ok"]
        met = len(p["deadlines"]) - len(missed)
        if p["deadlines"]:
            lines.append(f"  deadlines: {met} met, {len(missed)} missed")
        q = p["quality"]
        if q["rules"]:
            failing = sum(1 for r in q["rules"] if r["failed_runs"])
            quarantined = sum(d["rows_quarantined"] for d in p["rows_per_day"])
            lines.append(
                f"  quality: {len(q['rules'])} rules, {failing} failed in the window; "
                f"{quarantined} rows quarantined"
            )
        for x in p["problems"]:
            lines.append(f"  {x['level'].upper():<5} {x['what']}: {x['message']}")
    return "\n".join(lines)

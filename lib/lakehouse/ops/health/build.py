"""Building the health report: freshness, SLAs, success rate, quality, quarantine.

:func:`build_report` reads the ledger (``_ops/runs``), the quality results
(``_ops/quality``) and the tables themselves into a :class:`~.model.HealthReport`
(``lakehouse.jobs.health`` prints it with :mod:`.text` and writes it with
:mod:`.write`); :func:`stale_alerts` turns its freshness results into alerts.
Levels are ``ok`` < ``warn`` < ``error``; the report's level is the worst of all.

Rules (documented in docs/jobs.md, "health"):

- freshness: each configured table on its clock (lakehouse.ops.freshness);
- a job whose latest run in the window failed is ``error``; any other
  failure or SLA miss in the window makes it ``warn``;
- deadline: for every logical date since the job's first run whose deadline
  has passed, a successful run must have ended by it: none at all is
  ``error``, a late one ``warn``;
- quality: a rule that failed in the latest check of a job is ``warn``
  (a ``fail`` rule already failed its run: that run's exit code says so);
- completeness: a date loaded in the window whose source changed after its
  load (late events in bronze's partition, files landed again) is ``warn``:
  silver is behind its source until the date is loaded again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any, cast

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.clock import as_utc, iso_z, naive_utc
from lakehouse.core.durations import human_seconds
from lakehouse.core.errors import ConfigError
from lakehouse.lake.delta_io import read_if_exists
from lakehouse.lake.ledger_queries import first_dates, first_successes, runs_between, snapshot
from lakehouse.ops.alerts import Alert
from lakehouse.ops.freshness import FreshnessResult, check_pipeline, worst
from lakehouse.ops.health.model import (
    DeadlineCheck,
    FreshnessEntry,
    HealthReport,
    JobHealth,
    PipelineHealth,
    Problem,
    QualityHealth,
    RowsDay,
    RuleStats,
)
from lakehouse.ops.sla import deadline_for

MAX_RUNS_IN_REPORT = 500


def job_health(pipeline: Pipeline, job: str, runs: list[Any]) -> JobHealth:
    """Runs, success rate and SLA record of one job in the window."""
    sla = pipeline.sla.get(job)
    counted = [r for r in runs if r["status"] in ("success", "failed")]
    succeeded = sum(1 for r in counted if r["status"] == "success")
    failed = len(counted) - succeeded
    met = sum(1 for r in runs if r["sla_met"] is True)
    missed = sum(1 for r in runs if r["sla_met"] is False)
    latest = counted[-1] if counted else None
    if latest is not None and latest["status"] == "failed":
        level = "error"
    elif failed or missed:
        level = "warn"
    else:
        level = "ok"
    return {
        "job": job,
        "runs": len(counted),
        "succeeded": succeeded,
        "failed": failed,
        "success_rate": round(succeeded / len(counted), 4) if counted else None,
        "sla": (
            {
                "max_duration_s": sla.max_duration.seconds if sla.max_duration else None,
                "deadline": sla.deadline,
            }
            if sla
            else None
        ),
        "sla_met": met,
        "sla_missed": missed,
        "level": level,
        "latest": (
            {
                "run_id": latest["run_id"],
                "status": latest["status"],
                "ended_at": iso_z(latest["ended_at"]),
            }
            if latest
            else None
        ),
        "runs_detail": [
            {
                "run_id": r["run_id"],
                "started_at": iso_z(r["started_at"]),
                "logical_date": r["logical_date"].isoformat() if r["logical_date"] else None,
                "status": r["status"],
                "exit_code": r["exit_code"],
                "duration_s": r["duration_s"],
                "sla_met": r["sla_met"],
                "rows_out": r["rows_out"],
                "rows_quarantined": r["rows_quarantined"],
            }
            for r in runs[-MAX_RUNS_IN_REPORT:]
        ],
    }


def deadline_checks(
    ledger: DataFrame | None, pipeline: Pipeline, now: datetime, since: datetime
) -> list[DeadlineCheck]:
    """One entry per (job, logical date) whose deadline passed in the window."""
    firsts = first_dates(ledger, pipeline.name)
    checks: list[DeadlineCheck] = []
    for job, sla in sorted(pipeline.sla.items()):
        if sla.deadline is None or job not in firsts:
            continue
        succeeded = first_successes(ledger, pipeline.name, job, now)
        day = max(firsts[job], (since - timedelta(days=1)).date())
        while True:
            deadline = deadline_for(sla, day)
            if deadline is None or deadline > now:
                break
            if deadline >= since:
                done = succeeded.get(day)
                if done is None:
                    level, met = "error", False
                elif done > deadline:
                    level, met = "warn", False
                else:
                    level, met = "ok", True
                checks.append(
                    {
                        "job": job,
                        "logical_date": day.isoformat(),
                        "deadline": iso_z(deadline),
                        "met": met,
                        "level": level,
                        "succeeded_at": iso_z(done),
                    }
                )
            day += timedelta(days=1)
    return checks


def quality_health(
    spark: SparkSession, settings: Settings, pipeline: str, since: datetime, now: datetime
) -> QualityHealth:
    """Per rule over the window, per day, and the rules broken in each job's latest check."""
    table = read_if_exists(spark, settings.quality_path)
    empty: QualityHealth = {"rules": [], "per_day": [], "broken_latest": [], "level": "ok"}
    if table is None:
        return empty
    rows = (
        table.where(
            (F.col("pipeline") == pipeline)
            & F.col("checked_at").between(F.lit(naive_utc(since)), F.lit(naive_utc(now)))
        )
        .select(
            "run_id",
            "job",
            "checked_at",
            "rule",
            "kind",
            "severity",
            "rows_checked",
            "rows_failed",
            "passed",
        )
        .collect()
    )
    if not rows:
        return empty
    rules: dict[str, RuleStats] = {}
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: {"rows_checked": 0, "rows_failed": 0})
    latest_run: dict[str, tuple[datetime, str]] = {}
    runs_seen: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        entry = rules.setdefault(
            r["rule"],
            {
                "rule": r["rule"],
                "kind": r["kind"],
                "severity": r["severity"],
                "runs": 0,
                "failed_runs": 0,
                "rows_checked": 0,
                "rows_failed": 0,
            },
        )
        entry["runs"] += 1
        entry["failed_runs"] += 0 if r["passed"] else 1
        entry["rows_checked"] += r["rows_checked"]
        entry["rows_failed"] += r["rows_failed"] or 0
        runs_seen[r["run_id"]].add(r["rule"])
        day = r["checked_at"].date().isoformat()
        if r["kind"] not in ("row_count", "row_count_change", "schema", "freshness_of_source"):
            per_day[day]["rows_failed"] += r["rows_failed"] or 0
        key = r["job"]
        if key not in latest_run or r["checked_at"] > latest_run[key][0]:
            latest_run[key] = (r["checked_at"], r["run_id"])
    # rows checked per day: once per run (every rule of a run checked the same rows)
    counted_runs: set[tuple[str, str]] = set()
    for r in rows:
        day = r["checked_at"].date().isoformat()
        if (r["run_id"], day) not in counted_runs:
            counted_runs.add((r["run_id"], day))
            per_day[day]["rows_checked"] += r["rows_checked"]
    latest_ids = {run_id for _, run_id in latest_run.values()}
    broken = sorted({r["rule"] for r in rows if r["run_id"] in latest_ids and not r["passed"]})
    return {
        "rules": sorted(rules.values(), key=lambda e: e["rule"]),
        "per_day": [{"date": d, **v} for d, v in sorted(per_day.items())],
        "broken_latest": broken,
        "level": "warn" if broken else "ok",
    }


def rows_per_day(runs: list[Any]) -> list[RowsDay]:
    """Rows loaded and quarantined per day, from the loads of one job.

    Silver loads (``batch_load``, per logical date, also when a backfill ran
    them) when there are any, else the stream's runs (per day they ended).
    A date loaded several times counts once: the most rows any of its
    successful loads wrote (an unchanged re-run writes none), and the
    quarantine of its latest load (a re-run replaces the date's rejects).
    """
    loads = [r for r in runs if r["status"] == "success" and r["job"] == "batch_load"]
    per_date = bool(loads)
    if not loads:
        loads = [r for r in runs if r["status"] == "success" and r["job"] == "stream_ingest"]
    days: dict[str, dict[str, int]] = {}
    for r in loads:  # oldest first
        day = (r["logical_date"] or r["ended_at"].date()).isoformat()
        entry = days.setdefault(day, {"rows_out": 0, "rows_quarantined": 0})
        if per_date:
            entry["rows_out"] = max(entry["rows_out"], r["rows_out"] or 0)
            entry["rows_quarantined"] = r["rows_quarantined"] or 0
        else:
            entry["rows_out"] += r["rows_out"] or 0
            entry["rows_quarantined"] += r["rows_quarantined"] or 0
    return [{"date": d, **v} for d, v in sorted(days.items())]


def behind_source(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, first: date, last: date
) -> list[date]:
    """Loaded dates from ``first`` to ``last`` whose source is no longer what they were
    loaded from (see lakehouse.batch.backfill.changed_dates)."""
    from lakehouse.batch.backfill import changed_dates, loaded_dates
    from lakehouse.batch.load import source_kind
    from lakehouse.lake.ledger import Ledger

    if pipeline.silver is None:
        return []
    try:
        kind = source_kind(pipeline, None)
    except ConfigError:
        return []
    ledger = Ledger(spark, settings.ledger_path)
    loaded = loaded_dates(ledger, pipeline.name, pipeline.fingerprint(), kind)
    days = [d for d in loaded if first <= d <= last]
    return sorted(changed_dates(spark, settings, pipeline, loaded, days, kind))


def pipeline_health(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, now: datetime, window: timedelta
) -> tuple[PipelineHealth, list[FreshnessResult]]:
    """One pipeline's section of the report (and its freshness results, for alerts)."""
    now = as_utc(now)
    since = now - window
    freshness = check_pipeline(spark, settings, pipeline, now)
    ledger = snapshot(spark, settings.ledger_path)  # one version for every question below
    runs = runs_between(ledger, pipeline.name, since, now, leave_out="health")
    by_job: dict[str, list[Any]] = defaultdict(list)
    for r in runs:
        by_job[r["job"]].append(r)
    jobs = [
        job_health(pipeline, job, by_job.get(job, []))
        for job in sorted(set(by_job) | set(pipeline.sla))
    ]
    deadlines = deadline_checks(ledger, pipeline, now, since)
    quality = quality_health(spark, settings, pipeline.name, since, now)
    problems: list[Problem] = []

    def problem(level: str, what: str, message: str) -> None:
        if level != "ok":
            problems.append(
                {"pipeline": pipeline.name, "level": level, "what": what, "message": message}
            )

    for f in freshness:
        problem(f.level, "freshness", f.message())
    for j in jobs:
        if j["level"] == "error":
            problem("error", "job", f"{j['job']}: the latest run failed ({j['latest']['run_id']})")
        elif j["level"] == "warn":
            problem(
                "warn",
                "job",
                f"{j['job']}: {j['failed']} failed run(s), {j['sla_missed']} SLA miss(es) "
                f"in the last {human_seconds(window.total_seconds())}",
            )
    for d in deadlines:
        if d["level"] == "error":
            problem(
                "error",
                "deadline",
                f"{d['job']} {d['logical_date']}: not succeeded by {d['deadline']}",
            )
        elif d["level"] == "warn":
            problem(
                "warn",
                "deadline",
                f"{d['job']} {d['logical_date']}: succeeded at {d['succeeded_at']}, "
                f"after {d['deadline']}",
            )
    behind = behind_source(spark, settings, pipeline, since.date(), now.date())
    for day in behind:
        problem(
            "warn",
            "completeness",
            f"silver {day}: its source changed after its load (late events?); "
            f"backfill --start {day} --end {day} loads it again",
        )
    if quality["broken_latest"]:
        problem(
            "warn",
            "quality",
            "rules broken in the latest check: " + ", ".join(quality["broken_latest"]),
        )
    section: PipelineHealth = {
        "name": pipeline.name,
        "level": worst(p["level"] for p in problems),
        "freshness": [cast(FreshnessEntry, f.as_dict()) for f in freshness],
        "jobs": jobs,
        "deadlines": deadlines,
        "quality": quality,
        "rows_per_day": rows_per_day(runs),
        "behind_source": [d.isoformat() for d in behind],
        "problems": problems,
    }
    return section, freshness


def build_report(
    spark: SparkSession,
    settings: Settings,
    pipelines: list[Pipeline],
    now: datetime,
    window: timedelta,
) -> tuple[HealthReport, dict[str, list[FreshnessResult]]]:
    """The whole report, and each pipeline's freshness results."""
    sections = []
    fresh: dict[str, list[FreshnessResult]] = {}
    for p in pipelines:
        section, results = pipeline_health(spark, settings, p, now, window)
        sections.append(section)
        fresh[p.name] = results
    problems = [x for s in sections for x in s["problems"]]
    report: HealthReport = {
        "generated_at": iso_z(now),
        "window_days": round(window.total_seconds() / 86400, 2),
        "level": worst(s["level"] for s in sections),
        "problems": problems,
        "pipelines": sections,
    }
    return report, fresh


def stale_alerts(pipeline: Pipeline, results: list[FreshnessResult], run_id: str) -> list[Alert]:
    """One ``stale`` alert per table at warn or error level."""
    return [
        Alert(
            event="stale",
            job="health",
            pipeline=pipeline.name,
            title=f"{pipeline.name}: {f.message()}",
            text=f.detail or "",
            level="error" if f.level == "error" else "warning",
            key=f"stale:{pipeline.name}:{f.table}:{f.level}",
            run_id=run_id,
            fields={"table": f.table, "clock": f.clock, "value": f.value, "unit": f.unit},
        )
        for f in results
        if f.level != "ok"
    ]

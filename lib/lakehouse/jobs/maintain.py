"""Keep a pipeline's tables healthy: compact closed days, VACUUM old files, set retention.

For each table of the pipeline (bronze, silver, both quarantines) and the
lake's ``_ops`` tables: sets the retention properties of the pipeline's
``maintenance`` section, runs OPTIMIZE on the partitions whose day ended at
least ``maintenance.closed_after`` ago (never the days the stream or the
daily load still write; Z-ordered by ``maintenance.zorder_by`` when set,
each closed day once), then VACUUM with ``maintenance.vacuum_retention``.
No row changes, so it may run beside ``stream_ingest`` and the loads;
freshness and the loads' stale-plan check ignore its commits. A second run
with nothing new to compact commits nothing.

Exit codes: 0 done (or a dry run); 2 bad arguments or config (a retention
shorter than the longest job, for one); 75 still losing to concurrent
writers after ``maintenance.retry``.

Usage: ./spark-submit.sh maintain (--pipeline NAME | --all) [--dry-run]
                                  [--full] [--now ISO-TIME]
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lakehouse.config import list_pipelines, load_pipeline
from lakehouse.config.model import MaintenanceSettings, Pipeline, Settings
from lakehouse.core import ConfigError
from lakehouse.jobs.health import now_arg
from lakehouse.lake.ledger_queries import recent_success_details, snapshot
from lakehouse.lake.tables import PipelineTables
from lakehouse.lake.upkeep import TableUpkeep, Upkeep, upkeep_session, upkeep_table
from lakehouse.runtime import JobContext, Outcome, job_parser, run_job, say

JOB = "maintain"


def pipeline_tables(settings: Settings, p: Pipeline) -> list[TableUpkeep]:
    """The pipeline's own tables, by catalog name, with what maintain does to each."""
    where = PipelineTables(settings, p)
    m = p.maintenance
    props = m.properties()
    found = []
    for table in (p.bronze, p.silver):
        if table is not None:
            zorder = tuple(m.zorder_by.get(table.table, ()))
            found.append(TableUpkeep(table.table, where.table(table.table), props, zorder))
    found.append(TableUpkeep(f"quarantine.{p.name}", where.quarantine, props))
    found.append(TableUpkeep(f"quarantine.{p.name}_loads", where.load_quarantine, props))
    return found


def lake_wide(pipelines: list[Pipeline]) -> MaintenanceSettings:
    """The ``_ops`` tables serve every pipeline: they keep the longest retention of all."""

    def longest(attr: str) -> Any:
        return max((getattr(p.maintenance, attr) for p in pipelines), key=lambda d: d.seconds)

    return dataclasses.replace(
        pipelines[0].maintenance,
        vacuum_retention=longest("vacuum_retention"),
        log_retention=longest("log_retention"),
        checkpoint_retention=longest("checkpoint_retention"),
    )


def previous_cutoffs(details: list[dict], pipeline: str) -> dict[str, str]:
    """Per table, the ``closed_before`` of the newest earlier run that maintained it."""
    found: dict[str, str] = {}
    for run in details:  # newest first
        tables = (run.get("pipelines") or {}).get(pipeline, {}).get("tables", {})
        for name, done in tables.items():
            if isinstance(done, dict) and done.get("closed_before") and name not in found:
                found[name] = done["closed_before"]
    return found


def plan_for(m: MaintenanceSettings, now: datetime, dry_run: bool) -> Upkeep:
    """The run's plan from one pipeline's settings."""
    return Upkeep(
        closed_before=(now - timedelta(seconds=m.closed_after.seconds)).date(),
        vacuum_retention_hours=m.vacuum_retention.seconds / 3600,
        optimize=m.optimize,
        vacuum=m.vacuum,
        dry_run=dry_run,
        backoff=m.retry.backoff(),
    )


def run(ctx: JobContext) -> Outcome:
    settings = ctx.settings
    if ctx.args.all:
        names = list_pipelines(Path(settings.conf_dir))
        pipelines = [load_pipeline(n, settings) for n in names]
    else:
        pipelines = [ctx.pipeline]
    everyone = list(pipelines)
    for name in list_pipelines(Path(settings.conf_dir)):
        if name not in {p.name for p in everyone}:
            with contextlib.suppress(ConfigError):  # a broken file is its own run's problem
                everyone.append(load_pipeline(name, settings))
    now = ctx.args.now or datetime.now(timezone.utc)
    dry_run = ctx.args.dry_run
    history = recent_success_details(snapshot(ctx.spark, settings.ledger_path), JOB)
    report: dict[str, Any] = {"pipelines": {}, "dry_run": dry_run}
    files_before = files_after = 0
    with upkeep_session(ctx.spark):
        for p in pipelines:
            say(f"maintain {p.name}{' (dry run)' if dry_run else ''}:")
            plan = plan_for(p.maintenance, now, dry_run)
            cutoffs = {} if ctx.args.full else previous_cutoffs(history, p.name)
            done = {}
            for table in pipeline_tables(settings, p):
                ctx.stop.check()
                since = cutoffs.get(table.name)
                done[table.name] = upkeep_table(
                    ctx.spark,
                    table,
                    plan,
                    zorder_since=datetime.fromisoformat(since).date() if since else None,
                    tell=say,
                )
            report["pipelines"][p.name] = {"tables": done}
        ops = lake_wide(everyone)
        ops_plan = plan_for(ops, now, dry_run)
        say(f"maintain _ops{' (dry run)' if dry_run else ''}:")
        done = {}
        for name, path in (
            ("ops.runs", settings.ledger_path),
            ("ops.quality", settings.quality_path),
        ):
            ctx.stop.check()
            done[name] = upkeep_table(
                ctx.spark, TableUpkeep(name, path, ops.properties()), ops_plan, tell=say
            )
        report["ops"] = done
    for tables in [*(v["tables"] for v in report["pipelines"].values()), report["ops"]]:
        for t in tables.values():
            files_before += t.get("files_before", 0)
            files_after += t.get("files_after", 0)
    report["files_before"], report["files_after"] = files_before, files_after
    if dry_run:
        return Outcome(status="dry_run", details=report, message="dry run: nothing written")
    return Outcome(details=report)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(JOB, __doc__, or_all=True)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be compacted and vacuumed"
    )
    parser.add_argument(
        "--full", action="store_true", help="Z-order every closed day again, not only new ones"
    )
    parser.add_argument("--now", type=now_arg, help="judge closed days as of this time")
    return run_job(JOB, argv, parser, run)


if __name__ == "__main__":
    sys.exit(main())

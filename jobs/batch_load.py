"""Load one logical date of a pipeline into its silver Delta table, idempotently.

Reads the date from bronze (its partition; the default when the pipeline has
a bronze table) or from landed files (``source.files.path`` with ``{date}``),
types it against the pipeline schema, refuses rows of other dates and rows
that do not fit (to the load quarantine, never as nulls in silver), keeps
the newest row per key, and writes by ``silver.mode``: ``merge``,
``replace_partition`` or ``insert_if_absent``. Running it once or ten times,
in any order with other dates, leaves the same table; a re-run with an
unchanged source writes no data file.

Exit codes: 0 loaded (or skipped by ``on_missing_source: skip``, or a dry
run); 1 no source for the date, or nothing valid to replace the day with;
2 bad arguments, config or schema drift (nothing written); 75 still losing
to concurrent writers after the retry budget.

Usage: ./spark-submit.sh batch_load --pipeline NAME --date YYYY-MM-DD
                                    [--source bronze|files] [--dry-run]
"""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from lib.cli import JobContext, Outcome, iso_date, job_parser, run_job
from lib.config import Pipeline
from lib.errors import ConfigError, LakehouseError, MissingSourceError
from lib.events import REASON
from lib.loads import (
    DUPLICATE,
    EXTRA,
    LoadCounts,
    bronze_location,
    check_schema,
    commit_metadata,
    ensure_silver,
    files_location,
    plan_changes,
    prepare,
    read_source,
    silver_columns,
    silver_location,
    write_load_quarantine,
    write_silver,
)

JOB = "batch_load"


class NothingToLoadError(LakehouseError):
    """Every source row was refused, and the mode would have emptied the day."""


def source_kind(pipeline: Pipeline, asked: str | None) -> str:
    """bronze or files: what was asked, else bronze when the pipeline has one."""
    kind = asked or ("bronze" if pipeline.bronze is not None else "files")
    if kind == "bronze" and pipeline.bronze is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `bronze` table", key="bronze")
    if kind == "files" and pipeline.source.files is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `source.files`", key="source.files")
    return kind


def run(ctx: JobContext) -> Outcome:
    """Read, prepare, check, write one date; the ledger row says what changed."""
    began = time.monotonic()
    pipeline = ctx.pipeline
    silver = pipeline.silver
    if silver is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `silver` table", key="silver")
    day: date = ctx.args.date
    kind = source_kind(pipeline, ctx.args.source)
    settings = ctx.settings
    # a session of its own: the MERGE's userMetadata is a session setting
    spark = ctx.spark.newSession()
    target = silver_location(settings, pipeline)
    base: dict[str, Any] = {"mode": silver.mode, "source_kind": kind, "target": target}

    source = read_source(spark, settings, pipeline, day, kind)
    if source is None:
        where = (
            bronze_location(settings, pipeline)
            if kind == "bronze"
            else files_location(settings, pipeline, day)
        )
        message = f"no {kind} source for {day.isoformat()}: {where} is missing or empty"
        if silver.on_missing_source == "skip":
            print(f"{JOB} {pipeline.name} {day}: skipped ({message})", flush=True)
            return Outcome(status="skipped", message=message, details={**base, "source": where})
        raise MissingSourceError(f"{message} (on_missing_source: fail)")

    prepared = prepare(source, pipeline, day, ctx.record.run_id).persist()
    try:
        by_reason = {
            row[REASON]: int(row["n"])
            for row in prepared.groupBy(REASON).agg(F.count(F.lit(1)).alias("n")).collect()
        }
        extra = list(source.extra_columns)
        if source.json_keys:
            extra = sorted(
                r[0] for r in prepared.select(F.explode(EXTRA)).distinct().collect() if r[0]
            )
            if extra and silver.schema_evolution:  # carry the new keys' values along
                prepared.unpersist()
                prepared = prepare(source, pipeline, day, ctx.record.run_id, extra).persist()
        check_schema(spark, pipeline, target, prepared, extra, source.location)

        source_rows = sum(by_reason.values())
        valid_rows = by_reason.pop(None, 0)
        duplicates = by_reason.pop(DUPLICATE, 0)
        rejected = sum(by_reason.values())
        empties_day = silver.mode == "replace_partition" or silver.delete_missing
        if valid_rows == 0 and empties_day:
            raise NothingToLoadError(
                f"no valid rows for {day.isoformat()} in {source.location} "
                f"({rejected} refused: {by_reason}); not emptying the day"
            )
        rows = prepared.filter(F.col(REASON).isNull()).select(*silver_columns(pipeline, extra))
        metadata = commit_metadata(ctx.record.run_id, pipeline, day, silver.mode)
        if ctx.args.dry_run:
            counts = plan_changes(
                spark, target, rows, pipeline, day, extra=extra, source_rows=valid_rows
            )
        else:
            write_load_quarantine(
                spark,
                settings.load_quarantine_path(pipeline.name),
                prepared.filter(F.col(REASON).isNotNull() & (F.col(REASON) != DUPLICATE)),
                day,
                source.location,
                ctx.record.run_id,
                count=rejected,
            )
            ensure_silver(spark, target, pipeline)
            counts = write_silver(
                spark,
                target,
                rows,
                pipeline,
                day,
                metadata=metadata,
                extra=extra,
                source_rows=valid_rows,
            )
    finally:
        prepared.unpersist()

    elapsed = time.monotonic() - began
    print(
        summary(
            pipeline.name,
            day,
            silver.mode,
            counts,
            duplicates,
            by_reason,
            elapsed,
            dry_run=ctx.args.dry_run,
        ),
        flush=True,
    )
    return Outcome(
        status="dry_run" if ctx.args.dry_run else "success",
        rows_in=source_rows,
        rows_out=0 if ctx.args.dry_run else counts.inserted + counts.updated,
        rows_quarantined=0 if ctx.args.dry_run else rejected,
        details={
            **base,
            "source": source.location,
            **counts.as_dict(),
            "valid_rows": valid_rows,
            "duplicates_in_source": duplicates,
            "quarantined_by_reason": by_reason,
            "new_columns": extra,
            "dry_run": bool(ctx.args.dry_run),
            "user_metadata": metadata,
        },
    )


def summary(
    pipeline: str,
    day: date,
    mode: str,
    counts: LoadCounts,
    duplicates: int,
    refused: dict[str, int],
    elapsed: float,
    *,
    dry_run: bool,
) -> str:
    """The one human line a run prints before its JSON record."""
    verb = "would insert" if dry_run else "inserted"
    refused_text = ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "none"
    tail = " (day already identical: nothing written)" if counts.skipped_write else ""
    version = f", version {counts.version}" if counts.version is not None else ""
    return (
        f"{JOB} {pipeline} {day.isoformat()} [{mode}]: {verb} {counts.inserted}, "
        f"updated {counts.updated}, deleted {counts.deleted}, unchanged {counts.unchanged}; "
        f"{duplicates} source duplicates dropped, refused: {refused_text}{version}; "
        f"{elapsed:.1f}s{tail}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(JOB, __doc__)
    parser.add_argument("--date", type=iso_date, required=True, help="logical date YYYY-MM-DD")
    parser.add_argument(
        "--source", choices=("bronze", "files"), help="default: bronze when the pipeline has one"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing"
    )
    return run_job(JOB, argv, parser, run, logical_date=lambda a: a.date)


if __name__ == "__main__":
    sys.exit(main())

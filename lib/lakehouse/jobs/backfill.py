"""Load a range of dates with batch_load: resumable, retried, in parallel.

Dates already loaded successfully under the same pipeline config (its
fingerprint, kept in the ledger) and source kind, from their source as it is
now, are skipped unless ``--force``; so after a kill, the same command runs
only the missing dates. A date counts as loaded only for the source state it
was loaded from (``details.source_state`` of its load: bronze's partition
files, or the landed files with sizes and times): when events reached
bronze's partition after its load (late arrivals), or files were landed
again, the date runs again. ``--changed-only`` runs nothing but such dates
(what the daily chain does for the days before its logical date). Each date runs the
batch_load logic in this one Spark application, ``--parallel`` at a time;
a transient failure (Delta conflict, lost executor, timeout) is retried with
backoff (``backfill.retry``), a permanent one is recorded and the others go
on (or everything stops with ``--fail-fast``). Every attempt is a
``batch_load`` ledger row with its attempt number; the backfill adds its own.

``--catchup --until D`` needs no range: it plans every date from the first
successful load of the pipeline up to D that has no successful load under
the current config (the holes: the dates after the last load, and those
before it that failed or were loaded under another config), plus the
``--lookback`` days ending with the last loaded date (1), loaded again for
late events. It refuses (exit 2) a pipeline never loaded, and a first date
to load more than ``--max-days`` before D.

Exit codes: 0 every date done (or skipped); 1 a date failed for good;
3 a date failed its quality gate; 75 a date still failing transiently after
its retries (retry later: the finished dates are kept); 2 bad arguments,
before any Spark work.

Usage: ./spark-submit.sh backfill --pipeline NAME --start YYYY-MM-DD --end YYYY-MM-DD
           [--parallel N] [--group-days N] [--force] [--dry-run] [--fail-fast] [--max-days N]
           [--source bronze|files] [--changed-only]
       ./spark-submit.sh backfill --pipeline NAME --catchup --until YYYY-MM-DD [--lookback N]
"""

from __future__ import annotations

import argparse
import sys
import time

from lakehouse.batch import (
    Backfill,
    DatePlan,
    DateResult,
    Progress,
    catchup_range,
    changed_dates,
    date_range,
    injections_from_env,
    loaded_dates,
    loaded_span,
    plan,
    source_kind,
    worst_exit_code,
)
from lakehouse.core import ExitCode, UsageError
from lakehouse.runtime import (
    JobContext,
    Outcome,
    iso_date,
    job_parser,
    run_job,
    say,
    whole_number,
)

JOB = "backfill"


def validate(args: argparse.Namespace) -> None:
    """Argument checks that need no Spark (exit 2 before any Spark work)."""
    if args.catchup:
        if args.until is None:
            raise UsageError("--catchup needs --until YYYY-MM-DD")
        if args.start is not None or args.end is not None:
            raise UsageError("--catchup takes --until, not --start/--end")
    else:
        if args.start is None or args.end is None:
            raise UsageError("give --start and --end (or --catchup --until)")
        if args.until is not None or args.lookback is not None:
            raise UsageError("--until and --lookback go with --catchup")
        date_range(args.start, args.end, args.max_days)
    injections_from_env()  # a malformed test hook is a usage error too


def run(ctx: JobContext) -> Outcome:
    """Plan the dates, load those to run, summarise."""
    began = time.monotonic()
    pipeline = ctx.pipeline
    args = ctx.args
    settings = pipeline.backfill
    fingerprint = pipeline.fingerprint()
    steps = _plan_steps(ctx, fingerprint)
    to_run = [s.day for s in steps if s.run]
    skipped = len(steps) - len(to_run)
    parallel = args.parallel or settings.parallel
    group = args.group_days or settings.group_days
    print(
        f"{JOB} {pipeline.name}: {len(steps)} date(s), {len(to_run)} to run, {skipped} skipped"
        f"{'' if not steps else f' ({steps[0].day}..{steps[-1].day})'}; parallel {parallel}, "
        f"{group} date(s) per load",
        flush=True,
    )
    base = {
        "dates": len(steps),
        "to_run": len(to_run),
        "skipped": skipped,
        "parallel": parallel,
        "group_days": group,
        "fingerprint": fingerprint,
        "range": [str(steps[0].day), str(steps[-1].day)] if steps else None,
    }
    if args.dry_run:
        for step in steps:
            print(f"  {step.day}  {'run ' if step.run else 'skip'}  {step.why}", flush=True)
        return Outcome(status="dry_run", details={**base, "plan": [_plan_row(s) for s in steps]})

    progress = Progress(len(to_run), skipped)
    runner = Backfill(
        ctx.spark,
        ctx.settings,
        pipeline,
        ctx.ledger,
        parallel=parallel,
        group=group,
        backoff=settings.retry.backoff(),
        fail_fast=args.fail_fast,
        source=args.source,
        parent_run_id=ctx.record.run_id,
        env=ctx.settings.env,
        injections=injections_from_env(),
        tell=say,
        stop=ctx.stop,
    )
    try:
        results = runner.run(to_run, progress)
    finally:
        progress.close()
    print(summary_table(steps, results), flush=True)
    code, message = _verdict(results, runner.interrupted)
    elapsed = time.monotonic() - began
    failed = sum(r.status == "failed" for r in results)
    not_run = sum(r.status == "not_run" for r in results)
    print(
        f"{JOB} {pipeline.name}: {sum(r.status == 'done' for r in results)} done, "
        f"{failed} failed, {not_run} not run, {skipped} skipped; {elapsed:.1f}s",
        flush=True,
    )
    return Outcome(
        status="success" if code == 0 else "failed",
        exit_code=code,
        message=message,
        rows_out=sum(
            (r.counts.get("inserted") or 0) + (r.counts.get("updated") or 0) for r in results
        ),
        details={**base, "results": [_result_row(r) for r in results]},
    )


def _plan_steps(ctx: JobContext, fingerprint: str) -> list[DatePlan]:
    """The dates asked for (a range, or ``--catchup`` from the ledger) and, for each,
    whether it runs and why: loaded dates for the source state they were loaded
    from, changed ones, ``--force``."""
    pipeline, args = ctx.pipeline, ctx.args
    kind = source_kind(pipeline, args.source)
    if args.catchup:
        span = loaded_span(ctx.ledger, pipeline.name)
        lookback = 1 if args.lookback is None else args.lookback
        loaded = loaded_dates(ctx.ledger, pipeline.name, fingerprint, kind) if span else {}
        dates, again = catchup_range(span, set(loaded), args.until, lookback, args.max_days)
    else:
        dates, again = date_range(args.start, args.end, args.max_days), set()
        loaded = loaded_dates(ctx.ledger, pipeline.name, fingerprint, kind)
    # a date is loaded only for the source state it was loaded from
    changed = (
        set()
        if args.force
        else changed_dates(ctx.spark, ctx.settings, pipeline, loaded, dates, kind)
    )
    return plan(
        dates,
        loaded,
        force=args.force,
        again=again,
        changed=changed,
        only_changed=args.changed_only,
    )


def _verdict(results: list[DateResult], interrupted: str | None) -> tuple[int, str | None]:
    """The run's exit code and one-line message from its dates' results."""
    code = worst_exit_code(r.exit_code for r in results if r.status != "not_run")
    failed = [r for r in results if r.status == "failed"]
    not_run = [r for r in results if r.status == "not_run"]
    if interrupted:  # stopped by a signal: what is done stays, the rest is for a re-run
        code = int(ExitCode.TRANSIENT) if code in (0, ExitCode.TRANSIENT) else code
    elif not_run and code == 0:
        code = 1
    message = None
    if interrupted:
        message = (
            f"interrupted by {interrupted}: {len(failed)} date(s) stopped or failed, "
            f"{len(not_run)} not started; run the same command again to resume"
        )
    elif failed:
        first = failed[0]
        message = f"{len(failed)} date(s) failed; first {first.day}: {first.error}"
    elif not_run:
        message = f"{len(not_run)} date(s) not run (--fail-fast)"
    return code, message


def _plan_row(step: DatePlan) -> dict:
    return {"date": str(step.day), "run": step.run, "why": step.why}


def _result_row(result: DateResult) -> dict:
    return {
        "date": str(result.day),
        "status": result.status,
        "exit_code": result.exit_code,
        "attempts": result.attempts,
        "delays_s": result.delays,
        "seconds": result.seconds,
        "error": result.error,
        **{k: v for k, v in result.counts.items() if v is not None},
    }


def summary_table(steps: list[DatePlan], results: list[DateResult]) -> str:
    """One line per date: what happened to it."""
    by_day = {r.day: r for r in results}
    lines = [f"  {'date':<10}  {'status':<8} {'tries':>5} {'secs':>6}  detail"]
    for step in steps:
        r = by_day.get(step.day)
        if r is None:
            lines.append(f"  {step.day}  {'skipped':<8} {'':>5} {'':>6}  {step.why}")
            continue
        detail = r.error or ", ".join(f"{k} {v}" for k, v in r.counts.items() if v is not None)
        lines.append(f"  {r.day}  {r.status:<8} {r.attempts:>5} {r.seconds:>6.1f}  {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(JOB, __doc__)
    parser.add_argument("--start", type=iso_date, help="first date, YYYY-MM-DD (included)")
    parser.add_argument("--end", type=iso_date, help="last date, YYYY-MM-DD (included)")
    parser.add_argument(
        "--catchup",
        action="store_true",
        help="every date from the first successful load up to --until not loaded with this "
        "config (holes included), plus --lookback days",
    )
    parser.add_argument("--until", type=iso_date, help="with --catchup: the last date")
    parser.add_argument(
        "--lookback",
        type=whole_number(0),
        help="with --catchup: the N days ending with the last loaded date again (1)",
    )
    parser.add_argument("--parallel", type=whole_number(1), help="loads at once")
    parser.add_argument(
        "--group-days",
        type=whole_number(1),
        help="consecutive dates per load: one pass and one commit (backfill.group_days)",
    )
    parser.add_argument("--force", action="store_true", help="re-run dates already loaded")
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="run only dates loaded before whose source changed since (late events); "
        "dates never loaded are skipped",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; load nothing")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failed date")
    parser.add_argument(
        "--max-days", type=whole_number(1), default=400, help="longest range allowed (400)"
    )
    parser.add_argument(
        "--source", choices=("bronze", "files"), help="as batch_load: bronze or landed files"
    )
    return run_job(JOB, argv, parser, run, validate=validate)


if __name__ == "__main__":
    sys.exit(main())

"""Check the health of one pipeline or all: freshness, SLAs, success rate, quality.

Measures every configured table's freshness (event time, last commit, or
Kafka consumer lag), reads the run ledger and the quality results over the
window (success rate, SLA and deadline compliance, rules broken, rows loaded
and quarantined per day), prints a table, writes ``report.json`` and a static
``report.html`` with charts, and sends a ``stale`` alert per table that is
past a threshold. This is what an orchestrator runs after the loads.

Exit codes: 0 nothing at error level (warnings are printed); 4 something is
at error level (a table past ``error_after``, a latest run that failed, a
deadline missed with no success); 2 bad arguments or config.

Usage: ./spark-submit.sh health (--pipeline NAME | --all) [--report DIR]
                                [--window 14d] [--now ISO-TIME]
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from lakehouse.config import list_pipelines, load_pipeline
from lakehouse.core import Duration, ExitCode, UsageError
from lakehouse.ops import alerter, build_report, render_text, stale_alerts, write_report
from lakehouse.runtime import JobContext, Outcome, job_parser, run_job

JOB = "health"


def window_arg(text: str) -> Duration:
    """``--window``: a duration of at least one hour (``14d``, ``36h``)."""
    try:
        value = Duration.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value.seconds < 3600:
        raise argparse.ArgumentTypeError(f"window {text!r} is too short: at least 1h")
    return value


def now_arg(text: str) -> datetime:
    """``--now``: an ISO time (UTC when no offset is given)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use ISO 8601, e.g. 2026-11-26T06:30:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def writable_report_dir(args: argparse.Namespace) -> None:
    """``--report`` must be a folder this job can write (exit 2 before any Spark work)."""
    if not args.report:
        return
    folder = Path(str(args.report).removeprefix("file:"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--report {args.report}: not a writable folder ({exc.strerror or type(exc).__name__})"
        ) from None


def run(ctx: JobContext) -> Outcome:
    settings = ctx.settings
    if ctx.args.all:
        pipelines = [load_pipeline(n, settings) for n in list_pipelines(Path(settings.conf_dir))]
    else:
        pipelines = [ctx.pipeline]
    now = ctx.args.now or datetime.now(timezone.utc)
    window = timedelta(seconds=ctx.args.window.seconds)
    report, freshness = build_report(ctx.spark, settings, pipelines, now, window)
    print(render_text(report), flush=True)

    # a remote lake's page goes to its local folder: a browser opens files, not s3a:// URIs
    local = Path(settings.local_dir.removeprefix("file:"))
    target = ctx.args.report or str(local / "_ops" / "health")
    written = None
    if target:
        json_path, html_path = write_report(report, Path(str(target).removeprefix("file:")))
        written = {"json": str(json_path), "html": str(html_path)}
        print(f"health: report written to {html_path}", flush=True)

    alerts: dict[str, int] = {"alerts_sent": 0, "alerts_suppressed": 0, "alerts_failed": 0}
    for p in pipelines:
        stale = stale_alerts(p, freshness[p.name], ctx.record.run_id)
        if not stale or not p.alerts:
            continue
        sent = alerter(ctx.spark, settings, p).send(stale)
        for key, value in sent.as_details().items():
            if isinstance(value, int):
                alerts[key] = alerts.get(key, 0) + value
    problems = report["problems"]
    errors = [x for x in problems if x["level"] == "error"]
    details = {
        "level": report["level"],
        "pipelines": [p.name for p in pipelines],
        "window_days": report["window_days"],
        "problems": problems[:50],
        "report": written,
        "stale_alerts": alerts,
    }
    if errors:
        return Outcome(
            status="failed",
            exit_code=ExitCode.STALE,
            message=f"{len(errors)} problem(s) at error level: {errors[0]['message']}",
            details=details,
        )
    return Outcome(details=details)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(JOB, __doc__, or_all=True)
    parser.add_argument(
        "--report",
        help="folder for report.json and report.html (default: <lake>/_ops/health on a local lake)",
    )
    parser.add_argument(
        "--window", type=window_arg, default=Duration.parse("14d"), help="history to read (14d)"
    )
    parser.add_argument("--now", type=now_arg, help="judge as of this time (default: now)")
    return run_job(JOB, argv, parser, run, validate=writable_report_dir)


if __name__ == "__main__":
    sys.exit(main())

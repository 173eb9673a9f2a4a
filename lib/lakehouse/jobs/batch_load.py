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

from lakehouse.batch import load_date
from lakehouse.runtime import JobContext, Outcome, iso_date, job_parser, run_job, say

JOB = "batch_load"


def run(ctx: JobContext) -> Outcome:
    """Load the date asked for; the ledger row says what changed."""
    return load_date(
        ctx.spark,
        ctx.settings,
        ctx.pipeline,
        ctx.args.date,
        ctx.record.run_id,
        source=ctx.args.source,
        dry_run=ctx.args.dry_run,
        tell=say,
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

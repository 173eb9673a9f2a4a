"""The frame every job runs in: arguments, config, session, signals, the ledger row and the last
JSON line.
"""

from __future__ import annotations

from lakehouse.runtime.job import (
    JobContext,
    Outcome,
    check_only,
    emit,
    ensure_lake_writable,
    iso_date,
    job_parser,
    record_and_emit,
    report_error,
    run_job,
    say,
    setup_logging,
    use_utc,
    whole_number,
)

__all__ = [
    "JobContext",
    "Outcome",
    "check_only",
    "emit",
    "ensure_lake_writable",
    "iso_date",
    "job_parser",
    "record_and_emit",
    "report_error",
    "run_job",
    "say",
    "setup_logging",
    "use_utc",
    "whole_number",
]

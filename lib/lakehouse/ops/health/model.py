"""The health report's shape: what ``build`` produces and ``text``, ``html`` and report.json read.

Plain dicts typed as :class:`~typing.TypedDict` (JSON as they are, key order
as written). Times are ISO text with ``Z``, dates ``YYYY-MM-DD``, durations
seconds; a level is ``ok``, ``warn`` or ``error``.
"""

from __future__ import annotations

from typing import TypedDict


class FreshnessEntry(TypedDict):
    """One table on its clock (:meth:`lakehouse.ops.freshness.FreshnessResult.as_dict`)."""

    pipeline: str
    table: str
    clock: str  # column | commit | kafka_lag
    value: float | None  # seconds, or messages for kafka_lag; None when unknown
    unit: str  # "s" | "messages"
    warn_after: float | None
    error_after: float | None
    level: str
    observed: str | None
    detail: str | None


class JobSla(TypedDict):
    """A job's SLA as configured."""

    max_duration_s: float | None
    deadline: str | None  # time of day, e.g. "06:00"


class LatestRun(TypedDict):
    """A job's latest finished (success or failed) run in the window."""

    run_id: str
    status: str
    ended_at: str | None


class RunDetail(TypedDict):
    """One run in the window, as the page's chart and runs table show it."""

    run_id: str
    started_at: str | None
    logical_date: str | None
    status: str
    exit_code: int | None
    duration_s: float | None
    sla_met: bool | None
    rows_out: int | None
    rows_quarantined: int | None


class JobHealth(TypedDict):
    """Runs, success rate and SLA record of one job in the window."""

    job: str
    runs: int  # success or failed
    succeeded: int
    failed: int
    success_rate: float | None
    sla: JobSla | None
    sla_met: int
    sla_missed: int
    level: str
    latest: LatestRun | None
    runs_detail: list[RunDetail]  # the newest MAX_RUNS_IN_REPORT


class DeadlineCheck(TypedDict):
    """One (job, logical date) whose deadline passed in the window."""

    job: str
    logical_date: str
    deadline: str | None
    met: bool
    level: str
    succeeded_at: str | None


class RuleStats(TypedDict):
    """One quality rule over the window."""

    rule: str
    kind: str
    severity: str
    runs: int
    failed_runs: int
    rows_checked: int
    rows_failed: int


class QualityDay(TypedDict):
    """Rows checked and failed on one day."""

    date: str
    rows_checked: int
    rows_failed: int


class QualityHealth(TypedDict):
    """Quality over the window, and the rules broken in each job's latest check."""

    rules: list[RuleStats]
    per_day: list[QualityDay]
    broken_latest: list[str]
    level: str


class RowsDay(TypedDict):
    """Rows loaded and quarantined on one day."""

    date: str
    rows_out: int
    rows_quarantined: int


class Problem(TypedDict):
    """One line of what is wrong, at warn or error level."""

    pipeline: str
    level: str
    what: str  # freshness | job | deadline | completeness | quality
    message: str


class PipelineHealth(TypedDict):
    """One pipeline's section of the report."""

    name: str
    level: str
    freshness: list[FreshnessEntry]
    jobs: list[JobHealth]
    deadlines: list[DeadlineCheck]
    quality: QualityHealth
    rows_per_day: list[RowsDay]
    behind_source: list[str]
    problems: list[Problem]


class HealthReport(TypedDict):
    """The whole report (what report.json holds)."""

    generated_at: str | None
    window_days: float
    level: str
    problems: list[Problem]
    pipelines: list[PipelineHealth]

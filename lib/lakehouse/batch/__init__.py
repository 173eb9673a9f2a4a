"""Dates to silver idempotently: one date-group load, its write modes, and the backfill over a
range.
"""

from __future__ import annotations

from lakehouse.batch.backfill import (
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
    worst_exit_code,
)
from lakehouse.batch.load import (
    MATERIALIZE_SOURCE_CONF,
    SourceFrame,
    commit_metadata,
    ensure_silver,
    load_date,
    mark_duplicates,
    prepare,
    required_columns,
    silver_columns,
    source_kind,
    typed_from_columns,
    write_silver,
)

__all__ = [
    "MATERIALIZE_SOURCE_CONF",
    "Backfill",
    "DatePlan",
    "DateResult",
    "Progress",
    "SourceFrame",
    "catchup_range",
    "changed_dates",
    "commit_metadata",
    "date_range",
    "ensure_silver",
    "injections_from_env",
    "load_date",
    "loaded_dates",
    "loaded_span",
    "mark_duplicates",
    "plan",
    "prepare",
    "required_columns",
    "silver_columns",
    "source_kind",
    "typed_from_columns",
    "worst_exit_code",
    "write_silver",
]

"""Dates to silver idempotently: sources, preparation, the write modes (one registered
writer each), the date-group load, and the backfill over a range.
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
from lakehouse.batch.load import DateGroupLoad, load_date, load_dates
from lakehouse.batch.prepare import mark_duplicates, prepare, silver_columns
from lakehouse.batch.source import SourceFrame, required_columns, source_kind, typed_from_columns
from lakehouse.batch.writers import (
    MATERIALIZE_SOURCE_CONF,
    WRITERS,
    SilverWriter,
    commit_metadata,
    ensure_silver,
    write_silver,
    writer_for,
)

__all__ = [
    "MATERIALIZE_SOURCE_CONF",
    "WRITERS",
    "Backfill",
    "DateGroupLoad",
    "DatePlan",
    "DateResult",
    "Progress",
    "SilverWriter",
    "SourceFrame",
    "catchup_range",
    "changed_dates",
    "commit_metadata",
    "date_range",
    "ensure_silver",
    "injections_from_env",
    "load_date",
    "load_dates",
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
    "writer_for",
]

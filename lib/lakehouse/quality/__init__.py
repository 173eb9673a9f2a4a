"""Data-quality rules: evaluate a rule set on a frame, judge it, store the results.

Callers outside the wing import from here; the modules inside may move:
``kinds/`` (one module per rule kind, registered in ``KINDS``) and
``engine`` (the rule set, its results and the results table).
"""

from __future__ import annotations

from lakehouse.quality.engine import (
    QUALITY_REASON,
    QUALITY_SCHEMA,
    HistoryOf,
    QualityReport,
    RuleResult,
    RuleSet,
    check,
    history_for,
    max_window,
    result_rows,
    write_results,
)
from lakehouse.quality.kinds import DATASET_KINDS, KINDS, ROW_KINDS, WINDOW_KINDS, kind_for

__all__ = [
    "DATASET_KINDS",
    "KINDS",
    "QUALITY_REASON",
    "QUALITY_SCHEMA",
    "ROW_KINDS",
    "WINDOW_KINDS",
    "HistoryOf",
    "QualityReport",
    "RuleResult",
    "RuleSet",
    "check",
    "history_for",
    "kind_for",
    "max_window",
    "result_rows",
    "write_results",
]

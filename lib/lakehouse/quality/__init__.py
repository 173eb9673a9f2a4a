"""Data-quality rules: evaluate a rule set on a frame, judge it, store the results.

Callers outside the wing import from here; the modules inside may move.
"""

from __future__ import annotations

from lakehouse.quality.engine import (
    QUALITY_REASON,
    ROW_KINDS,
    WINDOW_KINDS,
    HistoryOf,
    QualityReport,
    RuleResult,
    RuleSet,
    history_for,
    max_window,
    result_rows,
    write_results,
)

__all__ = [
    "QUALITY_REASON",
    "ROW_KINDS",
    "WINDOW_KINDS",
    "HistoryOf",
    "QualityReport",
    "RuleResult",
    "RuleSet",
    "history_for",
    "max_window",
    "result_rows",
    "write_results",
]

"""Data-quality rules: evaluate a rule set on a frame, judge it, store the results.

Callers outside the wing import from here; the modules inside may move:
``kinds/`` (one module per rule kind, registered in ``KINDS``), ``engine``
(the rule set: flag, evaluate, split), ``report`` (what a check found, plain
data) and ``store`` (the results table ``_ops/quality``).
"""

from __future__ import annotations

from lakehouse.quality.engine import QUALITY_REASON, HistoryOf, RuleSet, check, max_window
from lakehouse.quality.kinds import DATASET_KINDS, KINDS, ROW_KINDS, WINDOW_KINDS, kind_for
from lakehouse.quality.report import QualityReport, RuleResult
from lakehouse.quality.store import QUALITY_SCHEMA, history_for, result_rows, write_results

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

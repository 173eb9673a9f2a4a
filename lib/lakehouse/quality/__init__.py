"""Data-quality rules: evaluate a rule set on a frame, judge it, store the results."""

from __future__ import annotations

from lakehouse.quality.engine import RuleSet, result_rows, write_results

__all__ = ["RuleSet", "result_rows", "write_results"]

"""``row_count_change``: a batch fails it when its row count strays from recent runs'.

The history (row counts of earlier successful runs, newest first) comes
from the caller; the rule compares with the average of its ``window``.
"""

from __future__ import annotations

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import Batch, DatasetKind


class RowCountChange(DatasetKind):
    """The row count is within ``max_ratio`` of the average of the last ``window`` runs."""

    name = "row_count_change"

    def history_window(self, rule: QualityRule) -> int:
        return rule.window

    def verdict(self, rule: QualityRule, batch: Batch) -> tuple[bool, str]:
        n = batch.rows
        past = list(batch.history)[: rule.window]
        if not past:
            return True, f"{n} rows; no earlier successful run to compare with"
        average = sum(past) / len(past)
        if average == 0:
            return n == 0, f"{n} rows vs an average of 0 over {len(past)} runs"
        change = (n - average) / average
        ratio = f"{change:+.0%} vs the average {average:.0f} of the last {len(past)} runs"
        return abs(change) <= float(rule.max_ratio or 0), f"{n} rows, {ratio}"

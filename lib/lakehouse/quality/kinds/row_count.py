"""``row_count``: a batch fails it when its number of rows is outside ``min`` / ``max``."""

from __future__ import annotations

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import Batch, DatasetKind


class RowCount(DatasetKind):
    """The batch has between ``min`` and ``max`` rows (both inclusive, either open)."""

    name = "row_count"

    def verdict(self, rule: QualityRule, batch: Batch) -> tuple[bool, str]:
        n = batch.rows
        low = rule.min if rule.min is not None else float("-inf")
        high = rule.max if rule.max is not None else float("inf")
        bounds = f"[{_num(rule.min) if rule.min is not None else '-'}, "
        bounds += f"{_num(rule.max) if rule.max is not None else '-'}]"
        return low <= n <= high, f"{n} rows, expected {bounds}"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else str(value)

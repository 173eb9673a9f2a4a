"""``accepted_values``: a row breaks it when its value (as text) is not in ``values``."""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import RowCheck


class AcceptedValues(RowCheck):
    """``column`` is null or one of ``values``."""

    name = "accepted_values"

    def broken(self, rule: QualityRule) -> SparkColumn:
        c = F.col(rule.target_columns[0])
        return c.isNotNull() & ~c.cast("string").isin(list(rule.values))

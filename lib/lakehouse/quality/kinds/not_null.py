"""``not_null``: a row breaks it when any of its columns is null."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import RowCheck


class NotNull(RowCheck):
    """Every one of ``column`` / ``columns`` is set."""

    name = "not_null"

    def broken(self, rule: QualityRule) -> SparkColumn:
        return reduce(lambda a, b: a | b, [F.col(c).isNull() for c in rule.target_columns])

"""``regex``: a row breaks it when its value (as text) does not match ``pattern``."""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import RowCheck


class Regex(RowCheck):
    """``column`` is null or matches ``pattern`` (Java regex, anywhere in the text)."""

    name = "regex"

    def broken(self, rule: QualityRule) -> SparkColumn:
        c = F.col(rule.target_columns[0])
        return c.isNotNull() & ~c.cast("string").rlike(str(rule.pattern))

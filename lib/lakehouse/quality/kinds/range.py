"""``range``: a row breaks it when its number lies outside ``min`` / ``max``."""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds.base import RowCheck


class Range(RowCheck):
    """``column`` is null or within the bounds (each inclusive unless told)."""

    name = "range"

    def validate(
        self,
        rule: QualityRule,
        where: str,
        schema: T.StructType,
        empty: DataFrame,
        event_time: str | None,
    ) -> None:
        dtype = schema[str(rule.column)].dataType
        if not isinstance(dtype, T.NumericType):
            raise ConfigError(
                f"{where}: range needs a numeric column; {rule.column} is {dtype.simpleString()}"
            )

    def broken(self, rule: QualityRule) -> SparkColumn:
        c = F.col(rule.target_columns[0])
        outside = F.lit(False)
        if rule.min is not None:
            outside = outside | (
                (c < F.lit(rule.min)) if rule.min_inclusive else (c <= F.lit(rule.min))
            )
        if rule.max is not None:
            outside = outside | (
                (c > F.lit(rule.max)) if rule.max_inclusive else (c >= F.lit(rule.max))
            )
        return c.isNotNull() & outside

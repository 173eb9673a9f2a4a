"""``expression``: a row breaks it unless a SQL boolean expression is true for it."""

from __future__ import annotations

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds.base import RowCheck


class Expression(RowCheck):
    """``expr`` is true (null breaks it)."""

    name = "expression"

    def validate(
        self,
        rule: QualityRule,
        where: str,
        schema: T.StructType,
        empty: DataFrame,
        event_time: str | None,
    ) -> None:
        try:
            dtype = empty.select(F.expr(str(rule.expr)).alias("x")).schema["x"].dataType
        except (AnalysisException, ParseException) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"{where}: expression does not resolve: {first}") from None
        if not isinstance(dtype, (T.BooleanType, T.NullType)):
            raise ConfigError(
                f"{where}: expression must be true or false, not {dtype.simpleString()}"
            )

    def broken(self, rule: QualityRule) -> SparkColumn:
        return ~F.coalesce(F.expr(str(rule.expr)), F.lit(False))

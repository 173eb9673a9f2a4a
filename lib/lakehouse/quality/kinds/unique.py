"""``unique``: a row breaks it when another checked row has the same values.

The only row kind that compares rows (a window), so a stream checks it on
the rows it keeps, not on a streaming DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import Window
from pyspark.sql import functions as F

from lakehouse.config.model import QualityRule
from lakehouse.quality.kinds.base import RowKind


class Unique(RowKind):
    """No two checked rows of a batch share ``column`` / ``columns`` (nulls exempt)."""

    name = "unique"
    compares_rows = True

    def flag(
        self, rule: QualityRule, only: SparkColumn | None, group_by: Sequence[str]
    ) -> SparkColumn:
        cols = [F.col(c) for c in rule.target_columns]
        complete = reduce(lambda a, b: a & b, [c.isNotNull() for c in cols])
        scope = complete if only is None else (complete & only)
        window = Window.partitionBy(*[F.col(g) for g in group_by], *cols, scope)
        return scope & (F.count(F.lit(1)).over(window) > 1)

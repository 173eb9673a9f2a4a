"""``freshness_of_source``: a batch fails it when its newest row is older than ``max_age``.

The newest time comes from the one aggregation (epoch seconds computed by
Spark, so no Python time zone comes in between); a date counts as fresh
until it ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.durations import human_seconds
from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds.base import Batch, DatasetKind


class FreshnessOfSource(DatasetKind):
    """The newest ``column`` (default: the event time) is at most ``max_age`` old."""

    name = "freshness_of_source"
    aggregates = True

    def validate(
        self,
        rule: QualityRule,
        where: str,
        schema: T.StructType,
        empty: DataFrame,
        event_time: str | None,
    ) -> None:
        col = rule.column or event_time
        if col not in set(schema.fieldNames()):
            raise ConfigError(f"{where}: column {col!r} is not in the data", key=where)
        dtype = schema[col].dataType
        if not isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
            raise ConfigError(f"{where}: {col} is {dtype.simpleString()}, not a time")

    def aggregate(
        self,
        rule: QualityRule,
        checked: SparkColumn,
        schema: T.StructType | None,
        event_time: str | None,
    ) -> SparkColumn:
        name = rule.column or str(event_time)
        newest = F.max(F.when(checked, F.col(name)))
        if schema is not None and isinstance(schema[name].dataType, T.DateType):
            epoch = (F.unix_date(newest) + 1) * 86400  # a date is fresh until it ends
        else:  # epoch seconds from Spark: no Python time zone in between
            epoch = newest.cast("double")
        return epoch.cast("double")

    def verdict(self, rule: QualityRule, batch: Batch) -> tuple[bool, str]:
        limit = timedelta(seconds=float(rule.max_age.seconds)) if rule.max_age else None
        if batch.value is None:
            return False, "no rows to tell the age from"
        stamp = datetime.fromtimestamp(float(batch.value), timezone.utc)
        age = batch.now - stamp
        text = f"newest row {stamp.isoformat()} is {human_seconds(age.total_seconds())} old"
        return (limit is None or age <= limit), f"{text} (max {rule.max_age})"

"""The load quarantine: rows ``batch_load`` refused, partitioned by logical date.

Each refused row keeps its source record, the reason and a detail (for rows
a quality rule moved: the rules it broke). A load replaces its dates' rows
here, and only those whose rejects changed, so a re-run of an unchanged
source commits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.batch.writers import day_fingerprints, days_filter
from lakehouse.core.columns import DUPLICATE, LOADED_AT, LOGICAL_DATE, RECORD, RUN_ID, SOURCE
from lakehouse.decode.events import DETAIL, REASON
from lakehouse.lake.delta_io import ensure_table
from lakehouse.quality import QUALITY_REASON, RuleSet

LOAD_QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("logical_date", T.DateType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField(RECORD, T.StringType(), True),
        T.StructField(REASON, T.StringType(), False),
        T.StructField(DETAIL, T.StringType(), True),
        T.StructField("quarantined_at", T.TimestampType(), False),
        T.StructField(RUN_ID, T.StringType(), False),
    ]
)


def refused_rows(prepared: DataFrame, rules: RuleSet, days: Sequence[date]) -> DataFrame:
    """The prepared rows of ``days`` that go to the quarantine: refused ones (not the
    duplicates another row of the key outranked) and those a quarantine or fail rule
    moved, named by the rules they broke."""
    rejected = prepared
    if rules:
        moved = F.col(REASON).isNull() & F.col(rules.MOVE)
        rejected = rejected.withColumn(
            DETAIL,
            F.when(
                moved, F.concat(F.lit("rules: "), F.array_join(rules.broken_names(), ", "))
            ).otherwise(F.col(DETAIL)),
        ).withColumn(REASON, F.when(moved, F.lit(QUALITY_REASON)).otherwise(F.col(REASON)))
    return rejected.filter(
        F.col(REASON).isNotNull()
        & (F.col(REASON) != DUPLICATE)
        & days_filter(F.col(LOGICAL_DATE), days)
    )


def write_load_quarantine(
    spark: SparkSession,
    path: str,
    rejected: DataFrame,
    days: Sequence[date],
    *,
    count: int,
) -> None:
    """Replace the dates' rows in the load quarantine with this run's rejects (idempotent).

    Only dates whose rejects changed (by a fingerprint of record, reason and
    detail) are replaced, so a re-run of an unchanged source commits nothing
    here either. ``rejected`` carries ``LOGICAL_DATE``, ``SOURCE`` and the
    run id per row.
    """
    content = [RECORD, REASON, DETAIL]
    new = day_fingerprints(rejected, LOGICAL_DATE, content) if count else {}
    old: dict[date, tuple[int, int]] = {}
    if DeltaTable.isDeltaTable(spark, path):
        current = spark.read.format("delta").load(path)
        old = day_fingerprints(
            current.where(days_filter(F.col("logical_date"), days)), "logical_date", content
        )
    changed = [d for d in days if new.get(d, (0, 0)) != old.get(d, (0, 0))]
    if not changed:
        return  # the same rejects as last time (or none, as before): no commit
    ensure_table(spark, path, LOAD_QUARANTINE_SCHEMA, partition_by=["logical_date"])
    literals = ", ".join(f"DATE'{d.isoformat()}'" for d in changed)
    (
        rejected.where(days_filter(F.col(LOGICAL_DATE), changed))
        .select(
            F.col(LOGICAL_DATE).alias("logical_date"),
            F.col(SOURCE).alias("source"),
            F.col(RECORD),
            F.col(REASON),
            F.col(DETAIL),
            F.col(LOADED_AT).alias("quarantined_at"),
            F.col(RUN_ID),
        )
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"logical_date IN ({literals})")
        .save(path)
    )

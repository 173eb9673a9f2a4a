"""``silver.mode: replace_partition``: each date's partition becomes exactly its rows.

One ``replaceWhere`` commit for the dates whose content changed, skipped
for a date already identical (same row count and the same sum of row
hashes, an order-free fingerprint), so a re-run commits nothing.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.batch.writers.base import (
    LoadCounts,
    WritePlan,
    WriteTarget,
    day_fingerprints,
    days_filter,
    replace_days,
    version_of,
)
from lakehouse.config.model import SilverTable


class ReplacePartitionWriter:
    """Overwrite the changed dates' partitions with ``replaceWhere``."""

    mode = "replace_partition"
    isolated_by_date = True  # replaceWhere names the dates: no other partition is read

    def empties_dates(self, silver: SilverTable) -> bool:
        return True

    def plan(self, target: WriteTarget, rows: DataFrame) -> WritePlan:
        part, days = target.part, target.days
        current = target.spark.read.format("delta").load(target.path)
        before = day_fingerprints(
            current.where(days_filter(F.col(part), days)), part, target.business
        )
        after = day_fingerprints(rows, part, target.business)
        counts = {}
        changed = []
        for day in days:
            valid = target.source_rows.get(day, 0)
            if before.get(day, (0, 0)) == after.get(day, (0, 0)):
                counts[day] = LoadCounts(unchanged=valid, skipped_write=True)
            else:
                changed.append(day)
                counts[day] = LoadCounts(inserted=valid, deleted=before.get(day, (0, 0))[0])
        return WritePlan(counts, days=tuple(changed))

    def commit(self, target: WriteTarget, rows: DataFrame, plan: WritePlan) -> int | None:
        if not plan.days:
            return None
        replace_days(target, rows, plan.days, target.metadata)
        return version_of(target.spark, target.path, target.metadata)

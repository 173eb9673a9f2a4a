"""``silver.mode: merge``: upsert by key within each date.

A row whose key is not in its date's partition is inserted; one whose
business columns differ (null-safe) replaces the stored row; an unchanged
row is not touched (not rewritten either). With ``silver.delete_missing``,
a date's stored keys that its source no longer has are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F

from lakehouse.batch.writers.base import source_col
from lakehouse.batch.writers.planned import ACTION, DELETE, PlannedMerge
from lakehouse.config.model import SilverTable


class MergeWriter(PlannedMerge):
    """Upsert by key and date; optionally delete the date's keys the source lacks."""

    mode = "merge"
    isolated_by_date = True

    def updates(self, silver: SilverTable) -> bool:
        return True

    def deletes(self, silver: SilverTable) -> bool:
        return silver.delete_missing

    def matched_clauses(self, builder: Any, values: Mapping[str, SparkColumn]) -> Any:
        deleting = source_col(ACTION) == F.lit(DELETE)
        return builder.whenMatchedDelete(condition=deleting).whenMatchedUpdate(
            condition=~deleting, set=dict(values)
        )

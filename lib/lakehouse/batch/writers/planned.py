"""Writes planned as a change set, then applied with one MERGE (``merge``, ``insert_if_absent``).

The plan joins the rows with the dates' partitions at one table version and
keeps only the rows that change something, each with its ``_action``
(:func:`changes`). Unchanged rows are left out, so the MERGE that applies
the plan touches only the files holding a changed row: a re-run of the same
data rewrites nothing (a condition in the matched clause alone does not
prevent the rewrite once an insert clause is present). Dates the table has
no row of yet need no change set: one insert-only MERGE
(:func:`insert_into_empty`). Either way, a commit that landed on these dates
between planning and the MERGE makes the load plan again
(:func:`~lakehouse.batch.writers.base.check_planned_on_latest`).

A mode here is a subclass that says which actions it plans and which MERGE
clauses apply them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.batch.prepare import silver_columns
from lakehouse.batch.writers.base import (
    LoadCounts,
    WritePlan,
    WriteTarget,
    check_planned_on_latest,
    days_filter,
    execute_merge,
    source_col,
    target_col,
)
from lakehouse.config.model import SilverTable
from lakehouse.lake.delta_io import key_condition, materialize, release

ACTION = "_action"
INSERT, UPDATE, DELETE = "insert", "update", "delete"


class PlannedMerge:
    """A mode applied by one MERGE of planned changes. Subclasses set ``mode`` and
    override :meth:`updates`, :meth:`deletes` and :meth:`matched_clauses`."""

    mode = ""
    isolated_by_date = True  # every condition names the dates: only their partitions are read

    def updates(self, silver: SilverTable) -> bool:
        """Whether a row whose key is there replaces it when a business column differs."""
        return False

    def deletes(self, silver: SilverTable) -> bool:
        """Whether a date's row whose key the rows lack is deleted."""
        return False

    def empties_dates(self, silver: SilverTable) -> bool:
        return self.deletes(silver)

    def matched_clauses(self, builder: Any, values: Mapping[str, SparkColumn]) -> Any:
        """The MERGE's clauses for planned rows whose key is in the table."""
        return builder

    def plan(self, target: WriteTarget, rows: DataFrame) -> WritePlan:
        version = target.version()
        if _days_are_empty(target, version):
            counts = {d: LoadCounts(inserted=target.source_rows.get(d, 0)) for d in target.days}
            days = target.days if any(c.inserted for c in counts.values()) else ()
            return WritePlan(counts, version, days, into_empty=True)
        planned = materialize(self.changes(target, version, rows))
        try:
            actions = _count_actions(planned, target.part)
        except BaseException:
            release(planned)
            raise
        counts = _counts_from_actions(actions, target.days, target.source_rows)
        if not actions:
            release(planned)
            return WritePlan(counts, version)
        return WritePlan(counts, version, target.days, changes=planned)

    def commit(self, target: WriteTarget, rows: DataFrame, plan: WritePlan) -> int | None:
        assert plan.version is not None
        if not plan.days:
            return None
        if plan.into_empty:
            return insert_into_empty(target, rows, plan.version)
        assert plan.changes is not None
        values = {n: source_col(n) for n in silver_columns(target.pipeline, target.extra)}
        builder = _merge_into(target, plan.changes)
        builder = self.matched_clauses(builder, values).whenNotMatchedInsert(
            condition=source_col(ACTION) != F.lit(DELETE), values=values
        )
        merged = execute_merge(target, builder, materialized=True)
        return check_planned_on_latest(target, plan.version, merged)

    def changes(self, target: WriteTarget, version: int, rows: DataFrame) -> DataFrame:
        """Rows that change the dates at ``version``, each with its ``_action``.

        ``insert``: the key is not in its date's partition; ``update`` (when
        :meth:`updates`): a business column differs (null-safe); ``delete``
        (when :meth:`deletes`): a date's partition has a key the rows lack.
        """
        pipeline, part = target.pipeline, target.part
        keys = list(pipeline.keys)
        table = (
            target.spark.read.format("delta")
            .option("versionAsOf", version)
            .load(target.path)
            .where(days_filter(F.col(part), target.days))
        )
        present = set(table.columns)
        compared = [*[c.name for c in pipeline.columns if c.name not in keys], *target.extra]
        same = reduce(
            lambda a, b: a & b,
            [
                (target_col(n) if n in present else F.lit(None)).eqNullSafe(source_col(n))
                for n in compared
            ],
            F.lit(True),
        )
        in_s = source_col(keys[0]).isNotNull()  # keys are never null in either side
        in_t = target_col(keys[0]).isNotNull()
        action = F.when(in_s & ~in_t, F.lit(INSERT))
        if self.updates(target.silver):
            action = action.when(in_s & in_t & ~same, F.lit(UPDATE))
        if self.deletes(target.silver):
            action = action.when(~in_s & in_t, F.lit(DELETE))
        carried = set(keys) | {part}
        columns = silver_columns(pipeline, target.extra)
        on = key_condition(keys) & (target_col(part) == source_col(part))
        return (
            rows.alias("s")
            .join(table.alias("t"), on, "full_outer")
            .select(
                *[
                    F.coalesce(source_col(n), target_col(n)).alias(n)
                    if n in carried
                    else source_col(n).alias(n)
                    for n in columns
                ],
                action.alias(ACTION),
            )
            .where(F.col(ACTION).isNotNull())
        )


def insert_into_empty(target: WriteTarget, rows: DataFrame, planned_at: int) -> int | None:
    """Load dates the table had no row of at ``planned_at``: every valid row is an insert.

    The common backfill case (a new table, history loaded for the first
    time) needs no change plan: one insert-only MERGE, which Delta runs as a
    single anti-join pass. It still reads the target, so a concurrent writer
    of the same keys cannot make it insert a key twice, and a commit that
    landed on these dates since ``planned_at`` makes the load plan again (the
    next attempt then takes the planned path).
    """
    values = {n: source_col(n) for n in silver_columns(target.pipeline, target.extra)}
    builder = _merge_into(target, rows).whenNotMatchedInsert(values=values)
    merged = execute_merge(target, builder)
    return check_planned_on_latest(target, planned_at, merged)


def _merge_into(target: WriteTarget, source: DataFrame) -> Any:
    """A MERGE of ``source`` into the dates' partitions, matched on key and date."""
    part = target.part
    on = (
        key_condition(target.pipeline.keys)
        & (target_col(part) == source_col(part))
        & days_filter(target_col(part), target.days)
    )
    return DeltaTable.forPath(target.spark, target.path).alias("t").merge(source.alias("s"), on)


def _days_are_empty(target: WriteTarget, version: int) -> bool:
    """True when the table has no data file for any of the dates at ``version``.

    Answered from the Delta log alone (partition pruning of the file list):
    no row is read.
    """
    snapshot = target.spark.read.format("delta").option("versionAsOf", version).load(target.path)
    return not snapshot.where(days_filter(F.col(target.part), target.days)).inputFiles()


def _count_actions(df: DataFrame, part: str) -> dict[date, dict[str, int]]:
    out: dict[date, dict[str, int]] = {}
    for r in df.groupBy(part, ACTION).count().collect():
        out.setdefault(r[part], {})[r[ACTION]] = int(r["count"])
    return out


def _counts_from_actions(
    actions: dict[date, dict[str, int]], days: Sequence[date], source_rows: Mapping[date, int]
) -> dict[date, LoadCounts]:
    out = {}
    for day in days:
        a = actions.get(day, {})
        inserted, updated = a.get(INSERT, 0), a.get(UPDATE, 0)
        out[day] = LoadCounts(
            inserted,
            updated,
            a.get(DELETE, 0),
            max(source_rows.get(day, 0) - inserted - updated, 0),
        )
    return out

"""Writes planned as a change set, then applied in one commit (``merge``, ``insert_if_absent``).

The plan joins the rows with the dates' partitions at one table version and
gives every row its ``_action`` (:meth:`PlannedMerge.changes`): ``insert``,
``update``, ``delete``, or ``keep`` (the stored row stays as it is). Then
the cheaper of two ways applies it (``silver.apply: auto``):

- **merge** (sparse changes): one MERGE of the changed rows only, so it
  touches only the files holding one (a condition in the matched clause
  alone would not prevent the rewrite once an insert clause is present);
- **rewrite** (dense changes: at least :data:`REWRITE_SHARE` of the dates'
  rows, or rows to update or delete in at least :data:`TOUCHED_SHARE` of
  their files, all of which a MERGE would rewrite): the dates' partitions
  become the planned rows (changed and kept) in one ``replaceWhere``
  commit, without MERGE's two joins.

Both give the same table, and a plan that changes nothing commits nothing
(a re-run of the same data). Dates the table has no row of yet need no
change set: one insert-only MERGE (:func:`insert_into_empty`). Whichever
way, a commit that landed on these dates between planning and the commit
makes the load plan again
(:func:`~lakehouse.batch.writers.base.check_planned_on_latest`); a rewrite
checks before it writes as well, and undoes itself in the rare case that
such a commit slipped in before its transaction began (the rewrite would
have dropped its rows).

A mode here is a subclass that says which actions it plans and which MERGE
clauses apply them.
"""

from __future__ import annotations

import json
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
    PlannedOnStaleSnapshot,
    WritePlan,
    WriteTarget,
    check_planned_on_latest,
    days_filter,
    execute_merge,
    replace_days,
    rival_commit,
    source_col,
    target_col,
)
from lakehouse.config.model import SilverTable
from lakehouse.core.errors import LakehouseError
from lakehouse.lake.delta_io import MergeResult, key_condition, materialize, release
from lakehouse.lake.history import Commit, commits_since
from lakehouse.lake.nojvm import stored_rows

ACTION = "_action"
INSERT, UPDATE, DELETE, KEEP = "insert", "update", "delete", "keep"
CHANGES = (INSERT, UPDATE, DELETE)

# rewrite the dates when the changed rows are at least this share of their rows after the
# load: below it a MERGE (which joins twice, and rewrites or marks only touched files)
# costs less; measured in bench/README.md ("Upserts by the cheaper path")
REWRITE_SHARE = 0.3
# ... or when the rows it would update or delete lie in at least this share of the files
TOUCHED_SHARE = 0.5
FILE = "_file"  # a hash of the file a stored row was read from (plan only)


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
        stored = _stored_rows(target, version)
        if not stored:
            counts = {d: LoadCounts(inserted=target.source_rows.get(d, 0)) for d in target.days}
            days = target.days if any(c.inserted for c in counts.values()) else ()
            return WritePlan(counts, version, days, into_empty=True)
        apply = target.silver.apply
        # hold the kept rows too when a rewrite may follow: the changes may be dense
        # (the rows are a large share of the stored ones, or the mode deletes)
        whole = apply == "rewrite" or (
            apply == "auto"
            and (
                self.deletes(target.silver)
                or sum(target.source_rows.values()) >= REWRITE_SHARE * stored
            )
        )
        planned = self.changes(target, version, rows)
        if not whole:
            planned = planned.where(F.col(ACTION) != F.lit(KEEP))
        planned = materialize(planned)
        try:
            actions, touched, files = _tally(planned, target.part)
            changed = sum(n for a in actions.values() for k, n in a.items() if k in CHANGES)
        except BaseException:
            release(planned)
            raise
        counts = _counts_from_actions(actions, target.days, target.source_rows)
        if not changed:
            release(planned)
            return WritePlan(counts, version)
        after = sum(n for a in actions.values() for k, n in a.items() if k != DELETE)
        # a MERGE rewrites (or, with deletion vectors, marks) every file holding a row it
        # updates or deletes, after two joins: scattered changes touch most files
        dense = changed >= REWRITE_SHARE * max(after, 1) or (
            files and touched >= TOUCHED_SHARE * files
        )
        rewrite = whole and (apply == "rewrite" or dense)
        return WritePlan(counts, version, target.days, changes=planned, rewrite=rewrite)

    def commit(self, target: WriteTarget, rows: DataFrame, plan: WritePlan) -> int | None:
        assert plan.version is not None
        if not plan.days:
            return None
        if plan.into_empty:
            return insert_into_empty(target, rows, plan.version)
        assert plan.changes is not None
        merged = _merged(plan)
        if plan.rewrite:
            return rewrite_days(target, plan.changes, plan.version, merged)
        values = {n: source_col(n) for n in silver_columns(target.pipeline, target.extra)}
        changes = plan.changes.where(F.col(ACTION) != F.lit(KEEP)).drop(FILE)
        builder = _merge_into(target, changes)
        builder = self.matched_clauses(builder, values).whenNotMatchedInsert(
            condition=source_col(ACTION) != F.lit(DELETE), values=values
        )
        result = execute_merge(target, builder, materialized=True)
        return check_planned_on_latest(target, plan.version, result)

    def changes(self, target: WriteTarget, version: int, rows: DataFrame) -> DataFrame:
        """The dates' rows after the load, planned at ``version``, each with its ``_action``.

        ``insert``: the key is not in its date's partition; ``update`` (when
        :meth:`updates`): a business column differs (null-safe); ``delete``
        (when :meth:`deletes`): a date's partition has a key the rows lack;
        ``keep``: the stored row stays (unchanged, or not in the rows). Inserted
        and updated rows carry the rows' values, the others the stored ones.
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
        table = table.withColumn(FILE, F.xxhash64(F.col("_metadata.file_path")))
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
        action = action.otherwise(F.lit(KEEP))
        carried = set(keys) | {part}
        columns = silver_columns(pipeline, target.extra)
        on = key_condition(keys) & (target_col(part) == source_col(part))
        joined = rows.alias("s").join(table.alias("t"), on, "full_outer")
        with_action = joined.select(
            *[F.coalesce(source_col(n), target_col(n)).alias(n) for n in carried],
            *[source_col(n).alias(f"_s_{n}") for n in columns if n not in carried],
            *[
                (target_col(n) if n in present else F.lit(None)).alias(f"_t_{n}")
                for n in columns
                if n not in carried
            ],
            action.alias(ACTION),
            target_col(FILE).alias(FILE),
        )
        from_source = F.col(ACTION).isin(INSERT, UPDATE)
        return with_action.select(
            *[
                F.col(n)
                if n in carried
                else F.when(from_source, F.col(f"_s_{n}")).otherwise(F.col(f"_t_{n}")).alias(n)
                for n in columns
            ],
            F.col(ACTION),
            F.col(FILE),
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


def rewrite_days(
    target: WriteTarget, planned: DataFrame, planned_at: int, merged: MergeResult
) -> int | None:
    """Make the dates' partitions the planned rows (all but deletes) in one commit.

    The rows were planned on version ``planned_at``: a commit on these dates
    since then makes the load plan again, found before the write (nothing
    written) or, when it landed in the instant before the write's
    transaction began (Delta checks conflicts only after that), found after
    it from the commit's ``readVersion``: the rewrite dropped that commit's
    rows, so it is undone (the dates as they were just before it) and the
    load plans again on top of the rival.
    """
    early = _rival_since(target, planned_at)
    if early is not None:
        raise PlannedOnStaleSnapshot(
            f"version {early.version} was committed while the load of "
            f"{', '.join(d.isoformat() for d in target.days)} was planned"
        )
    rows = planned.where(F.col(ACTION) != F.lit(DELETE)).drop(ACTION, FILE)
    replace_days(target, rows, target.days, target.metadata)
    since = commits_since(target.spark, target.path, planned_at)
    ours = [c for c in since if c.user_metadata == target.metadata][-1]
    if ours.read_version is not None and ours.read_version > planned_at:
        slipped = rival_commit(target, since, planned_at, ours.read_version + 1)
        if slipped is not None:
            _undo_rewrite(target, ours.version)
            raise PlannedOnStaleSnapshot(
                f"version {slipped.version} was committed just before the rewrite of "
                f"{', '.join(d.isoformat() for d in target.days)} began; rewrite undone"
            )
    return check_planned_on_latest(target, planned_at, merged, since)


class RewriteNotUndone(LakehouseError):
    """A rewrite that dropped a rival's rows could not be undone safely (not retried)."""


def _undo_rewrite(target: WriteTarget, version: int) -> None:
    """Put the dates back as they were at ``version - 1`` (before our rewrite), in one commit.

    The undo is itself a rewrite: a commit on these dates that slipped in
    just before it began would be dropped in turn, so it is refused loudly
    (the versions to restore the dates from are in the message)."""
    spark, path = target.spark, target.path
    before = (
        spark.read.format("delta")
        .option("versionAsOf", version - 1)
        .load(path)
        .where(days_filter(F.col(target.part), target.days))
    )
    meta = json.loads(target.metadata or "{}") if target.metadata else {}
    meta["undoes"] = version
    undo_meta = json.dumps(meta, sort_keys=True)
    replace_days(target, before, target.days, undo_meta)
    undo = _own_commit(target, version, undo_meta)
    if undo.read_version is not None and undo.read_version > version:
        slipped = _rival_since(target, version, undo.read_version)
        if slipped is not None:
            raise RewriteNotUndone(
                f"{target.path}: the rewrite at version {version} and its undo at "
                f"{undo.version} raced commits on the same dates ({slipped.version}); "
                f"restore the dates from version {slipped.version}"
            )


def _rival_since(target: WriteTarget, after: int, upto: int | None = None) -> Commit | None:
    """A commit in versions ``after`` < v <= ``upto`` (default: the latest) that may
    have changed the dates."""
    commits = commits_since(target.spark, target.path, after, upto)
    newest = upto if upto is not None else (commits[-1].version if commits else after)
    return rival_commit(target, commits, after, newest + 1)


def _own_commit(target: WriteTarget, after: int, metadata: str) -> Commit:
    """Our newest commit after ``after`` (found by its userMetadata)."""
    commits = commits_since(target.spark, target.path, after)
    return [c for c in commits if c.user_metadata == metadata][-1]


def _merged(plan: WritePlan) -> MergeResult:
    """What applying ``plan`` commits (for the counts of a load planned again)."""
    c = plan.counts.values()
    return MergeResult(
        sum(x.inserted for x in c), sum(x.updated for x in c), sum(x.deleted for x in c)
    )


def _stored_rows(target: WriteTarget, version: int) -> int:
    """Rows the table holds on the dates at ``version`` (0: no data file for any).

    Summed from the Delta log's file statistics through delta-rs for a local
    table (no Spark job); else a date with no file is answered from the log
    alone (partition pruning of the file list) and only then are rows counted.
    """
    counted = stored_rows(target.path, version, target.part, target.days)
    if counted is not None:
        return counted
    snapshot = target.spark.read.format("delta").option("versionAsOf", version).load(target.path)
    day = snapshot.where(days_filter(F.col(target.part), target.days))
    if not day.inputFiles():
        return 0
    return day.count()


def _tally(planned: DataFrame, part: str) -> tuple[dict[date, dict[str, int]], int, int]:
    """In one pass: rows per date and action; files holding a row to update or delete;
    files of the stored rows (a file belongs to one date, so per-date counts add up)."""
    names = (*CHANGES, KEEP)
    hit = F.when(F.col(ACTION).isin(UPDATE, DELETE), F.col(FILE))
    rows = (
        planned.groupBy(part)
        .agg(
            *[F.sum((F.col(ACTION) == F.lit(a)).cast("long")).alias(a) for a in names],
            F.count_distinct(hit).alias("_touched"),
            F.count_distinct(F.col(FILE)).alias("_files"),
        )
        .collect()
    )
    actions = {r[part]: {a: int(r[a]) for a in names if r[a]} for r in rows}
    return actions, sum(int(r["_touched"]) for r in rows), sum(int(r["_files"]) for r in rows)


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

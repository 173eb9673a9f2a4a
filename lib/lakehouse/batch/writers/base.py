"""What every silver write mode shares: the protocol, the target, the plan and the counts.

A :class:`SilverWriter` writes rows that are valid, one per key and date,
with the audit columns, into the dates' partitions of the silver table. It
works in two steps so that a dry run and a write compute the same thing:
``plan`` (what would change, against one table version; nothing written)
and ``commit`` (apply that plan in one Delta commit, or none when nothing
changes). A writer declares the properties code around it relies on, such
as ``isolated_by_date`` (a backfill asks it before it loads in parallel).

Also here: the ``userMetadata`` every silver commit carries, the check that
a plan was not made on a stale snapshot, and MERGE execution under the
run's metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from delta.tables import DeltaTable
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.batch.prepare import row_hash
from lakehouse.config.model import IDENTIFIER, Pipeline, SilverTable
from lakehouse.core.errors import ConfigError, TransientError
from lakehouse.lake.delta_io import MergeResult, merge_result, release, table_version
from lakehouse.lake.history import Commit, commits_since

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
MATERIALIZE_SOURCE_CONF = "spark.databricks.delta.merge.materializeSource"


@dataclass
class LoadCounts:
    """What a write did (or, in a dry run, would do) to one date's partition."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    version: int | None = None  # the Delta version written; None when nothing was committed
    attempts: int = 1
    skipped_write: bool = False  # replace_partition found the day identical
    # commits of attempts that turned out planned on a stale snapshot (then planned again)
    replanned_commits: list[dict[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For the ledger details."""
        return dict(self.__dict__)

    def add_replanned(self, commits: Sequence[MergeResult], *, alone: bool) -> None:
        """Count what earlier, re-planned attempts committed, so the counts describe the
        whole load, not its last attempt. Exact for a load of one date (each commit's
        rows are its rows); a load of several dates lists those commits' totals in
        ``replanned_commits`` and counts the last attempt per date."""
        self.replanned_commits = [
            {"inserted": m.inserted, "updated": m.updated, "deleted": m.deleted} for m in commits
        ]
        if not alone or not commits:
            return
        inserted = sum(m.inserted for m in commits)
        updated = sum(m.updated for m in commits)
        self.unchanged = max(0, self.unchanged - inserted - updated)  # they were ours
        self.inserted += inserted
        self.updated += updated
        self.deleted += sum(m.deleted for m in commits)

    @property
    def changed(self) -> bool:
        """Whether the write changed a row of the date."""
        return bool(self.inserted or self.updated or self.deleted)


@dataclass(frozen=True)
class WriteTarget:
    """Where a write goes and what it is told about its rows."""

    spark: SparkSession  # a session of its own: the MERGE's userMetadata is a session setting
    path: str
    pipeline: Pipeline
    days: tuple[date, ...]  # sorted
    source_rows: Mapping[date, int]  # valid rows per date (what counts as "unchanged")
    metadata: str = ""  # the commits' userMetadata (commit_metadata)
    extra: tuple[str, ...] = ()  # new columns carried along (schema evolution)

    @property
    def silver(self) -> SilverTable:
        """The pipeline's silver section (a write has one)."""
        assert self.pipeline.silver is not None
        return self.pipeline.silver

    @property
    def part(self) -> str:
        """The partition (logical date) column."""
        return self.pipeline.partition_by

    @property
    def business(self) -> list[str]:
        """The schema's columns: what tells one version of a row from another."""
        return [c.name for c in self.pipeline.columns]

    def version(self) -> int:
        """The table's latest version now."""
        return table_version(self.spark, self.path)


@dataclass
class WritePlan:
    """What a commit would do, computed against table version ``version``."""

    counts: dict[date, LoadCounts]
    version: int | None = None
    days: tuple[date, ...] = ()  # the dates the commit writes (empty: nothing to commit)
    changes: DataFrame | None = None  # materialized rows to apply, when the mode needs them
    into_empty: bool = False  # the dates have no row yet: every row is an insert
    rewrite: bool = False  # apply by rewriting the dates (``changes`` holds all their rows)

    def release(self) -> None:
        """Free the materialized changes (a plan is used once)."""
        if self.changes is not None:
            release(self.changes)
            self.changes = None


class SilverWriter(Protocol):
    """One silver write mode (``silver.mode``), registered by name in
    :data:`lakehouse.batch.writers.WRITERS`."""

    mode: str
    # a commit reads and writes only its dates' partitions, so loads of other
    # dates never conflict and may run at once
    isolated_by_date: bool

    def empties_dates(self, silver: SilverTable) -> bool:
        """Whether a date loaded with no valid row would lose its rows (then the load
        refuses it rather than empty the day)."""
        ...

    def plan(self, target: WriteTarget, rows: DataFrame) -> WritePlan:
        """What writing ``rows`` would change; writes nothing."""
        ...

    def commit(self, target: WriteTarget, rows: DataFrame, plan: WritePlan) -> int | None:
        """Apply ``plan`` in one commit; the version committed, None when none was."""
        ...


def commit_metadata(run_id: str, pipeline: Pipeline, days: date | Sequence[date], mode: str) -> str:
    """The ``userMetadata`` every silver commit carries (``DESCRIBE HISTORY`` shows it).

    One date: ``logical_date``; several loaded in one commit: ``logical_dates``.
    """
    data: dict[str, Any] = {"run_id": run_id, "pipeline": pipeline.name, "mode": mode}
    if isinstance(days, date):
        data["logical_date"] = days.isoformat()
    elif len(days) == 1:
        data["logical_date"] = days[0].isoformat()
    else:
        data["logical_dates"] = [d.isoformat() for d in days]
    return json.dumps(data, sort_keys=True)


def _metadata_dates(meta: dict[str, Any]) -> set[str] | None:
    if "logical_dates" in meta:
        return set(meta["logical_dates"])
    if meta.get("logical_date"):
        return {meta["logical_date"]}
    return None


def target_col(name: str) -> SparkColumn:
    """A column of the MERGE target (alias ``t``)."""
    return F.col(f"t.`{name}`")


def source_col(name: str) -> SparkColumn:
    """A column of the MERGE source (alias ``s``)."""
    return F.col(f"s.`{name}`")


def days_filter(column: SparkColumn, days: Sequence[date]) -> SparkColumn:
    """``column`` is one of ``days``."""
    return column == F.lit(days[0]) if len(days) == 1 else column.isin(list(days))


def day_fingerprints(
    df: DataFrame, part: str, business: Sequence[str]
) -> dict[date, tuple[int, int]]:
    """Per date: row count and the sum of row hashes (an order-free content fingerprint)."""
    rows = (
        df.groupBy(part)
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.coalesce(F.sum(row_hash(business).cast("decimal(38,0)")), F.lit(0)).alias("h"),
        )
        .collect()
    )
    return {r[part]: (int(r["n"]), int(r["h"])) for r in rows}


class PlannedOnStaleSnapshot(TransientError):
    """Another writer of these dates committed between planning a MERGE and committing it."""

    committed: MergeResult | None = None  # what our MERGE did, when it had committed


def check_planned_on_latest(
    target: WriteTarget,
    planned_at: int,
    merged: MergeResult | None = None,
    commits: Sequence[Commit] | None = None,
) -> int | None:
    """Raise :class:`PlannedOnStaleSnapshot` (carrying ``merged``, what our MERGE
    committed) when a commit between planning and the MERGE may have touched these
    dates (commits of this pipeline's other dates cannot); else return the version
    the MERGE committed. Reads every commit since ``planned_at`` (however many),
    not a fixed window, unless the caller read them already (``commits``)."""
    rows = commits if commits is not None else commits_since(target.spark, target.path, planned_at)
    ours = [c.version for c in rows if c.user_metadata == target.metadata]
    if not ours:
        return None
    rival = rival_commit(target, rows, planned_at, ours[-1])
    if rival is not None:
        stale = PlannedOnStaleSnapshot(
            f"version {rival.version} was committed while the load of "
            f"{', '.join(d.isoformat() for d in target.days)} was planned"
        )
        stale.committed = merged  # it committed: the next attempt builds on it
        raise stale
    return ours[-1]


def rival_commit(
    target: WriteTarget, commits: Sequence[Commit], after: int, before: int
) -> Commit | None:
    """The first of ``commits`` strictly between versions ``after`` and ``before`` that
    may have changed rows of the target's dates: a data commit of this pipeline naming
    one of them, or one that names no dates (another writer, or a hand-made change).
    Upkeep (OPTIMIZE, VACUUM) rewrites no row and is never a rival."""
    wanted = {d.isoformat() for d in target.days}
    for c in commits:
        if not after < c.version < before or not c.is_data:
            continue
        try:
            meta = json.loads(c.user_metadata or "null") or {}
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        theirs = _metadata_dates(meta) if meta.get("pipeline") == target.pipeline.name else None
        if theirs is None or theirs & wanted:
            return c
    return None


def replace_days(target: WriteTarget, rows: DataFrame, days: Sequence[date], metadata: str) -> None:
    """Overwrite the partitions of ``days`` with ``rows`` in one ``replaceWhere`` commit
    carrying ``metadata``. The one string predicate Delta needs is formatted from
    ``datetime.date`` values and a checked identifier, never from config text."""
    part = target.part
    if not IDENTIFIER.fullmatch(part):  # the config loader checked it; never format else
        raise ConfigError(f"partition column {part!r} is not an identifier")
    literals = ", ".join(f"DATE'{d.isoformat()}'" for d in days)
    (
        rows.where(days_filter(F.col(part), days))
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"`{part}` IN ({literals})")
        .option("userMetadata", metadata)
        .option("mergeSchema", str(bool(target.silver.schema_evolution)).lower())
        .save(target.path)
    )


def execute_merge(target: WriteTarget, builder: Any, *, materialized: bool = False) -> MergeResult:
    """Run a silver MERGE under the run's ``userMetadata`` (and schema evolution if set);
    returns its row counts.

    ``materialized``: the source comes from :func:`~lakehouse.lake.delta_io.materialize`
    (fixed rows already), so Delta need not copy it once more before its two
    passes (its guard against sources that change between them).
    """
    if target.silver.schema_evolution:
        builder = builder.withSchemaEvolution()
    settings = {USER_METADATA_CONF: target.metadata}
    if materialized:
        settings[MATERIALIZE_SOURCE_CONF] = "none"
    for key, value in settings.items():
        target.spark.conf.set(key, value)
    try:
        return merge_result(builder.execute())
    finally:
        for key in settings:
            target.spark.conf.unset(key)


def version_of(spark: SparkSession, path: str, metadata: str) -> int | None:
    """The newest version this run committed (its userMetadata), if it committed one."""
    rows = DeltaTable.forPath(spark, path).history(20).select("version", "userMetadata").collect()
    versions = [int(r["version"]) for r in rows if r["userMetadata"] == metadata]
    return max(versions) if versions else None

"""Silver write modes, registered by name (``silver.mode``), and the write with retries.

A mode is one module with a :class:`~lakehouse.batch.writers.base.SilverWriter`
and one line in :data:`WRITERS`. :func:`write_silver` plans and commits
with retries (the last plan wins, as in a serial run); :func:`plan_changes`
is the dry run: the same plan, never committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lakehouse.batch.prepare import silver_schema
from lakehouse.batch.writers.base import (
    MATERIALIZE_SOURCE_CONF,
    USER_METADATA_CONF,
    LoadCounts,
    PlannedOnStaleSnapshot,
    SilverWriter,
    WritePlan,
    WriteTarget,
    commit_metadata,
    day_fingerprints,
    days_filter,
)
from lakehouse.batch.writers.insert_if_absent import InsertIfAbsentWriter
from lakehouse.batch.writers.merge import MergeWriter
from lakehouse.batch.writers.replace_partition import ReplacePartitionWriter
from lakehouse.config.model import Pipeline
from lakehouse.core.errors import ConfigError, held_rows_lost, is_transient
from lakehouse.core.retry import retry
from lakehouse.lake.delta_io import MergeResult, ensure_table

log = logging.getLogger(__name__)

WRITERS: dict[str, SilverWriter] = {
    w.mode: w for w in (MergeWriter(), InsertIfAbsentWriter(), ReplacePartitionWriter())
}


def writer_for(pipeline: Pipeline) -> SilverWriter:
    """The writer of the pipeline's ``silver.mode``."""
    if pipeline.silver is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `silver` table", key="silver")
    try:
        return WRITERS[pipeline.silver.mode]
    except KeyError:
        raise ConfigError(
            f"unknown silver mode {pipeline.silver.mode!r} (modes: {', '.join(sorted(WRITERS))})",
            key="silver.mode",
        ) from None


def write_silver(
    spark: SparkSession,
    path: str,
    rows: DataFrame,
    pipeline: Pipeline,
    days: Sequence[date],
    *,
    metadata: str,
    extra: Sequence[str] = (),
    source_rows: Mapping[date, int],
) -> dict[date, LoadCounts]:
    """Write ``rows`` (valid, one per key and date, all of ``days``) by ``silver.mode``.

    One commit for all ``days`` (or none, when nothing changes). A concurrent
    commit Delta sees raises a conflict; one that landed between planning
    and the commit (and may concern these dates) makes the load plan again.
    Either way the attempt is retried with backoff (``silver.retry``), and
    the last plan wins, as in a serial run.

    ``spark`` must be a session of its own (``SparkSession.newSession()``):
    the MERGE's ``userMetadata`` is a session setting, set and cleared here.
    """
    writer = writer_for(pipeline)
    assert pipeline.silver is not None
    target = WriteTarget(
        spark, path, pipeline, tuple(sorted(days)), source_rows, metadata, tuple(extra)
    )
    attempts = 0
    replanned: list[MergeResult] = []  # commits made on a stale plan, then planned again

    def attempt() -> dict[date, LoadCounts]:
        nonlocal attempts
        attempts += 1
        plan = writer.plan(target, rows)
        try:
            committed = writer.commit(target, rows, plan)
        except PlannedOnStaleSnapshot as exc:
            if exc.committed is not None:
                replanned.append(exc.committed)
            raise
        finally:
            plan.release()
        for c in plan.counts.values():
            c.version = committed
        return plan.counts

    result = retry(
        attempt,
        pipeline.silver.retry.backoff(),
        retryable=retry_in_load,
        on_retry=lambda n, exc, delay: log.warning(
            "silver commit for %s lost to a concurrent writer (%s); retry %d in %.1fs",
            ", ".join(d.isoformat() for d in target.days),
            type(exc).__name__,
            n,
            delay,
        ),
    )
    for c in result.values():
        c.attempts = attempts
        c.add_replanned(replanned, alone=len(target.days) == 1)
        if not c.changed:
            c.version = None
    return result


def plan_changes(
    spark: SparkSession,
    path: str,
    rows: DataFrame,
    pipeline: Pipeline,
    days: Sequence[date],
    *,
    extra: Sequence[str] = (),
    source_rows: Mapping[date, int],
) -> dict[date, LoadCounts]:
    """What :func:`write_silver` would do (``--dry-run``): the writer's plan, not committed."""
    writer = writer_for(pipeline)
    days = sorted(days)
    if not DeltaTable.isDeltaTable(spark, path):
        return {d: LoadCounts(inserted=source_rows.get(d, 0), attempts=0) for d in days}
    target = WriteTarget(spark, path, pipeline, tuple(days), source_rows, extra=tuple(extra))
    plan = writer.plan(target, rows)
    plan.release()
    for counts in plan.counts.values():
        counts.attempts = 0
    return plan.counts


def retry_in_load(exc: BaseException) -> bool:
    """Worth another write attempt inside this load: transient, and the held rows
    are still there (lost ones make the whole load transient: prepared again)."""
    return is_transient(exc) and not held_rows_lost(exc)


def ensure_silver(spark: SparkSession, path: str, pipeline: Pipeline) -> None:
    """Create the silver table (partitioned by the date column) if it is not there."""
    ensure_table(
        spark,
        path,
        silver_schema(pipeline),
        partition_by=[pipeline.partition_by],
        properties=pipeline.maintenance.properties(),
    )


__all__ = [
    "MATERIALIZE_SOURCE_CONF",
    "USER_METADATA_CONF",
    "WRITERS",
    "LoadCounts",
    "PlannedOnStaleSnapshot",
    "SilverWriter",
    "WritePlan",
    "WriteTarget",
    "commit_metadata",
    "day_fingerprints",
    "days_filter",
    "ensure_silver",
    "plan_changes",
    "retry_in_load",
    "write_silver",
    "writer_for",
]

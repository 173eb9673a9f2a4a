"""Idempotent Delta writes: the few named places where tables are written.

- :func:`ensure_table` creates a table with an explicit schema before any
  writer needs it (so two first writers never race to create it);
- :func:`insert_if_absent` is MERGE with only "when not matched then
  insert" (the ``ON CONFLICT DO NOTHING`` pattern), optionally restricted to
  a set of partition values so only those partitions are read;
- :func:`materialize` / :func:`release` hold a frame that several actions
  and a MERGE read, computed once;
- :func:`append_once_options` makes an append that must happen once (ledger
  and quality rows) a Delta idempotent write, so a retry after a commit that
  landed (its acknowledgement lost) is skipped instead of appending twice.

Conditions are built from Column expressions over validated identifiers,
never from SQL text.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.core.errors import is_transient
from lakehouse.core.retry import Backoff, retry

log = logging.getLogger(__name__)

_CREATE_BACKOFF = Backoff(attempts=5, base_delay=0.2, max_delay=2.0)


def materialize(df: DataFrame) -> DataFrame:
    """``df`` computed now, once, its rows held by the executors (memory, then disk).

    Not ``df.persist()``: Delta's MERGE does not find a cached plan that
    holds ``current_timestamp()`` (delta-io/delta#2011), so such a cached
    source is computed again - reads, casts, window sorts and all - by the
    MERGE. The frame returned here has its lineage cut (a local checkpoint):
    every action on it, a MERGE too, reads the held rows. Losing an executor
    loses its blocks; the error (``CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND``) counts
    as transient, so the load is retried. Free the rows with :func:`release`
    (given the very frame returned here, not one derived from it).
    """
    return df.localCheckpoint(eager=True)


def release(df: DataFrame | None) -> None:
    """Free the rows of a frame from :func:`materialize` now (not at the JVM's next GC).

    The frame cannot be read afterwards.
    """
    if df is None:
        return
    try:
        # the blocks go through the context's own unpersist: RDD.unpersist would warn that
        # a locally checkpointed RDD cannot be recomputed, which is the point here. Blocking,
        # so that a read after this fails for certain rather than racing the removal.
        rdd = df._jdf.queryExecution().analyzed().rdd()
        df.sparkSession.sparkContext._jsc.sc().unpersistRDD(rdd.id(), True)
    except Exception as exc:  # not the materialized frame itself: its rows stay held
        log.warning("rows not released (not a frame from materialize()): %s", exc)


def append_once_options(kind: str, label: str, rows: Iterable[Sequence[Any]]) -> dict[str, str]:
    """Writer options (``txnAppId``, ``txnVersion``) that make an append of ``rows`` happen once.

    Delta skips a write whose ``txnVersion`` is not above the last one it
    recorded for its ``txnAppId``. The app id here is ``kind:label:digest``:
    ``label`` (cut to 64 characters) says what is written, the digest (128
    bits of SHA-256) covers every value of every row. So the same rows
    written again - a retry after a commit that landed but whose
    acknowledgement was lost - are skipped, while two different writes never
    share an app id, even when they reuse a run id (``$LAKEHOUSE_RUN_ID``):
    their rows differ (times, attempt). Each app id serves one write, hence
    ``txnVersion`` 0. Compute the options once, outside the retried function.
    """
    text = json.dumps([list(r) for r in rows], default=str, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return {"txnAppId": f"{kind}:{label[:64]}:{digest}", "txnVersion": "0"}


@dataclass(frozen=True)
class MergeResult:
    """Row counts reported by a MERGE."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


# Tables whose idempotent appends (append_once_options) are retried within seconds:
# their transaction ids need not be kept for ever (each append adds one to the log).
ONCE_APPEND_PROPERTIES = {
    "delta.appendOnly": "true",
    "delta.setTransactionRetentionDuration": "interval 7 days",
}


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: T.StructType,
    *,
    partition_by: Sequence[str] = (),
    properties: dict[str, str] | None = None,
    add_missing: bool = False,
) -> None:
    """Create the Delta table at ``path`` if it does not exist (race-safe).

    ``add_missing``: a table that exists gets the (nullable) columns of
    ``schema`` it lacks, added at its end (``ALTER TABLE ... ADD COLUMNS``):
    an option switched on later, such as ``bronze.keep_raw``.
    """

    def create() -> None:
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        for key, value in (properties or {}).items():
            builder = builder.property(key, value)
        try:
            builder.execute()
        except Exception as exc:
            if "DELTA_TABLE_NOT_FOUND" in str(exc) and prune_empty_log(path, spark):
                log.warning("removed the empty _delta_log an interrupted creation left at %s", path)
            raise  # retried: the next attempt creates the table

    retry(create, _CREATE_BACKOFF, retryable=_creation_race)
    if add_missing:
        have = {f.name for f in spark.read.format("delta").load(path).schema.fields}
        missing = [f for f in schema.fields if f.name not in have]
        if missing:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
            spark.sql(f"ALTER TABLE {sql_path(path)} ADD COLUMNS ({columns})")
            log.info("added %s to %s", ", ".join(f.name for f in missing), path)


def sql_path(path: str) -> str:
    """``delta.`path``` for Delta's SQL commands, with backticks doubled."""
    return "delta.`" + path.replace("`", "``") + "`"


def prune_empty_log(path: str, spark: SparkSession | None = None) -> bool:
    """Remove a table's ``_delta_log`` that holds folders but no file at all.

    A process killed while creating a table can leave ``_delta_log/`` (with
    an empty ``_staged_commits/``) and no commit; Delta then reports the
    table as not found and refuses to create it, for good. Only empty
    folders are removed (``rmdir``, or a non-recursive delete of each folder
    marker on an object store, refuses anything else), so a log with any
    file in it, a commit above all, is never touched. Returns whether
    something was removed; a remote store needs ``spark`` (its Hadoop
    file system).
    """
    import os
    from pathlib import Path

    if "://" in path and not path.startswith("file:"):
        if spark is None:
            return False
        from lakehouse.lake.fs import remove_empty_folders

        return remove_empty_folders(spark, f"{path.rstrip('/')}/_delta_log")
    log_dir = Path(path.removeprefix("file:")) / "_delta_log"
    if not log_dir.is_dir():
        return False
    folders = []
    for root, _dirs, files in os.walk(log_dir, topdown=False):
        if files:
            return False
        folders.append(root)
    try:
        for folder in folders:  # deepest first
            os.rmdir(folder)
    except OSError:  # something appeared meanwhile (another creator): not ours to remove
        return False
    return True


def _creation_race(exc: BaseException) -> bool:
    """Errors a losing creator sees while another thread or process creates the table.

    Besides Delta's concurrent-modification errors, ``createIfNotExists``
    can find the folder half-made and report the table as not found, or as a
    non-empty location that is not a Delta table (both seen with three
    threads creating the same new table).
    """
    text = str(exc)
    return is_transient(exc) or any(code in text for code in _CREATION_RACE_CODES)


_CREATION_RACE_CODES = (
    "DELTA_TABLE_NOT_FOUND",
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
)


def _col(alias: str, name: str) -> Column:
    return F.col(f"{alias}.`{name}`")


def key_condition(keys: Sequence[str]) -> Column:
    """``t.k1 = s.k1 AND t.k2 = s.k2 ...`` (keys are never null in our tables)."""
    if not keys:
        raise ValueError("a MERGE needs at least one key column")
    return reduce(lambda a, b: a & b, [_col("t", k) == _col("s", k) for k in keys])


def insert_if_absent(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    keys: Sequence[str],
    *,
    partition_column: str | None = None,
    partition_values: Iterable[Any] = (),
    lookback_days: int = 0,
) -> MergeResult:
    """Insert the source rows whose keys are not in the target yet.

    With ``partition_column``, the condition also requires the same partition
    and limits the target to ``partition_values`` (a literal list), so Delta
    reads only those partitions and loads of other days do not conflict.
    With ``lookback_days`` (date partitions), a key also matches a target row
    up to that many days before its own, so a copy that lands on a later
    day than the original is not inserted again; those days are read too.
    Target columns the source does not have are left null.
    """
    condition = key_condition(keys)
    if partition_column is not None:
        values = sorted(set(partition_values))
        if not values:
            return MergeResult()
        if lookback_days:  # a key matches on its own day or up to lookback_days before it
            days = sorted({d - timedelta(days=i) for d in values for i in range(lookback_days + 1)})
            condition = (
                condition
                & (_col("t", partition_column) <= _col("s", partition_column))
                & _col("t", partition_column).isin(days)
            )
        else:
            condition = (
                condition
                & (_col("t", partition_column) == _col("s", partition_column))
                & _col("t", partition_column).isin(values)
            )
    metrics = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(source.alias("s"), condition)
        # the source's columns: a nullable target column the source lacks stays null
        # (bronze after `keep_raw` was switched off), as in an append
        .whenNotMatchedInsert(values={c: _col("s", c) for c in source.columns})
        .execute()
    )
    return merge_result(metrics)


def idempotent_append(source: DataFrame, path: str, app_id: str, version: int) -> None:
    """Append ``source`` as Delta's idempotent write ``(app_id, version)``.

    Delta skips the write when the table already recorded a version at or
    above ``version`` for ``app_id`` (a replayed micro-batch): blind appends
    never conflict, and a retry after a commit that landed adds nothing.
    Whether a commit was made shows in :func:`table_version` before and after.
    """
    (
        source.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", str(version))
        .save(path)
    )


def read_if_exists(spark: SparkSession, path: str) -> DataFrame | None:
    """The Delta table at ``path`` as it is now, or None if there is none (yet)."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path)


def table_version(spark: SparkSession, path: str) -> int:
    """The latest commit version of the Delta table at ``path``."""
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def merge_result(metrics: DataFrame | None) -> MergeResult:
    """The row counts of a MERGE's metrics frame (what ``execute()`` returns)."""
    if metrics is None:
        return MergeResult()
    row = metrics.first()
    if row is None:
        return MergeResult()
    values = row.asDict()
    return MergeResult(
        inserted=int(values.get("num_inserted_rows") or 0),
        updated=int(values.get("num_updated_rows") or 0),
        deleted=int(values.get("num_deleted_rows") or 0),
    )

"""Keeping one Delta table healthy: retention properties, compaction, VACUUM.

:func:`upkeep_table` does, in order and each only when it has work:

1. sets the retention properties (``delta.logRetentionDuration`` & co.)
   the pipeline asks for, only those that differ (a property commit is a
   metadata change, which a concurrent writer's commit would lose to);
2. OPTIMIZE (bin-packing, or Z-order by the configured columns) of the
   closed partitions only (``partition < closed_before``), so the stream
   and the daily loads, which write the open ones, never conflict with it;
   with Z-order, only the partitions closed since the previous run (a
   Z-order rewrites what it touches, every time);
3. VACUUM of files unreferenced for longer than the retention (validated
   against the pipeline's longest job when the config loads);
4. a log checkpoint of the table's latest version when 1 or 2 committed:
   a reader then builds its snapshot from the compacted files' few entries
   instead of the last checkpoint's (every small file) plus the commits
   after it (measured in bench/README.md, "maintain").

None of these changes a row, and :mod:`lakehouse.lake.history` tells their
commits from data commits. A dry run reads and reports, and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lakehouse.core.retry import Backoff, retry
from lakehouse.lake.delta_io import sql_path


# Session settings while maintain runs. The retention check is ours (config
# validation against the longest job); VACUUM logging would add two commits
# per run that say nothing; Spark's file listing default (10,000 tasks) made
# a small table's VACUUM take 36 s instead of 2 s on two cores.
def upkeep_conf(cores: int) -> dict[str, str]:
    """Spark settings for a maintenance session with ``cores`` cores."""
    return {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        "spark.databricks.delta.vacuum.logging.enabled": "false",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(max(4, 4 * cores)),
    }


@contextlib.contextmanager
def upkeep_session(spark: Any) -> Iterator[None]:
    """Apply :func:`upkeep_conf` to the session for the block, then restore it."""
    cores = int(spark.sparkContext.defaultParallelism or os.cpu_count() or 2)
    wanted = upkeep_conf(cores)
    before = {key: spark.conf.get(key, None) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


@dataclass(frozen=True)
class TableUpkeep:
    """One table and what to do to it."""

    name: str  # as the catalog would name it: bronze.orders, ops.runs
    path: str
    properties: Mapping[str, str]
    zorder_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upkeep:
    """What one maintain run does, the same for every table."""

    closed_before: date  # partitions of earlier days are closed
    vacuum_retention_hours: float
    optimize: bool = True
    vacuum: bool = True
    dry_run: bool = False
    backoff: Backoff = Backoff()  # noqa: RUF009 - immutable


def _detail(spark: Any, path: str) -> dict[str, Any]:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).detail().first()
    return {
        "files": int(row["numFiles"] or 0),
        "bytes": int(row["sizeInBytes"] or 0),
        "partition_columns": list(row["partitionColumns"] or []),
        "properties": dict(row["properties"] or {}),
    }


def _date_partition(spark: Any, path: str, columns: list[str]) -> str | None:
    """The table's first partition column when it is a DATE (closed days are its values)."""
    if not columns:
        return None
    field = spark.read.format("delta").load(path).schema[columns[0]]
    return columns[0] if field.dataType.typeName() == "date" else None


def _quote(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _candidates(spark: Any, path: str, where: str | None, part: str | None) -> dict[str, int]:
    """Closed partitions holding more than one file, with their file counts (a dry run)."""
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(path)
    if where:
        df = df.where(where)
    key = F.col(part).cast("string") if part else F.lit("(whole table)")
    rows = (
        df.select(key.alias("p"), F.col("_metadata.file_path").alias("f"))
        .groupBy("p")
        .agg(F.countDistinct("f").alias("n"))
        .where(F.col("n") > 1)
        .collect()
    )
    return {str(r["p"]): int(r["n"]) for r in rows}


def _optimize(spark: Any, path: str, where: str | None, zorder: tuple[str, ...]) -> dict[str, Any]:
    from delta.tables import DeltaTable

    builder = DeltaTable.forPath(spark, path).optimize()
    if where:
        builder = builder.where(where)
    result = builder.executeZOrderBy(*zorder) if zorder else builder.executeCompaction()
    metrics = result.first()["metrics"]
    return {
        "partitions": int(metrics["partitionsOptimized"] or 0),
        "files_removed": int(metrics["numFilesRemoved"] or 0),
        "files_added": int(metrics["numFilesAdded"] or 0),
    }


def _checkpoint(spark: Any, path: str) -> int:
    """Write a checkpoint of the table's latest version; that version.

    A checkpoint adds no commit: a concurrent writer is not disturbed, and a
    reader that lists the log uses the newest checkpoint it finds.
    """
    jvm = spark._jvm
    none = jvm.scala.Option.empty()
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    snapshot = log.update(False, none, none)
    log.checkpoint(snapshot, none)
    return int(snapshot.version())


def _vacuum(spark: Any, path: str, hours: float, dry_run: bool) -> int:
    """Files VACUUM deletes (or, in a dry run, would)."""
    from delta.tables import DeltaTable

    doomed = spark.sql(f"VACUUM {sql_path(path)} RETAIN {hours:.4f} HOURS DRY RUN").count()
    if doomed and not dry_run:
        DeltaTable.forPath(spark, path).vacuum(hours)
    return int(doomed)


def upkeep_table(
    spark: Any,
    table: TableUpkeep,
    plan: Upkeep,
    *,
    zorder_since: date | None = None,
    tell: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Maintain one table (see the module doc); what was done, for the ledger.

    ``zorder_since``: the previous run's ``closed_before``; partitions before
    it were Z-ordered then and are left alone (None: every closed partition).
    Conflicts with a concurrent writer are retried with ``plan.backoff``.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, table.path):
        return {"path": table.path, "skipped": "no table yet"}
    before = _detail(spark, table.path)
    done: dict[str, Any] = {
        "path": table.path,
        "files_before": before["files"],
        "bytes_before": before["bytes"],
    }

    current = before["properties"]
    changed = {k: v for k, v in table.properties.items() if current.get(k) != v}
    if changed and not plan.dry_run:
        assignments = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(changed.items()))
        statement = f"ALTER TABLE {sql_path(table.path)} SET TBLPROPERTIES ({assignments})"
        retry(lambda: spark.sql(statement), plan.backoff)
    done["would_set" if plan.dry_run else "properties_set"] = sorted(changed)

    if plan.optimize:
        part = _date_partition(spark, table.path, before["partition_columns"])
        where = f"{_quote(part)} < DATE'{plan.closed_before.isoformat()}'" if part else None
        zorder = table.zorder_by
        if part and zorder and zorder_since is not None:
            where += f" AND {_quote(part)} >= DATE'{zorder_since.isoformat()}'"
        if part:
            done["closed_before"] = plan.closed_before.isoformat()
        if zorder:
            done["zorder_by"] = list(zorder)
        if plan.dry_run:
            pending = _candidates(spark, table.path, where, part)
            done["would_compact"] = {"partitions": len(pending), "files": sum(pending.values())}
        else:
            done["optimized"] = retry(
                lambda: _optimize(spark, table.path, where, zorder), plan.backoff
            )

    if plan.vacuum:
        deleted = _vacuum(spark, table.path, plan.vacuum_retention_hours, plan.dry_run)
        done["would_vacuum" if plan.dry_run else "vacuumed_files"] = deleted

    compacted = done.get("optimized", {}).get("files_removed", 0)
    if not plan.dry_run and (changed or compacted):
        done["checkpoint_version"] = _checkpoint(spark, table.path)

    after = _detail(spark, table.path) if not plan.dry_run else before
    done["files_after"] = after["files"]
    done["bytes_after"] = after["bytes"]
    tell(summary_line(table.name, done))
    return done


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def summary_line(name: str, done: Mapping[str, Any]) -> str:
    """One line of the job's report for a table."""
    if "skipped" in done:
        return f"  {name}: {done['skipped']}"
    parts = [
        f"{done['files_before']} files ({_size(done['bytes_before'])})"
        f" -> {done['files_after']} ({_size(done['bytes_after'])})"
    ]
    if "optimized" in done:
        o = done["optimized"]
        how = "z-ordered" if done.get("zorder_by") else "compacted"
        parts.append(
            f"{o['partitions']} partition(s) {how} ({o['files_removed']} files into "
            f"{o['files_added']})"
        )
    if "would_compact" in done:
        w = done["would_compact"]
        parts.append(f"would compact {w['files']} files in {w['partitions']} partition(s)")
    if "vacuumed_files" in done:
        parts.append(f"{done['vacuumed_files']} old file(s) vacuumed")
    if "would_vacuum" in done:
        parts.append(f"would vacuum {done['would_vacuum']} old file(s)")
    if done.get("properties_set"):
        parts.append(f"set {', '.join(done['properties_set'])}")
    if done.get("would_set"):
        parts.append(f"would set {', '.join(done['would_set'])}")
    return f"  {name}: " + "; ".join(parts)

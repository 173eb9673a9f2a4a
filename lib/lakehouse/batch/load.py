"""Batch loads of one logical date into a silver Delta table, idempotently.

A load is three steps, each testable alone:

1. :func:`read_source` - the date's rows from bronze (its partition) or from
   landed files (``source.files.path`` with ``{date}`` filled in), typed
   against the pipeline schema. Every row keeps a reason (null when valid)
   and, for files, its original text for the quarantine.
2. :func:`prepare` - pure DataFrame functions: rows of another date are
   refused, the partition column is derived, keys are deduplicated (the
   newest row by ``silver.order_by`` wins; ties go to the larger row hash,
   so the winner never depends on file order), audit columns added.
3. :func:`write_silver` - by ``silver.mode``: ``merge`` (upsert whose
   matched clause fires only when a business column changed, optionally
   deleting the date's rows the source no longer has), ``replace_partition``
   (one ``replaceWhere`` commit, skipped when the day's content is already
   identical) or ``insert_if_absent``. The date is in every condition, so
   only that partition is read and loads of other dates never conflict.
   Every commit carries ``userMetadata`` naming the run.

No SQL text is built from config or argument values: conditions are Column
expressions over validated identifiers; the one string predicate Delta
needs (``replaceWhere``) is formatted from a ``datetime.date`` and a
checked identifier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.util import inheritable_thread_target

from lakehouse.config.model import IDENTIFIER, Pipeline, Settings
from lakehouse.core.ddl import Column, to_struct
from lakehouse.core.errors import (
    ConfigError,
    LakehouseError,
    MissingSourceError,
    QualityGateError,
    SchemaDriftError,
    TransientError,
    held_rows_lost,
    is_transient,
)
from lakehouse.core.retry import retry
from lakehouse.decode.events import DETAIL, MISSING, RAW_VALUE, REASON, WRONG_TYPE, parse_events
from lakehouse.decode.events import required_fields as event_required_fields
from lakehouse.lake import fs
from lakehouse.lake.delta_io import (
    MergeResult,
    ensure_table,
    key_condition,
    materialize,
    merge_result,
    release,
    table_version,
)
from lakehouse.lake.ledger import Outcome
from lakehouse.lake.ledger_queries import recent_checked_counts, snapshot
from lakehouse.quality.engine import (
    QUALITY_REASON,
    HistoryOf,
    QualityReport,
    RuleSet,
    history_for,
    max_window,
    result_rows,
    write_results,
)

log = logging.getLogger(__name__)

LOADED_AT = "loaded_at"
RUN_ID = "run_id"
AUDIT_COLUMNS = (LOADED_AT, RUN_ID)
RECORD = "record"  # the row as the source had it, kept for the quarantine
EXTRA = "_extra_keys"  # json sources: keys that are not in the schema
ROW_HASH = "_row_hash"

OUTSIDE_DATE = "outside_date"
DUPLICATE = "duplicate"  # counted, never quarantined: another row of the key won

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
SOURCE_READERS = 8  # dates whose sources are opened at once by a multi-date load

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


# ---------------------------------------------------------------- source


@dataclass
class SourceFrame:
    """A date's source rows, typed, with a reason per row (null = valid)."""

    df: DataFrame
    location: str
    kind: str  # "bronze" | "files"
    extra_columns: list[str] = field(default_factory=list)  # typed sources: known at once
    json_keys: bool = False  # json: new keys are found while preparing (EXTRA column)
    # typed sources whose every column arrives unchanged: RECORD is only filled for
    # rows refused at typing; any other row's is rebuilt from these (source order)
    record_columns: list[str] | None = None
    state: str | None = None  # source_state() when it was opened


def source_state(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, day: date, kind: str
) -> str | None:
    """What the date's source is made of now, as ``<files>:<digest>`` (None: no source).

    A load records it (ledger ``details.source_state``); a date counts as
    loaded only while its source is still in that state, so events that reach
    bronze's partition after the load (late arrivals), or landed files added
    or replaced, make the date due again. Bronze: the partition's data files
    from the Delta log (partition-pruned, no data read; Delta never rewrites a
    file in place, and compaction shows as a change, which only costs an
    idempotent reload). Landed files: path, size and modification time of
    each file.
    """
    if kind == "bronze":
        location = bronze_location(settings, pipeline)
        if not DeltaTable.isDeltaTable(spark, location):
            return None
        table = spark.read.format("delta").load(location)
        parts = sorted(table.where(F.col(pipeline.partition_by) == day).inputFiles())
    else:
        location = files_location(settings, pipeline, day)
        parts = [f"{p}|{size}|{mtime}" for p, size, mtime in fs.list_files(spark, location)]
        if not parts and not fs.exists(spark, location):
            return None
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{len(parts)}:{digest}"


def required_columns(pipeline: Pipeline) -> list[str]:
    """Columns a row must carry: NOT NULL columns, keys, the event time."""
    return event_required_fields(pipeline.columns, pipeline.keys, pipeline.event_time)


def files_location(settings: Settings, pipeline: Pipeline, day: date) -> str:
    """Where the landed files of ``day`` are (relative paths are below the lake root)."""
    files = pipeline.source.files
    if files is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `source.files`", key="source.files")
    path = files.path.replace("{date}", day.isoformat())
    if path.startswith("/") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", path):
        return path
    return settings.path(path)


def bronze_location(settings: Settings, pipeline: Pipeline) -> str:
    """The pipeline's bronze table path."""
    if pipeline.bronze is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `bronze` table", key="bronze")
    return settings.table_path(pipeline.bronze.table, pipeline.bronze.path)


def read_source(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, day: date, kind: str
) -> SourceFrame | None:
    """The date's source rows, or None when there is no source for that date."""
    # before opening: whatever lands meanwhile is read or not, but it is never in
    # the recorded state without having been read, so it makes the date due again
    state = source_state(spark, settings, pipeline, day, kind)
    frame = _open_source(spark, settings, pipeline, day, kind)
    if frame is not None:
        frame.state = state
    return frame


def _open_source(
    spark: SparkSession, settings: Settings, pipeline: Pipeline, day: date, kind: str
) -> SourceFrame | None:
    columns = pipeline.columns
    if kind == "bronze":
        location = bronze_location(settings, pipeline)
        if not DeltaTable.isDeltaTable(spark, location):
            return None
        # an empty partition shows as a date without rows once the load counts them
        df = spark.read.format("delta").load(location).where(F.col(pipeline.partition_by) == day)
        return SourceFrame(
            df.select(
                *[c.name for c in columns],
                F.lit(None).cast("string").alias(REASON),
                F.lit(None).cast("string").alias(DETAIL),
                F.lit(None).cast("string").alias(RECORD),
            ),
            f"{location} ({pipeline.partition_by}={day.isoformat()})",
            kind,
        )
    location = files_location(settings, pipeline, day)
    if not fs.exists(spark, location):
        return None
    files = pipeline.source.files
    assert files is not None  # files_location checked it
    if files.format == "json":
        raw = spark.read.options(**files.options).text(location)
        known = F.array(*[F.lit(c.name) for c in columns])
        df = (
            raw.select(F.col("value").alias(RAW_VALUE))
            .transform(parse_events, columns, required_columns(pipeline))
            .withColumn(EXTRA, F.array_except(F.json_object_keys(RAW_VALUE), known))
            .withColumnRenamed(RAW_VALUE, RECORD)
        )
        return SourceFrame(df, location, kind, json_keys=True)
    if files.format == "csv":
        reader = spark.read.options(**{"header": "true", **files.options}).format("csv")
    else:
        reader = spark.read.options(**files.options).format(files.format)
    try:
        df = reader.load(location)
    except Exception as exc:  # a folder without data files: nothing to infer a schema from
        if "UNABLE_TO_INFER_SCHEMA" in str(exc):
            return None
        raise
    known_names = {c.name for c in columns} | {pipeline.partition_by}
    extra = [c for c in df.columns if c not in known_names]
    rebuild = None
    if not extra and not _shadows_internal(df.columns, pipeline.partition_by):
        rebuild = carried_unchanged(df, columns, extra)
    return SourceFrame(
        typed_from_columns(
            df, columns, required_columns(pipeline), keep=extra, rebuild=rebuild is not None
        ),
        location,
        kind,
        extra_columns=extra,
        record_columns=rebuild,
    )


def carried_unchanged(
    df: DataFrame, columns: Sequence[Column], keep: Sequence[str]
) -> list[str] | None:
    """``df``'s columns when typing keeps every one of them as it is, else None.

    Then a row's source record can be rebuilt from its typed row, byte for
    byte, and need not be carried (and shuffled) with every valid row.
    """
    declared = {c.name: c.data_type for c in columns}
    kept = set(keep)
    for f in df.schema.fields:
        if f.name not in kept and declared.get(f.name) != f.dataType:
            return None
    return list(df.columns)


def _shadows_internal(names: Sequence[str], partition_by: str) -> bool:
    """Whether a source column has the name of one a load derives or overwrites.

    Such a column's source value does not survive to where a record would be
    rebuilt, so those sources keep every row's record as read. (So do
    sources with columns outside the schema: a group of dates may widen their
    types.)
    """
    taken = {n.lower() for n in (partition_by, *INTERNAL_COLUMNS)}
    return any(n.lower() in taken or n.lower().startswith("_q") for n in names)


def source_record(names: Sequence[str]) -> SparkColumn:
    """A row's source record: its columns as one JSON object (nulls left out)."""
    return F.to_json(F.struct(*[F.col(f"`{c}`") for c in names]))


def typed_from_columns(
    df: DataFrame,
    columns: Sequence[Column],
    required: Sequence[str],
    keep: Sequence[str] = (),
    *,
    rebuild: bool = False,
) -> DataFrame:
    """Columnar source (csv, parquet, delta) -> schema types, with a reason per row.

    A value that does not convert to its column's type makes the row
    ``wrong_type`` (never a silent null in silver); a required column that is
    null or absent makes it ``missing_field``. ``keep`` columns pass through.
    The source record (``RECORD``) is kept for every row, unless the caller
    will ``rebuild`` it and typing changes no column (:func:`carried_unchanged`):
    then only for the rows refused here (the caller rebuilds any other's with
    :func:`source_record`).
    """
    present = set(df.columns)
    typed: list[SparkColumn] = []
    wrong: list[tuple[SparkColumn, str]] = []
    for c in columns:
        if c.name not in present:
            typed.append(F.lit(None).cast(c.data_type).alias(c.name))
            continue
        source_type = df.schema[c.name].dataType
        value = F.col(c.name) if source_type == c.data_type else F.col(c.name).try_cast(c.data_type)
        typed.append(value.alias(c.name))
        if source_type != c.data_type:
            wrong.append((F.col(c.name).isNotNull() & value.isNull(), c.name))
    missing_list = _names_where(
        [(F.col(n).isNull(), n) if n in present else (F.lit(True), n) for n in required]
    )
    wrong_list = _names_where(wrong)
    record = source_record(df.columns)
    if rebuild and carried_unchanged(df, columns, keep) is not None:
        record = F.when((missing_list != "") | (wrong_list != ""), record)
    return df.select(
        *typed,
        *[F.col(f"`{c}`") for c in keep],
        F.when(missing_list != "", F.lit(MISSING))
        .when(wrong_list != "", F.lit(WRONG_TYPE))
        .alias(REASON),
        F.when(missing_list != "", F.concat(F.lit("missing: "), missing_list))
        .when(wrong_list != "", F.concat(F.lit("not of the declared type: "), wrong_list))
        .alias(DETAIL),
        record.alias(RECORD),
    )


def _names_where(conditions: list[tuple[SparkColumn, str]]) -> SparkColumn:
    if not conditions:
        return F.lit("")
    return F.concat_ws(",", *[F.when(cond, F.lit(name)) for cond, name in conditions])


# ---------------------------------------------------------------- prepare (pure)


def row_hash(names: Sequence[str]) -> SparkColumn:
    """A 64-bit hash of the named columns' values, nulls told apart by position."""
    return F.xxhash64(*[F.col(n) for n in names], F.array(*[F.col(n).isNull() for n in names]))


def refuse_other_dates(df: DataFrame, event_time: str, day: date | SparkColumn) -> DataFrame:
    """Valid rows whose event time is not on ``day`` get ``reason = outside_date``.

    ``day`` is a date, or a column holding each row's logical date (a load
    of several dates at once).
    """
    day_col = F.lit(day) if isinstance(day, date) else day
    other = F.col(REASON).isNull() & (F.to_date(F.col(event_time)) != day_col)
    detail = F.concat(
        F.lit(f"{event_time} not on "),
        day_col.cast("string"),
        F.lit(": "),
        F.col(event_time).cast("string"),
    )
    return df.withColumn(
        REASON, F.when(other, F.lit(OUTSIDE_DATE)).otherwise(F.col(REASON))
    ).withColumn(DETAIL, F.when(other, detail).otherwise(F.col(DETAIL)))


def mark_duplicates(
    df: DataFrame,
    keys: Sequence[str],
    order_by: str | None,
    business: Sequence[str],
    within: Sequence[str] = (),
) -> DataFrame:
    """Among valid rows of one key, all but the newest get ``reason = duplicate``.

    Newest = largest ``order_by`` (nulls last), then largest row hash: the
    same input in any order gives the same winner. ``within``: more columns
    that tell groups apart (the logical date, when several load at once).
    """
    ordering = [F.col(order_by).desc_nulls_last()] if order_by else []
    ordering.append(F.col(ROW_HASH).desc())
    valid = F.col(REASON).isNull()
    # refused rows rank apart: a refused row of a key never outranks its valid rows
    groups = [*[F.col(k) for k in (*keys, *within)], valid]
    window = Window.partitionBy(*groups).orderBy(*ordering)
    rank = F.when(valid, F.row_number().over(window))
    return (
        df.withColumn(ROW_HASH, row_hash(business))
        .withColumn("_rank", rank)
        .withColumn(
            REASON, F.when(valid & (F.col("_rank") > 1), F.lit(DUPLICATE)).otherwise(F.col(REASON))
        )
        .drop("_rank")
    )


LOGICAL_DATE = "_logical_date"  # which date's source a row came from (multi-date loads)
SOURCE = "_source"  # where a quarantined row's date was read from
# columns a load adds to (or overwrites in) the rows it prepares; rule flags are "_q*"
INTERNAL_COLUMNS = (LOGICAL_DATE, SOURCE, ROW_HASH, EXTRA, REASON, DETAIL, RECORD, *AUDIT_COLUMNS)


def prepare(
    source: SourceFrame,
    pipeline: Pipeline,
    day: date | SparkColumn,
    run_id: str | SparkColumn | None,
    extra: Sequence[str] = (),
    within: Sequence[str] = (),
) -> DataFrame:
    """Source rows -> rows ready for silver (reason null) or for the quarantine.

    For several dates at once, ``day`` is a column and ``within`` names the
    logical-date column, so each date is deduplicated on its own, exactly as
    if it were loaded alone. ``run_id`` None: no audit columns yet (add them
    with :func:`with_audit` where the rows are written).
    """
    business = [c.name for c in pipeline.columns]
    order_by = pipeline.silver.order_by if pipeline.silver else None
    df = source.df
    if source.json_keys:  # the new keys' values, as text (schema evolution only)
        df = df.select(
            *df.columns,
            *[F.get_json_object(F.col(RECORD), f"$.{name}").alias(name) for name in extra],
        )
    prepared = (
        df.transform(refuse_other_dates, pipeline.event_time, day)
        .withColumn(pipeline.partition_by, F.to_date(F.col(pipeline.event_time)))
        .transform(mark_duplicates, pipeline.keys, order_by, [*business, *extra], within)
    )
    return prepared if run_id is None else with_audit(prepared, run_id)


def with_audit(df: DataFrame, run_id: str | SparkColumn) -> DataFrame:
    """``df`` with the audit columns: when the row was loaded, by which run."""
    return df.withColumn(LOADED_AT, F.current_timestamp()).withColumn(
        RUN_ID, run_id if isinstance(run_id, SparkColumn) else F.lit(run_id)
    )


def per_date(day: SparkColumn, values: Mapping[date, str]) -> SparkColumn:
    """The value of each row's date, from a small literal map (one date: a literal)."""
    if len(values) == 1:
        return F.lit(next(iter(values.values())))
    pairs = [x for d, v in sorted(values.items()) for x in (F.lit(d), F.lit(v))]
    return F.element_at(F.create_map(*pairs), day)


def silver_schema(pipeline: Pipeline) -> T.StructType:
    """The silver table: schema columns, the partition column, the audit columns."""
    fields = list(to_struct(pipeline.columns).fields)
    if pipeline.partition_by not in {f.name for f in fields}:
        fields.append(T.StructField(pipeline.partition_by, T.DateType(), True))
    fields += [
        T.StructField(LOADED_AT, T.TimestampType(), False),
        T.StructField(RUN_ID, T.StringType(), False),
    ]
    return T.StructType(fields)


def silver_columns(pipeline: Pipeline, extra: Sequence[str] = ()) -> list[str]:
    """Column order of what is written to silver."""
    names = [f.name for f in silver_schema(pipeline).fields]
    return [*names[: -len(AUDIT_COLUMNS)], *extra, *AUDIT_COLUMNS]


# ---------------------------------------------------------------- schema checks


def check_schema(
    spark: SparkSession,
    pipeline: Pipeline,
    silver_path: str,
    prepared: DataFrame,
    extra: Sequence[str],
    location: str,
) -> None:
    """Refuse (exit 2) new source columns unless schema evolution is on, and type changes."""
    evolve = bool(pipeline.silver and pipeline.silver.schema_evolution)
    bad = [n for n in extra if not IDENTIFIER.fullmatch(n)]
    if bad:
        raise SchemaDriftError(
            f"source {location} has columns that are not plain identifiers: {', '.join(bad)}"
        )
    if extra and not evolve:
        raise SchemaDriftError(
            f"source {location} has columns not in the pipeline schema: {', '.join(sorted(extra))}"
            " (add them to `schema`, or set silver.schema_evolution: true)"
        )
    if not DeltaTable.isDeltaTable(spark, silver_path):
        return
    target = {f.name: f.dataType for f in spark.read.format("delta").load(silver_path).schema}
    changed = [
        f"{f.name} ({target[f.name].simpleString()} in silver, {f.dataType.simpleString()} now)"
        for f in prepared.select(*silver_columns(pipeline, extra)).schema.fields
        if f.name in target and target[f.name] != f.dataType
    ]
    if changed:
        raise SchemaDriftError(f"column types changed: {'; '.join(changed)}")


# ---------------------------------------------------------------- write


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


def _t(name: str) -> SparkColumn:
    return F.col(f"t.`{name}`")


def _s(name: str) -> SparkColumn:
    return F.col(f"s.`{name}`")


def _day_fingerprints(
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


ACTION = "_action"
INSERT, UPDATE, DELETE = "insert", "update", "delete"


class PlannedOnStaleSnapshot(TransientError):
    """Another writer of these dates committed between planning a MERGE and committing it."""

    committed: MergeResult | None = None  # what our MERGE did, when it had committed


def _days_filter(column: SparkColumn, days: Sequence[date]) -> SparkColumn:
    return column == F.lit(days[0]) if len(days) == 1 else column.isin(list(days))


def changes(
    spark: SparkSession,
    path: str,
    version: int,
    rows: DataFrame,
    pipeline: Pipeline,
    days: Sequence[date],
    *,
    extra: Sequence[str] = (),
) -> DataFrame:
    """Source rows that change the dates at ``version``, each with its ``_action``.

    ``insert``: the key is not in its date's partition; ``update`` (mode
    ``merge``): a business column differs (null-safe); ``delete``
    (``delete_missing``): a date's partition has a key its source lacks.
    Unchanged rows are left out, so the MERGE that applies this touches only
    the files holding a changed row: a re-run of the same data rewrites
    nothing (a condition in the matched clause alone does not prevent the
    rewrite once an insert clause is present).
    """
    silver = pipeline.silver
    assert silver is not None
    part = pipeline.partition_by
    keys = list(pipeline.keys)
    target = (
        spark.read.format("delta")
        .option("versionAsOf", version)
        .load(path)
        .where(_days_filter(F.col(part), days))
    )
    present = set(target.columns)
    compared = [*[c.name for c in pipeline.columns if c.name not in keys], *extra]
    same = reduce(
        lambda a, b: a & b,
        [(_t(n) if n in present else F.lit(None)).eqNullSafe(_s(n)) for n in compared],
        F.lit(True),
    )
    in_s = _s(keys[0]).isNotNull()  # keys are never null in either side
    in_t = _t(keys[0]).isNotNull()
    action = F.when(in_s & ~in_t, F.lit(INSERT))
    if silver.mode == "merge":
        action = action.when(in_s & in_t & ~same, F.lit(UPDATE))
        if silver.delete_missing:
            action = action.when(~in_s & in_t, F.lit(DELETE))
    carried = set(keys) | {part}
    columns = silver_columns(pipeline, extra)
    on = key_condition(keys) & (_t(part) == _s(part))
    return (
        rows.alias("s")
        .join(target.alias("t"), on, "full_outer")
        .select(
            *[
                F.coalesce(_s(n), _t(n)).alias(n) if n in carried else _s(n).alias(n)
                for n in columns
            ],
            action.alias(ACTION),
        )
        .where(F.col(ACTION).isNotNull())
    )


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

    One commit for all ``days`` (or none, when nothing changes). ``merge``
    and ``insert_if_absent`` first compute the changes against one table
    version, then apply them with one MERGE. A concurrent commit Delta sees
    raises a conflict; one that landed between planning and the MERGE's
    start (and may concern these dates) makes the load plan again. Either
    way the attempt is retried with backoff (``silver.retry``), and the last
    plan wins, as in a serial run.

    ``spark`` must be a session of its own (``SparkSession.newSession()``):
    the MERGE's ``userMetadata`` is a session setting, set and cleared here.
    """
    silver = pipeline.silver
    assert silver is not None
    part = pipeline.partition_by
    business = [c.name for c in pipeline.columns]
    days = sorted(days)
    attempts = 0
    replanned: list[MergeResult] = []  # commits made on a stale plan, then planned again

    def once() -> dict[date, LoadCounts]:
        nonlocal attempts
        attempts += 1
        try:
            return attempt()
        except PlannedOnStaleSnapshot as exc:
            if exc.committed is not None:
                replanned.append(exc.committed)
            raise

    def attempt() -> dict[date, LoadCounts]:
        if silver.mode == "replace_partition":
            return _replace(spark, path, rows, pipeline, days, business, metadata, source_rows)
        version = table_version(spark, path)
        if _days_are_empty(spark, path, version, part, days):
            return _insert_into_empty(
                spark, path, version, rows, pipeline, days, metadata, extra, source_rows
            )
        planned = materialize(changes(spark, path, version, rows, pipeline, days, extra=extra))
        try:
            actions = _count_actions(planned, part)
            counts = _counts_from_actions(actions, days, source_rows)
            if not actions:
                return counts
            on = (
                key_condition(pipeline.keys) & (_t(part) == _s(part)) & _days_filter(_t(part), days)
            )
            values = {n: _s(n) for n in silver_columns(pipeline, extra)}
            builder = DeltaTable.forPath(spark, path).alias("t").merge(planned.alias("s"), on)
            if silver.mode == "merge":  # insert_if_absent never touches a row that is there
                builder = builder.whenMatchedDelete(
                    condition=_s(ACTION) == F.lit(DELETE)
                ).whenMatchedUpdate(condition=_s(ACTION) != F.lit(DELETE), set=values)
            builder = builder.whenNotMatchedInsert(
                condition=_s(ACTION) != F.lit(DELETE), values=values
            )
            merged = _execute_merge(spark, builder, pipeline, metadata, materialized=True)
        finally:
            release(planned)
        committed = _check_planned_on_latest(
            spark, path, version, metadata, pipeline.name, days, merged
        )
        for c in counts.values():
            c.version = committed
        return counts

    result = retry(
        once,
        silver.retry.backoff(),
        retryable=_retry_in_load,
        on_retry=lambda n, exc, delay: log.warning(
            "silver commit for %s lost to a concurrent writer (%s); retry %d in %.1fs",
            ", ".join(d.isoformat() for d in days),
            type(exc).__name__,
            n,
            delay,
        ),
    )
    if silver.mode == "replace_partition" and any(not c.skipped_write for c in result.values()):
        version = _version_of(spark, path, metadata)
        for c in result.values():
            c.version = None if c.skipped_write else version
    for c in result.values():
        c.attempts = attempts
        c.add_replanned(replanned, alone=len(days) == 1)
        if not (c.inserted or c.updated or c.deleted):
            c.version = None
    return result


def _retry_in_load(exc: BaseException) -> bool:
    """Worth another write attempt inside this load: transient, and the held rows
    are still there (lost ones make the whole load transient: prepared again)."""
    return is_transient(exc) and not held_rows_lost(exc)


def _check_planned_on_latest(
    spark: SparkSession,
    path: str,
    planned_at: int,
    metadata: str,
    pipeline: str,
    days: Sequence[date],
    merged: MergeResult | None = None,
) -> int | None:
    """Raise :class:`PlannedOnStaleSnapshot` (carrying ``merged``, what our MERGE
    committed) when a commit between planning and the MERGE
    may have touched these dates (commits of this pipeline's other dates cannot);
    else return the version the MERGE committed. Reads every commit since ``planned_at``
    (however many), not a fixed window."""
    table = DeltaTable.forPath(spark, path)
    since = max(1, table_version(spark, path) - planned_at)
    history = table.history(since).select("version", "userMetadata")
    rows = sorted(history.collect(), key=lambda r: r["version"])
    ours = [r["version"] for r in rows if r["userMetadata"] == metadata]
    if not ours:
        return None
    wanted = {d.isoformat() for d in days}
    for r in rows:
        if not planned_at < r["version"] < ours[-1]:
            continue
        try:
            meta = json.loads(r["userMetadata"] or "null") or {}
        except ValueError:
            meta = {}
        theirs = _metadata_dates(meta) if meta.get("pipeline") == pipeline else None
        if theirs is None or theirs & wanted:
            stale = PlannedOnStaleSnapshot(
                f"version {r['version']} was committed while the load of "
                f"{', '.join(sorted(wanted))} was planned"
            )
            stale.committed = merged  # it committed: the next attempt builds on it
            raise stale
    return ours[-1]


MATERIALIZE_SOURCE_CONF = "spark.databricks.delta.merge.materializeSource"


def _execute_merge(
    spark: SparkSession,
    builder: Any,
    pipeline: Pipeline,
    metadata: str,
    *,
    materialized: bool = False,
) -> MergeResult:
    """Run a silver MERGE under the run's ``userMetadata`` (and schema evolution if set);
    returns its row counts.

    ``materialized``: the source comes from :func:`~lakehouse.lake.delta_io.materialize`
    (fixed rows already), so Delta need not copy it once more before its two
    passes (its guard against sources that change between them).
    """
    if pipeline.silver is not None and pipeline.silver.schema_evolution:
        builder = builder.withSchemaEvolution()
    settings = {USER_METADATA_CONF: metadata}
    if materialized:
        settings[MATERIALIZE_SOURCE_CONF] = "none"
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        return merge_result(builder.execute())
    finally:
        for key in settings:
            spark.conf.unset(key)


def _days_are_empty(
    spark: SparkSession, path: str, version: int, part: str, days: Sequence[date]
) -> bool:
    """True when the table has no data file for any of ``days`` at ``version``.

    Answered from the Delta log alone (partition pruning of the file list):
    no row is read.
    """
    snapshot = spark.read.format("delta").option("versionAsOf", version).load(path)
    return not snapshot.where(_days_filter(F.col(part), days)).inputFiles()


def _insert_into_empty(
    spark: SparkSession,
    path: str,
    version: int,
    rows: DataFrame,
    pipeline: Pipeline,
    days: Sequence[date],
    metadata: str,
    extra: Sequence[str],
    source_rows: Mapping[date, int],
) -> dict[date, LoadCounts]:
    """Load dates the table has no row of: every valid row is an insert.

    The common backfill case (a new table, history loaded for the first
    time) needs no change plan: one insert-only MERGE, which Delta runs as a
    single anti-join pass. It still reads the target, so a concurrent writer
    of the same keys cannot make it insert a key twice, and a commit that
    landed on these dates since ``version`` makes the load plan again (the
    next attempt then takes the planned path), as in :func:`write_silver`.
    """
    part = pipeline.partition_by
    counts = {d: LoadCounts(inserted=source_rows.get(d, 0)) for d in days}
    if not any(c.inserted for c in counts.values()):
        return counts
    on = key_condition(pipeline.keys) & (_t(part) == _s(part)) & _days_filter(_t(part), days)
    values = {n: _s(n) for n in silver_columns(pipeline, extra)}
    builder = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(rows.alias("s"), on)
        .whenNotMatchedInsert(values=values)
    )
    merged = _execute_merge(spark, builder, pipeline, metadata)
    committed = _check_planned_on_latest(
        spark, path, version, metadata, pipeline.name, days, merged
    )
    for c in counts.values():
        c.version = committed
    return counts


def _replace(
    spark: SparkSession,
    path: str,
    rows: DataFrame,
    pipeline: Pipeline,
    days: Sequence[date],
    business: Sequence[str],
    metadata: str,
    source_rows: Mapping[date, int],
) -> dict[date, LoadCounts]:
    part = pipeline.partition_by
    if not IDENTIFIER.fullmatch(part):  # the config loader checked it; never format anything else
        raise ConfigError(f"partition column {part!r} is not an identifier")
    current = spark.read.format("delta").load(path).where(_days_filter(F.col(part), days))
    before = _day_fingerprints(current, part, business)
    after = _day_fingerprints(rows, part, business)
    counts = {}
    changed = []
    for day in days:
        if before.get(day, (0, 0)) == after.get(day, (0, 0)):
            counts[day] = LoadCounts(unchanged=source_rows.get(day, 0), skipped_write=True)
        else:
            changed.append(day)
            counts[day] = LoadCounts(
                inserted=source_rows.get(day, 0), deleted=before.get(day, (0, 0))[0]
            )
    if changed:
        literals = ", ".join(f"DATE'{d.isoformat()}'" for d in changed)
        (
            rows.where(_days_filter(F.col(part), changed))
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"`{part}` IN ({literals})")
            .option("userMetadata", metadata)
            .option(
                "mergeSchema",
                str(bool(pipeline.silver and pipeline.silver.schema_evolution)).lower(),
            )
            .save(path)
        )
    return counts


def _version_of(spark: SparkSession, path: str, metadata: str) -> int | None:
    """The newest version this run committed (its userMetadata), if it committed one."""
    rows = DeltaTable.forPath(spark, path).history(20).select("version", "userMetadata").collect()
    versions = [int(r["version"]) for r in rows if r["userMetadata"] == metadata]
    return max(versions) if versions else None


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
    """What :func:`write_silver` would do, computed without writing (``--dry-run``)."""
    silver = pipeline.silver
    assert silver is not None
    days = sorted(days)
    if not DeltaTable.isDeltaTable(spark, path):
        return {d: LoadCounts(inserted=source_rows.get(d, 0), attempts=0) for d in days}
    part = pipeline.partition_by
    if silver.mode == "replace_partition":
        business = [c.name for c in pipeline.columns]
        current = spark.read.format("delta").load(path).where(_days_filter(F.col(part), days))
        before = _day_fingerprints(current, part, business)
        after = _day_fingerprints(rows, part, business)
        out = {}
        for d in days:
            if before.get(d, (0, 0)) == after.get(d, (0, 0)):
                out[d] = LoadCounts(unchanged=source_rows.get(d, 0), skipped_write=True, attempts=0)
            else:
                out[d] = LoadCounts(
                    inserted=source_rows.get(d, 0), deleted=before.get(d, (0, 0))[0], attempts=0
                )
        return out
    version = table_version(spark, path)
    actions = _count_actions(changes(spark, path, version, rows, pipeline, days, extra=extra), part)
    out = _counts_from_actions(actions, days, source_rows)
    for counts in out.values():
        counts.attempts = 0
    return out


def ensure_silver(spark: SparkSession, path: str, pipeline: Pipeline) -> None:
    """Create the silver table (partitioned by the date column) if it is not there."""
    ensure_table(spark, path, silver_schema(pipeline), partition_by=[pipeline.partition_by])


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
    new = _day_fingerprints(rejected, LOGICAL_DATE, content) if count else {}
    old: dict[date, tuple[int, int]] = {}
    if DeltaTable.isDeltaTable(spark, path):
        current = spark.read.format("delta").load(path)
        old = _day_fingerprints(
            current.where(_days_filter(F.col("logical_date"), days)), "logical_date", content
        )
    changed = [d for d in days if new.get(d, (0, 0)) != old.get(d, (0, 0))]
    if not changed:
        return  # the same rejects as last time (or none, as before): no commit
    ensure_table(spark, path, LOAD_QUARANTINE_SCHEMA, partition_by=["logical_date"])
    literals = ", ".join(f"DATE'{d.isoformat()}'" for d in changed)
    (
        rejected.where(_days_filter(F.col(LOGICAL_DATE), changed))
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


def silver_location(settings: Settings, pipeline: Pipeline) -> str:
    """The pipeline's silver table path."""
    if pipeline.silver is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `silver` table", key="silver")
    return settings.table_path(pipeline.silver.table, pipeline.silver.path)


# ---------------------------------------------------------------- dates, end to end


def _day_end(day: date) -> datetime:
    """Midnight UTC after ``day``: the clock a date's source is judged by."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)


def _quality_history(
    spark: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    days: Sequence[date],
    published: Callable[[date, QualityReport], bool],
) -> HistoryOf | None:
    """Rows checked by earlier successful loads, newest first, per date being loaded.

    A date's history is what the ledger would hold had the dates of the group
    been loaded one at a time, in date order: the counts of the group's
    earlier dates that ``published`` says are written (newest first; they
    replace older runs of those dates), then the ledger's. None without a
    ``row_count_change`` rule.
    """
    window = max_window(pipeline.quality)
    if not window:
        return None
    recent = recent_checked_counts(
        snapshot(spark, settings.ledger_path),
        job="batch_load",
        pipeline=pipeline.name,
        limit=window + len(days),
    )

    def history(day: date, earlier: Mapping[date, QualityReport]) -> list[int]:
        loaded = [(d, r.rows_checked) for d, r in sorted(earlier.items()) if published(d, r)]
        replaced = {d for d, _ in loaded}
        runs = [*reversed(loaded), *[(d, n) for d, n in recent if d not in replaced]]
        return history_for(runs, day, window)

    return history


def _record_of(day: SparkColumn, frames: Mapping[date, SourceFrame]) -> SparkColumn:
    """Each row's source record: kept, or rebuilt from the row (see ``record_columns``)."""
    rebuilt = {d: f.record_columns for d, f in frames.items() if f.record_columns is not None}
    if not rebuilt:
        return F.col(RECORD)
    layouts = {tuple(cols) for cols in rebuilt.values()}
    if len(layouts) == 1 and len(rebuilt) == len(frames):  # one layout for every date
        return F.coalesce(F.col(RECORD), source_record(next(iter(layouts))))
    return F.coalesce(
        F.col(RECORD),
        *[F.when(day == F.lit(d), source_record(cols)) for d, cols in sorted(rebuilt.items())],
    )


Report = Callable[[str], None]  # where a load's lines for a person go


def quiet(line: str) -> None:
    """The default :data:`Report`: domain code prints nothing itself."""


class NothingToLoadError(LakehouseError):
    """Every source row was refused, and the mode would have emptied the day."""


def source_kind(pipeline: Pipeline, asked: str | None) -> str:
    """bronze or files: what was asked, else bronze when the pipeline has one."""
    kind = asked or ("bronze" if pipeline.bronze is not None else "files")
    if kind == "bronze" and pipeline.bronze is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `bronze` table", key="bronze")
    if kind == "files" and pipeline.source.files is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `source.files`", key="source.files")
    return kind


def load_date(
    session: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    day: date,
    run_id: str,
    *,
    source: str | None = None,
    dry_run: bool = False,
    tell: Report = quiet,
) -> Outcome:
    """Load one date (``batch_load``); raises what made it fail."""
    result = load_dates(
        session,
        settings,
        pipeline,
        [day],
        {day: run_id},
        source=source,
        dry_run=dry_run,
        tell=tell,
    )[day]
    if isinstance(result, BaseException):
        raise result
    return result


def load_dates(
    session: SparkSession,
    settings: Settings,
    pipeline: Pipeline,
    days: Sequence[date],
    run_ids: Mapping[date, str],
    *,
    source: str | None = None,
    dry_run: bool = False,
    group_run_id: str | None = None,
    tell: Report = quiet,
) -> dict[date, Outcome | BaseException]:
    """Load several dates in one pass and one commit, each exactly as if it were alone.

    Each date keeps its own source, refusals, deduplication, counts and
    Outcome (or the exception that failed it: a missing source, nothing
    valid to replace the day with). A failure of the whole pass (schema
    drift, a conflict after the retries) raises. Safe to call from several
    threads at once: each call works in a session of its own. ``tell``
    gets a line per date for a person (the jobs print it; the default drops it).
    """
    began = time.monotonic()
    silver = pipeline.silver
    if silver is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `silver` table", key="silver")
    kind = source_kind(pipeline, source)
    # a session of its own: the MERGE's userMetadata is a session setting
    spark = session.newSession()
    target = silver_location(settings, pipeline)
    base: dict[str, Any] = {"mode": silver.mode, "source_kind": kind, "target": target}
    results: dict[date, Outcome | BaseException] = {}

    def missing(day: date) -> None:
        where = (
            f"{bronze_location(settings, pipeline)} ({pipeline.partition_by}={day.isoformat()})"
            if kind == "bronze"
            else files_location(settings, pipeline, day)
        )
        message = f"no {kind} source for {day.isoformat()}: {where} is missing or empty"
        if silver.on_missing_source == "skip":
            tell(f"batch_load {pipeline.name} {day}: skipped ({message})")
            results[day] = Outcome(
                status="skipped", message=message, details={**base, "source": where}
            )
        else:
            results[day] = MissingSourceError(f"{message} (on_missing_source: fail)")

    frames: dict[date, SourceFrame] = {}
    ordered = sorted(days)
    # opening a source lists its files and reads their schema on the driver: for
    # many dates, several at once (a thread each; a session is thread-safe)
    opener = inheritable_thread_target(spark)(  # the caller's scheduler pool and job group
        lambda d: read_source(spark, settings, pipeline, d, kind)
    )
    with ThreadPoolExecutor(min(SOURCE_READERS, len(ordered)) or 1) as pool:
        opened = list(pool.map(opener, ordered))
    for day, frame in zip(ordered, opened, strict=True):
        if frame is None:
            missing(day)
        else:
            frames[day] = frame
    if not frames:
        return results

    union = None
    for day, frame in frames.items():
        df = frame.df.withColumn(LOGICAL_DATE, F.lit(day))
        union = df if union is None else union.unionByName(df, allowMissingColumns=True)
    assert union is not None
    first = next(iter(frames.values()))
    combined = SourceFrame(
        union,
        first.location if len(frames) == 1 else f"{len(frames)} dates",
        kind,
        extra_columns=sorted({c for f in frames.values() for c in f.extra_columns}),
        json_keys=first.json_keys,
    )
    day_col = F.col(LOGICAL_DATE)
    # per-date values that need not travel through the shuffles: added where written
    run_col = per_date(day_col, {d: run_ids[d] for d in frames})
    source_col = per_date(day_col, {d: f.location for d, f in frames.items()})
    record_col = _record_of(day_col, frames)

    rules = RuleSet(pipeline.quality, keys=pipeline.keys, event_time=pipeline.event_time)
    if rules:  # checked against the data's columns before a row is read (exit 2)
        rules.validate(
            T.StructType(
                [f for f in silver_schema(pipeline).fields if f.name not in AUDIT_COLUMNS]
            ),
            spark,
        )

    def prepared_with(extra: Sequence[str]) -> DataFrame:
        df = prepare(combined, pipeline, day_col, None, extra, within=[LOGICAL_DATE])
        if not rules:
            return df
        return rules.flag(df, group_by=[LOGICAL_DATE], only=F.col(REASON).isNull())

    # computed once: the counts, the rules, the quarantine and the MERGE all read it
    prepared = materialize(prepared_with(()))
    try:
        stats: dict[date, dict[str | None, int]] = {}
        for row in prepared.groupBy(LOGICAL_DATE, REASON).count().collect():
            stats.setdefault(row[LOGICAL_DATE], {})[row[REASON]] = int(row["count"])
        for day in [d for d in frames if d not in stats]:  # a source without a single row
            missing(day)
            del frames[day]
        if not frames:
            return results
        extra = list(combined.extra_columns)
        if combined.json_keys:
            extra = sorted(
                r[0] for r in prepared.select(F.explode(EXTRA)).distinct().collect() if r[0]
            )
            if extra and silver.schema_evolution:  # carry the new keys' values along
                release(prepared)
                prepared = materialize(prepared_with(extra))
        where = ", ".join(f.location for f in frames.values())
        check_schema(spark, pipeline, target, with_audit(prepared, run_col), extra, where)

        empties_day = silver.mode == "replace_partition" or silver.delete_missing

        def published(day: date, report: QualityReport) -> bool:
            """Whether ``day`` ends written, a successful load (as decided below)."""
            kept = stats[day].get(None, 0) - report.rows_dropped - report.rows_quarantined
            return not dry_run and not report.gate_failed and (kept > 0 or not empties_day)

        reports: dict[date, QualityReport] = {}
        if rules:
            reports = rules.evaluate(
                prepared,
                group_by=[LOGICAL_DATE],
                history=_quality_history(spark, settings, pipeline, list(stats), published),
                # a date's source is judged as of the end of that date, not today
                now={d: _day_end(d) for d in stats},
            )
        valid: dict[date, int] = {}
        duplicates: dict[date, int] = {}
        refused: dict[date, dict[str, int]] = {}
        writing: list[date] = []
        for day, by_reason in stats.items():
            by_reason = dict(by_reason)
            valid[day] = by_reason.pop(None, 0)
            duplicates[day] = by_reason.pop(DUPLICATE, 0)
            refused[day] = {str(k): v for k, v in by_reason.items()}
            report = reports.get(day)
            if report is not None:
                valid[day] -= report.rows_dropped + report.rows_quarantined
                if report.rows_quarantined:
                    refused[day][QUALITY_REASON] = report.rows_quarantined
                if report.gate_failed:
                    where = "would go" if dry_run else "are"
                    results[day] = QualityGateError(
                        f"{day.isoformat()}: {report.message()} (nothing written to "
                        f"{silver.table}; the rows {where} in the {pipeline.name}_loads quarantine)"
                    )
                    continue
            if valid[day] == 0 and empties_day:
                results[day] = NothingToLoadError(
                    f"no valid rows for {day.isoformat()} in {frames[day].location} "
                    f"({sum(refused[day].values())} refused: {refused[day]}); not emptying the day"
                )
            else:
                writing.append(day)

        in_writing = _days_filter(day_col, writing)
        publish = F.col(REASON).isNull()
        if rules:
            publish = publish & ~F.col(rules.MOVE) & ~F.col(rules.DROP)
        rows = with_audit(prepared.filter(publish & in_writing), run_col).select(
            *silver_columns(pipeline, extra)
        )
        the_run = group_run_id or run_ids[(writing or sorted(stats))[0]]
        metadata = commit_metadata(the_run, pipeline, writing, silver.mode)
        if dry_run:
            counts = (
                plan_changes(spark, target, rows, pipeline, writing, extra=extra, source_rows=valid)
                if writing
                else {}
            )
        else:
            counted = sorted(stats)  # a fully refused date's rejects are kept too
            rejected = prepared
            if rules:  # rows of quarantine/fail rules, named by the rules they broke
                moved = F.col(REASON).isNull() & F.col(rules.MOVE)
                rejected = rejected.withColumn(
                    DETAIL,
                    F.when(
                        moved, F.concat(F.lit("rules: "), F.array_join(rules.broken_names(), ", "))
                    ).otherwise(F.col(DETAIL)),
                ).withColumn(REASON, F.when(moved, F.lit(QUALITY_REASON)).otherwise(F.col(REASON)))
            retry(
                lambda: write_load_quarantine(
                    spark,
                    settings.load_quarantine_path(pipeline.name),
                    with_audit(
                        rejected.filter(
                            F.col(REASON).isNotNull()
                            & (F.col(REASON) != DUPLICATE)
                            & _days_filter(day_col, counted)
                        ).withColumn(RECORD, record_col),
                        run_col,
                    ).withColumn(SOURCE, source_col),
                    counted,
                    count=sum(sum(refused[d].values()) for d in counted),
                ),
                silver.retry.backoff(),
                retryable=_retry_in_load,
            )
            counts = {}
            if writing:
                ensure_silver(spark, target, pipeline)
                counts = write_silver(
                    spark,
                    target,
                    rows,
                    pipeline,
                    writing,
                    metadata=metadata,
                    extra=extra,
                    source_rows=valid,
                )
            if reports:  # after silver: a load retried after a failed write does not count twice
                checked_at = datetime.now(timezone.utc)
                write_results(
                    spark,
                    settings.quality_path,
                    [
                        row
                        for d in counted
                        if d in reports
                        for row in result_rows(
                            reports[d],
                            run_id=run_ids[d],
                            job="batch_load",
                            pipeline=pipeline.name,
                            logical_date=d,
                            checked_at=checked_at,
                        )
                    ],
                )
    finally:
        release(prepared)

    elapsed = time.monotonic() - began
    for day in writing:
        c = counts[day]
        rejected = sum(refused[day].values())
        tell(
            summary(
                pipeline.name,
                day,
                silver.mode,
                c,
                duplicates[day],
                refused[day],
                elapsed,
                dry_run=dry_run,
                quality=reports.get(day),
            )
        )
        results[day] = Outcome(
            status="dry_run" if dry_run else "success",
            rows_in=sum(stats[day].values()),  # every source row of the date
            rows_out=0 if dry_run else c.inserted + c.updated,
            rows_quarantined=0 if dry_run else rejected,
            details={
                **base,
                "source": frames[day].location,
                "source_state": frames[day].state,
                **c.as_dict(),
                "valid_rows": valid[day],
                "duplicates_in_source": duplicates[day],
                "quarantined_by_reason": refused[day],
                "new_columns": extra,
                **({"quality": reports[day].summary()} if day in reports else {}),
                "dry_run": bool(dry_run),
                "user_metadata": metadata,
                "loaded_with": [d.isoformat() for d in writing],
            },
        )
    return results


def summary(
    pipeline: str,
    day: date,
    mode: str,
    counts: LoadCounts,
    duplicates: int,
    refused: dict[str, int],
    elapsed: float,
    *,
    dry_run: bool,
    quality: QualityReport | None = None,
) -> str:
    """The one human line a load prints per date (before the job's JSON record)."""
    verb = "would insert" if dry_run else "inserted"
    checked = ""
    if quality is not None:
        broken = ", ".join(f"{r.rule} {r.rows_failed or 'failed'}" for r in quality.broken)
        checked = f"; quality: {len(quality.results)} rules, broken: {broken or 'none'}"
    refused_text = ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "none"
    tail = " (day already identical: nothing written)" if counts.skipped_write else ""
    version = f", version {counts.version}" if counts.version is not None else ""
    return (
        f"batch_load {pipeline} {day.isoformat()} [{mode}]: {verb} {counts.inserted}, "
        f"updated {counts.updated}, deleted {counts.deleted}, unchanged {counts.unchanged}; "
        f"{duplicates} source duplicates dropped, refused: {refused_text}{checked}{version}; "
        f"{elapsed:.1f}s{tail}"
    )

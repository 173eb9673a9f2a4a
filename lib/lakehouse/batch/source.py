"""Where a date's rows come from: bronze's partition or landed files, typed, with a reason.

Owns the source side of a batch load: which kind of source a date is read
from (:func:`source_kind`), what it is made of now
(:func:`source_state`, which makes a date due again when it changes), and
reading it as a :class:`SourceFrame` whose every row keeps a reason (null
when valid) and, for files, its original text for the quarantine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.columns import EXTRA, LOAD_INTERNAL_COLUMNS, RECORD
from lakehouse.core.ddl import Column
from lakehouse.core.errors import ConfigError
from lakehouse.decode.events import (
    DETAIL,
    MISSING,
    RAW_VALUE,
    REASON,
    WRONG_TYPE,
    fields_outside,
    parse_events,
)
from lakehouse.decode.events import required_fields as event_required_fields
from lakehouse.lake import fs
from lakehouse.lake.tables import PipelineTables


def source_kind(pipeline: Pipeline, asked: str | None) -> str:
    """bronze or files: what was asked, else bronze when the pipeline has one."""
    kind = asked or ("bronze" if pipeline.bronze is not None else "files")
    if kind == "bronze" and pipeline.bronze is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `bronze` table", key="bronze")
    if kind == "files" and pipeline.source.files is None:
        raise ConfigError(f"pipeline {pipeline.name} has no `source.files`", key="source.files")
    return kind


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
        location = PipelineTables(settings, pipeline).bronze
        if not DeltaTable.isDeltaTable(spark, location):
            return None
        table = spark.read.format("delta").load(location)
        parts = sorted(table.where(F.col(pipeline.partition_by) == day).inputFiles())
    else:
        location = PipelineTables(settings, pipeline).files(day)
        parts = [f"{p}|{size}|{mtime}" for p, size, mtime in fs.list_files(spark, location)]
        if not parts and not fs.exists(spark, location):
            return None
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{len(parts)}:{digest}"


def required_columns(pipeline: Pipeline) -> list[str]:
    """Columns a row must carry: NOT NULL columns, keys, the event time."""
    return event_required_fields(pipeline.columns, pipeline.keys, pipeline.event_time)


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
        location = PipelineTables(settings, pipeline).bronze
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
    location = PipelineTables(settings, pipeline).files(day)
    if not fs.exists(spark, location):
        return None
    files = pipeline.source.files
    assert files is not None  # PipelineTables.files checked it
    if files.format == "json":
        raw = spark.read.options(**files.options).text(location)
        df = (
            raw.select(F.col("value").alias(RAW_VALUE))
            .transform(parse_events, columns, required_columns(pipeline))
            .withColumn(EXTRA, fields_outside(columns))
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
    taken = {n.lower() for n in (partition_by, *LOAD_INTERNAL_COLUMNS)}
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


def record_of(day: SparkColumn, frames: Mapping[date, SourceFrame]) -> SparkColumn:
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

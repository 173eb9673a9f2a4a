"""Pure steps from typed source rows to rows ready for silver, and the silver shape.

Rows of another date are refused, the partition column is derived, keys are
deduplicated (the newest row by ``silver.order_by`` wins; ties go to the
larger row hash, so the winner never depends on file order), audit columns
are added where the rows are written. Also owns what silver looks like
(:func:`silver_schema`, :func:`silver_columns`) and the check that a source
still fits it (:func:`check_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.batch.source import SourceFrame
from lakehouse.config.model import IDENTIFIER, Pipeline
from lakehouse.core.columns import (
    AUDIT_COLUMNS,
    DUPLICATE,
    LOADED_AT,
    OUTSIDE_DATE,
    RECORD,
    ROW_HASH,
    RUN_ID,
)
from lakehouse.core.ddl import to_struct
from lakehouse.core.errors import SchemaDriftError
from lakehouse.decode.events import DETAIL, REASON


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

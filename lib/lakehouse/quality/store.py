"""The results table ``_ops/quality``: its schema, its rows, its one append.

A report becomes one row per rule (:func:`result_rows`); a job appends them
once per run and date (:func:`write_results`, idempotent on retry); the
``row_count_change`` rule reads its history back from the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.quality.report import QualityReport

QUALITY_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("job", T.StringType(), False),
        T.StructField("pipeline", T.StringType(), True),
        T.StructField("logical_date", T.DateType(), True),
        T.StructField("checked_at", T.TimestampType(), False),
        T.StructField("rule", T.StringType(), False),
        T.StructField("kind", T.StringType(), False),
        T.StructField("severity", T.StringType(), False),
        T.StructField("level", T.StringType(), False),
        T.StructField("rows_checked", T.LongType(), False),
        T.StructField("rows_failed", T.LongType(), True),
        T.StructField("passed", T.BooleanType(), False),
        T.StructField("samples", T.ArrayType(T.StringType()), True),
        T.StructField("detail", T.StringType(), True),
    ]
)


def result_rows(
    report: QualityReport,
    *,
    run_id: str,
    job: str,
    pipeline: str | None,
    logical_date: date | None,
    checked_at: datetime,
) -> list[tuple]:
    """Rows of ``_ops/quality`` (QUALITY_SCHEMA order) for one report."""
    stamp = checked_at.astimezone(timezone.utc).replace(tzinfo=None)
    return [
        (
            run_id,
            job,
            pipeline,
            logical_date,
            stamp,
            r.rule,
            r.kind,
            r.severity,
            r.level,
            r.rows_checked,
            r.rows_failed,
            r.passed,
            list(r.samples),
            r.detail,
        )
        for r in report.results
    ]


def write_results(spark: SparkSession, path: str, rows: Sequence[tuple]) -> None:
    """Append result rows to the quality table (one append; creation race-safe).

    An idempotent write (``txnAppId`` from the first row's job, run id and
    logical date and a digest of every row, ``txnVersion`` 0): a retry after
    a commit that landed, or the same rows written again, is skipped.
    """
    if not rows:
        return
    from lakehouse.core.retry import Backoff, retry
    from lakehouse.lake.delta_io import ONCE_APPEND_PROPERTIES, append_once_options, ensure_table

    run_id, job, _, day = rows[0][:4]
    once = append_once_options("quality", f"{job}:{run_id}:{day}", rows)

    def append() -> None:
        ensure_table(spark, path, QUALITY_SCHEMA, properties=ONCE_APPEND_PROPERTIES)
        frame = spark.createDataFrame(list(rows), QUALITY_SCHEMA).coalesce(1)
        frame.write.format("delta").mode("append").options(**once).save(path)

    retry(append, Backoff(attempts=5, base_delay=0.2, max_delay=5.0))


def history_for(
    recent: Sequence[tuple[date | None, int]], day: date | None, window: int
) -> list[int]:
    """The ``window`` newest counts, leaving out runs of ``day`` (a re-run is not
    compared with itself)."""
    return [n for d, n in recent if day is None or d != day][:window]

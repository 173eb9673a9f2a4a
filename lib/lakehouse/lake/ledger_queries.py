"""Every question the jobs ask of the run ledger (``_ops/runs``), in one place.

Each function takes a snapshot of the ledger (:func:`snapshot`; None when no
run was recorded yet), so a caller asking several questions reads one
version of the table. Writing the ledger is :class:`lakehouse.lake.ledger.Ledger`'s.

Who asks what:

- backfill: which dates were loaded, under this pipeline fingerprint, from
  which source state (:func:`loaded_dates`), and the span loaded so far
  (:func:`loaded_span`);
- batch_load's ``row_count_change`` rule: rows checked by recent loads
  (:func:`recent_checked_counts`);
- the SLA verdict: did this job already succeed for this date
  (:func:`succeeded_before`);
- health: the runs in a window (:func:`runs_between`), where each job's
  deadlines start (:func:`first_dates`) and when each date first succeeded
  (:func:`first_successes`);
- the cluster-mode launcher: one run by id (:func:`latest_row_of_run`);
- maintain: where its last run closed partitions (:func:`recent_success_details`).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.core.clock import as_utc, naive_utc
from lakehouse.lake.delta_io import read_if_exists


def snapshot(spark: SparkSession, path: str) -> DataFrame | None:
    """The ledger as it is now, or None if no run was recorded yet."""
    return read_if_exists(spark, path)


def _successes_of(ledger: DataFrame, job: str, pipeline: str):
    return ledger.where(
        (F.col("job") == job) & (F.col("pipeline") == pipeline) & (F.col("status") == "success")
    )


def loaded_dates(
    ledger: DataFrame | None, job: str, pipeline: str, fingerprint: str, kind: str | None = None
) -> dict[date, str | None]:
    """Dates with a successful ``job`` run under this pipeline fingerprint (and source
    kind, when given), each with the source state of its latest such run (None: not
    recorded, a load made before states were)."""
    if ledger is None:
        return {}
    runs = _successes_of(ledger, job, pipeline).where(F.col("conf_fingerprint") == fingerprint)
    loaded_from = F.get_json_object("details", "$.source_kind")
    if kind is not None:  # a load of another kind read other data; older rows: any kind
        runs = runs.where(loaded_from.isNull() | (loaded_from == kind))
    state = F.get_json_object("details", "$.source_state")
    latest = (
        runs.groupBy("logical_date").agg(F.max_by(state, F.col("ended_at")).alias("state"))
    ).collect()
    return {r.logical_date: r.state for r in latest if r.logical_date is not None}


def loaded_span(ledger: DataFrame | None, job: str, pipeline: str) -> tuple[date, date] | None:
    """The first and the last logical date with a successful ``job`` run of the pipeline
    (any config), or None when there is none."""
    if ledger is None:
        return None
    runs = _successes_of(ledger, job, pipeline)
    first, last = runs.agg(F.min("logical_date"), F.max("logical_date")).first()
    return None if first is None else (first, last)


def recent_checked_counts(
    ledger: DataFrame | None, *, job: str, pipeline: str, limit: int
) -> list[tuple[date | None, int]]:
    """(logical date, rows checked) of the latest successful runs, newest first.

    Reads ``details.quality.rows_checked`` of the ledger's rows for this job
    and pipeline (runs without a quality summary do not count). A date
    loaded several times counts once, by its latest successful run, so
    re-runs of one date do not crowd out the others.
    """
    if ledger is None:
        return []
    checked = F.get_json_object(F.col("details"), "$.quality.rows_checked").cast("long")
    latest = Window.partitionBy("logical_date").orderBy(
        F.col("ended_at").desc(), F.col("run_id").desc()
    )
    rows = (
        _successes_of(ledger, job, pipeline)
        .where(checked.isNotNull())
        .select("logical_date", "ended_at", "run_id", checked.alias("n"))
        .withColumn("_nth", F.when(F.col("logical_date").isNotNull(), F.row_number().over(latest)))
        .where(F.col("_nth").isNull() | (F.col("_nth") == 1))
        .orderBy(F.col("ended_at").desc(), F.col("run_id").desc())
        .limit(limit)
        .collect()
    )
    return [(r["logical_date"], int(r["n"])) for r in rows]


def succeeded_before(ledger: DataFrame | None, job: str, pipeline: str | None, day: date) -> bool:
    """Whether ``job`` already succeeded for ``pipeline`` and logical date ``day``."""
    if ledger is None:
        return False
    found = _successes_of(ledger, job, pipeline).where(F.col("logical_date") == F.lit(day))
    return bool(found.limit(1).count())


RUN_COLUMNS = (
    "run_id",
    "job",
    "logical_date",
    "status",
    "exit_code",
    "started_at",
    "ended_at",
    "duration_s",
    "rows_out",
    "rows_quarantined",
)


def runs_between(
    ledger: DataFrame | None, pipeline: str, since: datetime, now: datetime, *, leave_out: str
) -> list[Row]:
    """The pipeline's runs that ended in ``[since, now]``, oldest first, without ``leave_out``'s
    (health does not judge its own runs); ``sla_met`` is null in ledgers older than it."""
    if ledger is None:
        return []
    sla_met = F.col("sla_met") if "sla_met" in ledger.columns else F.lit(None).cast("boolean")
    return (
        ledger.where(
            (F.col("pipeline") == pipeline)
            & (F.col("job") != leave_out)
            & F.col("ended_at").between(F.lit(naive_utc(since)), F.lit(naive_utc(now)))
        )
        .select(*RUN_COLUMNS, sla_met.alias("sla_met"))
        .orderBy("ended_at")
        .collect()
    )


def first_dates(ledger: DataFrame | None, pipeline: str) -> dict[str, date]:
    """Per job, the earliest logical date it ever ran for (deadlines start there)."""
    if ledger is None:
        return {}
    rows = (
        ledger.where((F.col("pipeline") == pipeline) & F.col("logical_date").isNotNull())
        .groupBy("job")
        .agg(F.min("logical_date").alias("first"))
        .collect()
    )
    return {r["job"]: r["first"] for r in rows}


def first_successes(
    ledger: DataFrame | None, pipeline: str, job: str, now: datetime
) -> dict[date, datetime]:
    """Per logical date, the end (UTC) of the first successful run of ``job`` up to ``now``."""
    if ledger is None:
        return {}
    rows = (
        _successes_of(ledger, job, pipeline)
        .where(F.col("logical_date").isNotNull() & (F.col("ended_at") <= F.lit(naive_utc(now))))
        .groupBy("logical_date")
        .agg(F.min("ended_at").alias("first"))
        .collect()
    )
    return {r["logical_date"]: as_utc(r["first"]) for r in rows}


def latest_row_of_run(ledger: DataFrame | None, run_id: str) -> dict[str, Any] | None:
    """The recorded row of run ``run_id`` (the last to end, if several), or None."""
    if ledger is None:
        return None
    row = ledger.where(F.col("run_id") == run_id).orderBy(F.col("ended_at").desc()).first()
    return None if row is None else row.asDict()


def recent_success_details(ledger: DataFrame | None, job: str, limit: int = 50) -> list[dict]:
    """The ``details`` of the newest successful runs of ``job``, newest first.

    ``maintain`` reads where its last run drew the line between open and
    closed partitions of each table, so it Z-orders each closed day once.
    """
    if ledger is None:
        return []
    rows = (
        ledger.where((F.col("job") == job) & (F.col("status") == "success"))
        .orderBy(F.col("ended_at").desc())
        .select("details")
        .limit(limit)
        .collect()
    )
    found = []
    for row in rows:
        try:
            details = json.loads(row["details"] or "{}")
        except ValueError:
            continue
        if isinstance(details, dict):
            found.append(details)
    return found

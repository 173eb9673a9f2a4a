"""The demo pipeline ``orders`` under Airflow 3: a daily chain, nightly upkeep, and an
on-demand backfill.

``lakehouse_orders_daily`` runs once per day D after D has ended (UTC):

    stream_ingest (available_now) -> batch_load --date D
        -> backfill --start D-3 --end D-1 --changed-only -> health

- The logical date is the day being loaded: the schedule is a data-interval
  timetable, so ``{{ ds }}`` is D (Airflow 3's default cron timetable would
  make it the day the run starts).
- Late events: an event of day D-1 that reaches Kafka after D-1's run lands
  in bronze's D-1 partition with this run's stream_ingest. The backfill
  step reloads each of the RELOAD_DAYS days before D whose bronze partition
  changed since its load (and nothing else), so the tail of every day
  reaches silver the next night.
- Retries: exit codes 1 and 75 are retried with exponential backoff; 2, 3
  and 4 fail at once (see lakehouse_operator.py).
- Deadline: Airflow 3 has no task SLAs. Our own SLA checks (the ledger's
  ``sla_met``, ``health``) carry that role, and a DeadlineAlert at D+1 06:00
  (the pipeline's ``sla.batch_load.deadline``) runs ``health`` when the chain
  is late, which sends the pipeline's alerts.
- Catch-up: ``catchup=False``. After an outage of a few days, turning catchup
  on (or ``airflow backfill create``) runs the chain once per missed day,
  each a separate Spark application. For longer ranges trigger
  ``lakehouse_orders_backfill``: one Spark application for the whole range,
  resumable, with per-date retries and ledger rows (docs/jobs.md, "backfill").

``lakehouse_orders_maintain`` runs ``maintain`` at 03:30 UTC, on its own
schedule: OPTIMIZE of the closed days, VACUUM, retention properties. It
changes no row, so it may overlap the daily chain or a running stream.

Set ``LAKEHOUSE_HOME`` (the repository) and ``LAKEHOUSE_ENV`` (config overlay)
in the workers' environment; the launcher reads the rest from ``conf/``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    SyncCallback,
)
from lakehouse_operator import LakehouseJobOperator, deadline_missed

PIPELINE = "orders"
RELOAD_DAYS = 3  # days before D whose late events are loaded again (backfill --changed-only)
ENV = os.environ.get("LAKEHOUSE_ENV") or None

RETRYING = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,  # 2, 4, 8 minutes (with jitter), at most...
    "max_retry_delay": timedelta(minutes=30),
}


def job(name: str, *arguments: str, **task: Any) -> LakehouseJobOperator:
    """A task that runs job ``name`` for the pipeline (the task id is the job's name)."""
    return LakehouseJobOperator(
        task_id=name,
        job=name,
        arguments=["--pipeline", PIPELINE, *arguments],
        env=ENV,
        **task,
    )


with DAG(
    dag_id="lakehouse_orders_daily",
    description="Kafka -> bronze -> silver for one day of orders, then health",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # one stream_ingest per checkpoint at a time
    default_args=RETRYING,
    dagrun_timeout=timedelta(hours=6),
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(days=1, hours=6),  # D+1 06:00 UTC
        callback=SyncCallback(deadline_missed, kwargs={"pipeline": PIPELINE, "env": ENV}),
    ),
    tags=["lakehouse", PIPELINE],
) as daily:
    two_hours = timedelta(hours=2)
    ingest = job("stream_ingest", "--trigger", "available_now", execution_timeout=two_hours)
    load = job("batch_load", "--date", "{{ ds }}", execution_timeout=two_hours)
    reload = job(
        "backfill",
        "--start",
        f"{{{{ macros.ds_add(ds, -{RELOAD_DAYS}) }}}}",
        "--end",
        "{{ macros.ds_add(ds, -1) }}",
        "--changed-only",
        execution_timeout=two_hours,
    )
    # health's verdict is the point (4: stale or late, 0: healthy): never retried
    health = job("health", retries=0)
    ingest >> load >> reload >> health

with DAG(
    dag_id="lakehouse_orders_maintain",
    description="Compact the closed days of the orders tables, VACUUM, set retention",
    schedule="30 3 * * *",  # a cron string: one run at 03:30 UTC, no data interval
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,  # a missed night is caught up by the next one
    max_active_runs=1,
    default_args=RETRYING,
    dagrun_timeout=timedelta(hours=6),
    tags=["lakehouse", PIPELINE],
) as upkeep:
    job("maintain", execution_timeout=timedelta(hours=4))

with DAG(
    dag_id="lakehouse_orders_backfill",
    description="Reload a date range of orders in one resumable Spark application",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={
        "start": Param(type="string", format="date", description="first date, YYYY-MM-DD"),
        "end": Param(type="string", format="date", description="last date, YYYY-MM-DD"),
        "parallel": Param(2, type="integer", minimum=1, maximum=8),
        "force": Param(False, type="boolean", description="reload dates already loaded"),
    },
    tags=["lakehouse", PIPELINE],
) as backfill:
    job(
        "backfill",
        "--start",
        "{{ params.start }}",
        "--end",
        "{{ params.end }}",
        "--parallel",
        "{{ params.parallel }}",
        "{{ '--force' if params.force else '' }}",
        # a killed or failed backfill resumes: the next try runs only the missing dates
        retries=2,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=True,
    )

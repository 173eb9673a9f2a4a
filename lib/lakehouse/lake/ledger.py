"""The run ledger: one row per job run in a Delta table (``<lake>/_ops/runs``).

A row is appended once, when the run ends, whatever the outcome. Appends read
no data, so concurrent writers do not conflict in Delta; the first write
creates the table, and a race between two first writers is retried. Each
append is a Delta idempotent write (``txnAppId`` made of the first record's
run id and a digest of every record, ``txnVersion`` 0): an append retried
after its commit landed (the acknowledgement lost), or the same records
appended again, is skipped by Delta instead of written twice; different
records always get an app id of their own. The same row, as one JSON object,
is the job's last line on stdout.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse.config.model import Settings
from lakehouse.core.clock import utcnow
from lakehouse.core.errors import ExitCode, UsageError
from lakehouse.core.retry import Backoff, retry

LEDGER_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("job", T.StringType(), False),
        T.StructField("pipeline", T.StringType(), True),
        T.StructField("logical_date", T.DateType(), True),
        T.StructField("attempt", T.IntegerType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("exit_code", T.IntegerType(), False),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("ended_at", T.TimestampType(), False),
        T.StructField("duration_s", T.DoubleType(), False),
        T.StructField("rows_in", T.LongType(), True),
        T.StructField("rows_out", T.LongType(), True),
        T.StructField("rows_quarantined", T.LongType(), True),
        T.StructField("error_class", T.StringType(), True),
        T.StructField("error_message", T.StringType(), True),
        T.StructField("conf_fingerprint", T.StringType(), True),
        T.StructField("env", T.StringType(), True),
        T.StructField("details", T.StringType(), True),
        # added with SLAs: older ledgers gain the column on their next append
        T.StructField("sla_met", T.BooleanType(), True),
    ]
)

STATUSES = ("success", "failed", "skipped", "dry_run")


@dataclass
class Outcome:
    """What a job's ``run`` reports back; raise an exception for failures instead."""

    status: str = "success"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    exit_code: int = ExitCode.OK
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    """A fresh, sortable-enough unique id for one run."""
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{now}-{uuid.uuid4().hex[:12]}"


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}")


def check_run_id(value: str, source: str = "run id") -> str:
    """``value`` when it can name a run (it also names files and Spark settings).

    Raises:
        UsageError: not 1-128 characters of ``[A-Za-z0-9_.:+-]``, starting
            with a letter or digit.
    """
    if not _RUN_ID.fullmatch(value):
        raise UsageError(
            f"{source}={value[:40]!r} is not a run id: use 1-128 characters of "
            "letters, digits and _ . : + - (starting with a letter or digit)"
        )
    return value


@dataclass
class RunRecord:
    """One run, as the ledger stores it and the job prints it."""

    run_id: str
    job: str
    started_at: datetime
    pipeline: str | None = None
    logical_date: date | None = None
    attempt: int = 1
    status: str = "running"
    exit_code: int = 0
    ended_at: datetime | None = None
    duration_s: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    conf_fingerprint: str | None = None
    env: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    sla_met: bool | None = None

    def finish(
        self,
        status: str,
        exit_code: int,
        *,
        ended_at: datetime | None = None,
        error: BaseException | None = None,
        error_message: str | None = None,
    ) -> RunRecord:
        """Close the record: status, exit code, end time, duration, error."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        self.status = status
        self.exit_code = int(exit_code)
        self.ended_at = ended_at or utcnow()
        self.duration_s = round((self.ended_at - self.started_at).total_seconds(), 3)
        if error is not None:
            self.error_class = type(error).__name__
        if error_message is not None:
            self.error_message = error_message
        return self

    def as_row(self) -> tuple:
        """Values in LEDGER_SCHEMA order (timestamps as naive UTC)."""
        values = asdict(self)
        values["details"] = json.dumps(self.details, sort_keys=True, default=str)
        for key in ("started_at", "ended_at"):
            ts = values[key]
            if ts is not None and ts.tzinfo is not None:
                values[key] = ts.astimezone(timezone.utc).replace(tzinfo=None)
        return tuple(values[f.name] for f in LEDGER_SCHEMA.fields)

    def to_json(self) -> str:
        """The record as one line of JSON (ISO dates, UTC timestamps with Z)."""

        def iso(value: Any) -> Any:
            if isinstance(value, datetime):
                value = value.astimezone(timezone.utc) if value.tzinfo else value
                return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
            if isinstance(value, date):
                return value.isoformat()
            return value

        data = {k: iso(v) for k, v in asdict(self).items()}
        return json.dumps(data, sort_keys=False, default=str)


class Ledger:
    """Reads and appends the run ledger table at ``path``."""

    def __init__(self, spark: SparkSession, path: str, backoff: Backoff | None = None):
        self.spark = spark
        self.path = path
        self.backoff = backoff or Backoff(attempts=6, base_delay=0.2, max_delay=5.0)

    def _create_if_missing(self) -> None:
        from lakehouse.lake.delta_io import ONCE_APPEND_PROPERTIES, ensure_table

        ensure_table(self.spark, self.path, LEDGER_SCHEMA, properties=ONCE_APPEND_PROPERTIES)

    def append(self, record: RunRecord) -> None:
        """Append one finished record; retried on Delta conflicts (e.g. a creation race)."""
        self.append_many([record])

    def append_many(self, records: list[RunRecord]) -> None:
        """Append finished records in one commit (a backfill's dates loaded together).

        Retried on Delta conflicts; an idempotent write, so a retry (or a
        second call with the same records) whose commit already landed is
        skipped rather than appending the rows twice.
        """
        if not records:
            return
        if any(r.status == "running" or r.ended_at is None for r in records):
            raise ValueError("finish() the record before appending it")

        from lakehouse.lake.delta_io import append_once_options

        rows = [r.as_row() for r in records]
        # the same records appended again (a retry after a landed commit) are skipped
        once = append_once_options("ledger", records[0].run_id, rows)

        def write() -> None:
            self._create_if_missing()
            df = self.spark.createDataFrame(rows, LEDGER_SCHEMA).coalesce(1)
            writer = df.write.format("delta").mode("append").option("mergeSchema", "true")
            writer.options(**once).save(self.path)

        retry(write, self.backoff)

    def exists(self) -> bool:
        """Whether any run has been recorded yet."""
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, self.path))

    def read(self) -> DataFrame:
        """The whole ledger as a DataFrame."""
        return self.spark.read.format("delta").load(self.path)

    def snapshot(self) -> DataFrame | None:
        """The ledger now, for :mod:`lakehouse.lake.ledger_queries`; None if it has no run yet."""
        from lakehouse.lake.ledger_queries import snapshot

        return snapshot(self.spark, self.path)

    def find(self, run_id: str) -> RunRecord | None:
        """The recorded run with this id (the last to end, if several), or None."""
        from lakehouse.lake.ledger_queries import latest_row_of_run

        values = latest_row_of_run(self.snapshot(), run_id)
        return None if values is None else record_from_row(values)


def record_from_row(values: dict[str, Any]) -> RunRecord:
    """A ledger row (column -> value, as Spark or delta-rs returns it) as a RunRecord."""
    values = dict(values)
    values["details"] = json.loads(values.get("details") or "{}")
    for key in ("started_at", "ended_at"):  # stored as UTC; Spark returns it naive
        ts = values.get(key)
        if ts is not None:
            values[key] = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts
    known = {f.name for f in LEDGER_SCHEMA.fields}
    return RunRecord(**{k: v for k, v in values.items() if k in known})


def find_run_without_jvm(settings: Settings, run_id: str) -> RunRecord | None:
    """:meth:`Ledger.find` through delta-rs, no Spark (local and ``s3a://`` lakes:
    :func:`lakehouse.lake.nojvm.readable`)."""
    from lakehouse.lake.nojvm import rows_where

    rows = rows_where(settings.ledger_path, settings, "run_id", run_id)
    if not rows:
        return None
    latest = max(rows, key=lambda r: r["ended_at"])
    return record_from_row(latest)

"""After a run: judge it against its SLA and tell the pipeline's alert sinks.

:func:`finish_run` is called by the launcher for every job that got as far
as a SparkSession, before the run's row goes to the ledger, so the row
carries ``sla_met`` and what the alerts did (sent, suppressed, failed).
A sink that is down never changes the run's exit code.

Events: ``failure`` (any exit but 0, 3 and 4), ``quality`` (exit 3, or a
successful run that broke a rule), ``sla_miss``, ``success``; ``health``
sends ``stale`` itself (one per table).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.errors import ExitCode
from lakehouse.lake import fs
from lakehouse.lake.ledger import RunRecord
from lakehouse.ops.alerts import Alert, Alerter, AlertReport, MemoryState
from lakehouse.ops.sla import evaluate

STATE_FILE = ("_ops", "alert_state.json")


class LakeState:
    """Alert dedup state as a small JSON file in the lake (any Hadoop file system)."""

    def __init__(self, spark: SparkSession, path: str):
        self.spark = spark
        self.path = path

    def load(self) -> dict[str, str]:
        if not fs.exists(self.spark, self.path):
            return {}
        try:
            data = json.loads(fs.read_text(self.spark, self.path))
        except ValueError:
            return {}  # a damaged file only costs a repeated alert
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def save(self, state: dict[str, str]) -> None:
        fs.write_text(self.spark, self.path, json.dumps(state, sort_keys=True))


def alerter(spark: SparkSession | None, settings: Settings, pipeline: Pipeline) -> Alerter:
    """The pipeline's sinks, dedup state in the lake, relative file paths under its local folder."""
    state = LakeState(spark, settings.path(*STATE_FILE)) if spark is not None else MemoryState()
    return Alerter(pipeline.alerts, state=state, base_dir=settings.local_dir)


def _succeeded_before(spark: SparkSession, settings: Settings, record: RunRecord) -> bool:
    """Whether the ledger already has a success of this job, pipeline and date."""
    from lakehouse.lake.ledger_queries import snapshot, succeeded_before

    ledger = snapshot(spark, settings.ledger_path)
    return succeeded_before(ledger, record.job, record.pipeline, record.logical_date)


def run_alerts(record: RunRecord, extra: Sequence[Alert] = ()) -> list[Alert]:
    """What a finished run has to say: failure, quality, SLA miss, success."""
    where = f"{record.pipeline or '-'} {record.job}"
    day = record.logical_date.isoformat() if record.logical_date else None
    fields: dict[str, Any] = {"run_id": record.run_id, "exit_code": record.exit_code}
    if day:
        fields["logical_date"] = day
    fields["duration_s"] = record.duration_s
    alerts: list[Alert] = []

    def add(event: str, title: str, text: str = "", key: str | None = None, **kw: Any) -> None:
        alerts.append(
            Alert(
                event=event,  # type: ignore[arg-type]
                job=record.job,
                pipeline=record.pipeline,
                title=title,
                text=text,
                key=key,
                level=kw.get("level"),
                run_id=record.run_id,
                fields=fields,
                at=record.ended_at,
            )
        )

    suffix = f" for {day}" if day else ""
    if record.exit_code == ExitCode.QUALITY:
        add("quality", f"{where}: quality gate failed{suffix}", record.error_message or "")
    elif record.exit_code not in (ExitCode.OK, ExitCode.STALE):
        add(
            "failure",
            f"{where} failed{suffix} (exit {record.exit_code})",
            record.error_message or "",
            key=f"failure:{record.pipeline}:{record.job}:{record.error_class}",
        )
    quality = record.details.get("quality")
    if record.exit_code == ExitCode.OK and isinstance(quality, dict) and quality.get("broken"):
        broken = quality["broken"]
        add(
            "quality",
            f"{where}: {len(broken)} quality rule(s) broken{suffix}",
            ", ".join(f"{rule}: {n}" for rule, n in sorted(broken.items())),
            key=f"quality:{record.pipeline}:{record.job}:{','.join(sorted(broken))}",
            level="warning",
        )
    if record.sla_met is False:
        add(
            "sla_miss",
            f"{where}: SLA missed{suffix}",
            "; ".join(record.details.get("sla_misses", [])),
        )
    if record.exit_code == ExitCode.OK and record.status == "success":
        add("success", f"{where} succeeded{suffix}", record.error_message or "")
    return [*alerts, *extra]


def finish_run(
    spark: SparkSession | None,
    settings: Settings,
    pipeline: Pipeline | None,
    record: RunRecord,
    extra: Sequence[Alert] = (),
) -> AlertReport | None:
    """Set ``sla_met`` on a finished record, then send its alerts (never raises)."""
    if pipeline is None or record.ended_at is None:
        return None
    sla = pipeline.sla.get(record.job)
    judge_deadline = True
    if sla is not None and sla.deadline and record.logical_date and spark is not None:
        judge_deadline = not _succeeded_before(spark, settings, record)
    verdict = evaluate(
        sla,
        status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        logical_date=record.logical_date,
        judge_deadline=judge_deadline,
    )
    record.sla_met = verdict.met
    if verdict.misses:
        record.details["sla_misses"] = list(verdict.misses)
    if not pipeline.alerts:
        return None
    report = alerter(spark, settings, pipeline).send(run_alerts(record, extra))
    if report.sent or report.suppressed or report.failed:
        record.details["alerts"] = report.as_details()
    return report

"""Time promises of a job: how long a run may take, and by when a date must be done.

- ``max_duration``: the run itself, from start to end.
- ``deadline``: ``HH:MM`` (UTC) of the day after the logical date: the run
  for D must have *succeeded* by D+1 at that time.

Every run records ``sla_met`` in the ledger: True, False, or None when the
job has no SLA (or a failed run's deadline has not passed yet: a retry can
still make it). A date's deadline is judged by its first success; re-runs
after it are judged on ``max_duration`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from lakehouse.config.model import Sla
from lakehouse.core.clock import as_utc
from lakehouse.core.durations import human_seconds


def deadline_for(sla: Sla | None, logical_date: date | None) -> datetime | None:
    """When the run for ``logical_date`` must have succeeded (UTC), if promised."""
    if sla is None or sla.deadline is None or logical_date is None:
        return None
    hour, minute = (int(part) for part in sla.deadline.split(":"))
    return datetime.combine(logical_date + timedelta(days=1), time(hour, minute), timezone.utc)


@dataclass(frozen=True)
class SlaVerdict:
    """Whether one run kept its job's promises."""

    met: bool | None
    misses: tuple[str, ...] = field(default=())
    deadline: datetime | None = None

    def message(self) -> str:
        """One line for the alert."""
        return "; ".join(self.misses) if self.misses else "SLA met"


def evaluate(
    sla: Sla | None,
    *,
    status: str,
    started_at: datetime,
    ended_at: datetime,
    logical_date: date | None,
    judge_deadline: bool = True,
) -> SlaVerdict:
    """Judge one finished run against its job's SLA.

    ``judge_deadline=False`` for a run of a date that already succeeded
    once: the deadline was judged then, a later re-run cannot miss it.
    """
    if sla is None or (sla.max_duration is None and sla.deadline is None):
        return SlaVerdict(met=None)
    if status in ("skipped", "dry_run"):
        return SlaVerdict(met=None)
    started, ended = as_utc(started_at), as_utc(ended_at)
    misses: list[str] = []
    decided = False
    if sla.max_duration is not None:
        took = (ended - started).total_seconds()
        decided = True
        if took > sla.max_duration.seconds:
            misses.append(f"ran {human_seconds(took)}, max_duration {sla.max_duration}")
    deadline = deadline_for(sla, logical_date) if judge_deadline else None
    if deadline is not None:
        late = ended > deadline
        if status == "success":
            decided = True
            if late:
                misses.append(
                    f"succeeded at {ended:%Y-%m-%d %H:%M} UTC, after the deadline "
                    f"{deadline:%Y-%m-%d %H:%M} UTC"
                )
        elif late:  # failed, and too late for a retry to make it
            decided = True
            misses.append(
                f"not succeeded by the deadline {deadline:%Y-%m-%d %H:%M} UTC "
                f"for {logical_date.isoformat() if logical_date else '?'}"
            )
    if status != "success" and not misses:
        return SlaVerdict(met=None, deadline=deadline)  # a retry can still keep the promise
    met = (not misses) if decided else None
    return SlaVerdict(met=met, misses=tuple(misses), deadline=deadline)

"""The one set of time helpers: now in UTC, to and from ISO text, a duration for people.

Every timestamp the project writes or shows is UTC: a naive ``datetime`` is
taken to be UTC already (Spark hands timestamps back naive in the session's
UTC time zone). Durations are shown in their two largest units, rounded
half up to the second (``5m 13s``, ``2h 30m``, ``1d 4h``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

_DAY = 86400


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def naive_utc(moment: datetime) -> datetime:
    """``moment`` in UTC without a time zone: what a Spark TIMESTAMP column takes."""
    return as_utc(moment).replace(tzinfo=None)


def iso_z(moment: datetime | None, timespec: str = "seconds") -> str | None:
    """``2026-03-01T10:00:00Z`` (``None`` stays ``None``)."""
    if moment is None:
        return None
    return naive_utc(moment).isoformat(timespec=timespec) + "Z"


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 text (``Z`` or an offset, or naive meaning UTC) -> aware UTC; bad text -> None."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def human_duration(seconds: float | None, unknown: str = "unknown") -> str:
    """Seconds for people: ``45s``, ``5m 13s``, ``2h 30m``, ``1d 4h``; ``unknown`` if None.

    The two largest units, rounded half up to the second; under ten seconds
    keeps one decimal (``2.5s``).
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return unknown
    if seconds < 0:
        return "-" + human_duration(-seconds, unknown)
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    total = math.floor(seconds + 0.5)  # half up: 312.5 s is 5m 13s
    parts = [(total // _DAY, "d"), (total % _DAY // 3600, "h"), (total % 3600 // 60, "m")]
    parts.append((total % 60, "s"))
    for i, (amount, unit) in enumerate(parts):
        if amount:
            text = f"{amount}{unit}"
            if i + 1 < len(parts) and parts[i + 1][0]:
                text += f" {parts[i + 1][0]}{parts[i + 1][1]}"
            return text
    return "0s"

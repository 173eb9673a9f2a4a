"""Durations as config writes them: ``30s``, ``15m``, ``2h``, ``1d``, ``1h30m``, ``1 hour``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lakehouse.core.clock import human_duration

_UNITS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


@dataclass(frozen=True)
class Duration:
    """A length of time parsed from config text; compares by its length."""

    seconds: float
    text: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``text``; raises ValueError with a hint on anything else."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"bad duration {text!r}: use e.g. 30s, 15m, 2h, 1d or '1 hour'")
        total = 0.0
        pos = 0
        stripped = text.strip()
        while pos < len(stripped):
            match = _PART.match(stripped, pos)
            unit = match.group(2).lower() if match else ""
            if not match or unit not in _UNITS:
                raise ValueError(f"bad duration {text!r}: use e.g. 30s, 15m, 2h, 1d or '1 hour'")
            total += float(match.group(1)) * _UNITS[unit]
            pos = match.end()
        if total <= 0:
            raise ValueError(f"bad duration {text!r}: must be longer than zero")
        return cls(seconds=total, text=text.strip())

    def spark(self) -> str:
        """The form Spark's interval parser takes, e.g. ``3600 seconds``."""
        if self.seconds == int(self.seconds):
            return f"{int(self.seconds)} seconds"
        return f"{int(self.seconds * 1000)} milliseconds"

    def __str__(self) -> str:
        return self.text


def human_seconds(seconds: float | None) -> str:
    """A duration for people (see :func:`lakehouse.core.clock.human_duration`)."""
    return human_duration(seconds)

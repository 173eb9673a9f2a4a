"""The report's values for the page: escaped, coerced, formatted.

The page takes any report (report.json may have been edited or be from an
older version): a value of the wrong type counts as unknown and shows as "—".
Times and durations go through the one set of helpers in
:mod:`lakehouse.core.clock`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lakehouse.core.clock import human_duration, parse_iso

_LEVEL_RANK = {"ok": 0, "warn": 1, "error": 2}


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> float | None:
    """A finite number as float, else None (null, text, bool, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def level_name(value: Any) -> str:
    return value if isinstance(value, str) and value in _LEVEL_RANK else "unknown"


def level_rank(value: Any) -> int:
    return _LEVEL_RANK.get(level_name(value), -1)


def maps(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list (anything else, or a non-list, counts as empty)."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def fmt_num(value: Any) -> str:
    """A number exactly, with thousands separators; "—" when unknown."""
    number = num(value)
    if number is None:
        return "—"
    if isinstance(value, int) or number.is_integer():
        return f"{int(number):,}"
    return f"{number:,}"


def format_duration(seconds: Any) -> str:
    """Seconds as a human duration (:func:`lakehouse.core.clock.human_duration`); "—" if unknown."""
    return human_duration(num(seconds), unknown="—")


def parse_ts(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``...Z`` or with offset; naive means UTC) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_iso(value)


def fmt_ts(value: Any) -> str:
    """``2026-11-26 05:00 UTC``; unparsable text as given; "—" when null."""
    moment = parse_ts(value)
    if moment is None:
        return "—" if value is None else str(value)
    pattern = "%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC"
    return moment.strftime(pattern)

"""The one set of time helpers: UTC in and out, ISO text, durations for people."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lakehouse.core.clock import as_utc, human_duration, iso_z, naive_utc, parse_iso
from lakehouse.core.durations import human_seconds
from lakehouse.ops.health.values import format_duration

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (2.5, "2.5s"),
        (45, "45s"),
        (312.5, "5m 13s"),  # half up, not half to even
        (313.4, "5m 13s"),
        (9000, "2h 30m"),
        (90061, "1d 1h"),
        (-90, "-1m 30s"),
        (None, "unknown"),
    ],
)
def test_a_duration_reads_the_same_everywhere(seconds, text):
    assert human_duration(seconds) == text
    assert human_seconds(seconds) == text  # the text reports and alerts
    assert format_duration(seconds) == (text if seconds is not None else "—")  # the HTML page


def test_naive_means_utc_and_aware_is_converted():
    naive = datetime(2026, 3, 1, 10, 0)
    assert as_utc(naive) == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
    assert naive_utc(datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)) == naive
    assert iso_z(datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=PLUS_TWO)) == "2026-03-01T10:00:00Z"
    assert iso_z(naive, "milliseconds") == "2026-03-01T10:00:00.000Z"
    assert iso_z(None) is None


@pytest.mark.parametrize(
    "text", ["2026-03-01T10:00:00Z", "2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00"]
)
def test_iso_text_parses_to_aware_utc(text):
    assert parse_iso(text) == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def test_bad_iso_text_is_none():
    assert parse_iso("yesterday") is None

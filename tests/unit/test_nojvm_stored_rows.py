"""Rows per partition from a Delta log's statistics, read through delta-rs (no JVM)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from deltalake import write_deltalake

from lakehouse.lake.nojvm import stored_rows

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def day_rows(day: date, n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "event_date": pa.array([day] * n)})


def test_rows_of_the_dates_at_a_version_come_from_the_log(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, day_rows(D1, 3), partition_by=["event_date"])  # version 0
    write_deltalake(path, day_rows(D2, 5), partition_by=["event_date"], mode="append")
    write_deltalake(path, day_rows(D1, 4), partition_by=["event_date"], mode="append")
    assert stored_rows(path, 2, "event_date", [D1]) == 7
    assert stored_rows(path, 0, "event_date", [D1]) == 3  # as of version 0
    assert stored_rows(path, 2, "event_date", [D1, D2]) == 12
    assert stored_rows(path, 2, "event_date", [D3]) == 0
    assert stored_rows(f"file:{path}", 1, "event_date", [D2]) == 5


def test_what_cannot_be_told_here_is_none(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, day_rows(D1, 3), partition_by=["event_date"])
    assert stored_rows(path, 0, "status", [D1]) is None  # not a partition column
    assert stored_rows(path, 9, "event_date", [D1]) is None  # no such version
    assert stored_rows(str(tmp_path / "none"), 0, "event_date", [D1]) is None
    assert stored_rows("s3a://bucket/t", 0, "event_date", [D1]) is None  # Spark answers

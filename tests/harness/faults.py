"""Faults on purpose: a lost commit acknowledgement, counting Delta commits."""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql.readwriter import DataFrameWriter

from lakehouse.core.errors import TransientError


def lose_the_first_ack(monkeypatch) -> list[int]:
    """Every save commits; the first then fails as if its acknowledgement were lost."""
    real_save = DataFrameWriter.save
    lost: list[int] = []

    def save(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        if not lost:
            lost.append(1)
            raise TransientError("the commit landed but its acknowledgement was lost")

    monkeypatch.setattr(DataFrameWriter, "save", save)
    return lost


def commits(spark, path: str) -> int:
    return DeltaTable.forPath(spark, path).history().count()

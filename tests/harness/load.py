"""LoadHarness: batch_load in-process on a test's own lake and config."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.jobs import batch_load
from tests.harness.builders import pipeline_yaml, write_conf

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def row(order_id: str, amount="10.00", status="placed", at="2026-03-01T10:00:00", **extra) -> dict:
    return {"order_id": order_id, "amount": amount, "status": status, "event_time": at, **extra}


class LoadHarness:
    """A files-sourced pipeline in a temp lake; runs batch_load in-process."""

    def __init__(self, tmp_path: Path, capsys, monkeypatch):
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.lake = tmp_path / "lake"
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(self.lake))
        self.configure()

    def configure(self, silver: dict | None = None, **overrides) -> None:
        files = {"path": "landing/orders/date={date}", "format": "json"}
        files.update(overrides.pop("files", {}))
        pipe = pipeline_yaml(
            source={"files": files},
            silver={"table": "silver.orders", "order_by": "event_time", **(silver or {})},
            **overrides,
        )
        for key in ("stream", "bronze"):
            if key not in overrides:
                pipe.pop(key, None)
        shutil.rmtree(self.tmp_path / "conf", ignore_errors=True)
        self.conf = write_conf(self.tmp_path, pipelines={"orders": pipe})

    def land(self, day: date, rows: list[dict | str], name: str = "part-0.json") -> Path:
        folder = self.lake / "landing" / "orders" / f"date={day.isoformat()}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
        (folder / name).write_text("\n".join(lines) + "\n")
        return folder

    def run(self, day: date | str, *args: str) -> tuple[int, dict]:
        text = day.isoformat() if isinstance(day, date) else day
        argv = ["--conf-dir", str(self.conf), "--pipeline", "orders", "--date", text, *args]
        code = batch_load.main(argv)
        out = self.capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1])

    @property
    def silver_path(self) -> str:
        return str(self.lake / "silver" / "orders")

    def silver(self, spark):
        return spark.read.format("delta").load(self.silver_path)

    def day(self, spark, day: date):
        return self.silver(spark).where(F.col("event_date") == day).orderBy("order_id")

    def version(self, spark) -> int:
        return DeltaTable.forPath(spark, self.silver_path).history(1).first()["version"]

    def quarantine(self, spark):
        return spark.read.format("delta").load(str(self.lake / "quarantine" / "orders_loads"))


def ids(df) -> list[str]:
    return sorted(r.order_id for r in df.select("order_id").collect())

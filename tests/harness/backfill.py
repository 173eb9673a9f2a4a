"""BackfillHarness: the backfill job in-process over landed files."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F

from lakehouse.jobs import backfill
from tests.harness.builders import pipeline_yaml, write_conf


def day_rows(day: date, n: int = 3) -> list[dict]:
    return [
        {
            "order_id": f"{day:%m%d}-{i}",
            "amount": f"{i}.50",
            "status": "placed",
            "event_time": f"{day.isoformat()}T{10 + i:02d}:00:00",
        }
        for i in range(n)
    ]


class BackfillHarness:
    """A files-sourced pipeline with landed days in a temp lake; runs backfill in-process."""

    def __init__(self, tmp_path: Path, capsys, monkeypatch):
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.lake = tmp_path / "lake"
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(self.lake))
        monkeypatch.delenv("LAKEHOUSE_INJECT_FAILURES", raising=False)
        self.configure()

    def configure(self, quality: list[dict] | None = None, **backfill_settings) -> None:
        pipe = pipeline_yaml(
            source={"files": {"path": "landing/date={date}", "format": "json"}},
            quality=quality or [],
            backfill={
                "group_days": 1,
                "retry": {"attempts": 3, "base_delay": "100ms", "max_delay": "1s"},
            }
            | backfill_settings,
        )
        pipe.pop("stream"), pipe.pop("bronze")
        shutil.rmtree(self.tmp_path / "conf", ignore_errors=True)
        self.conf = write_conf(self.tmp_path, pipelines={"orders": pipe})

    def land(self, *days: date, lake: Path | None = None) -> None:
        for day in days:
            folder = (lake or self.lake) / "landing" / f"date={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "part.json").write_text(
                "\n".join(json.dumps(r) for r in day_rows(day)) + "\n"
            )

    def replace_day(self, day: date, rows: list[dict]) -> None:
        """Land other rows for ``day`` (after :meth:`land`)."""
        part = self.lake / "landing" / f"date={day.isoformat()}" / "part.json"
        part.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    def argv(self, *args: str) -> list[str]:
        return ["--conf-dir", str(self.conf), "--pipeline", "orders", *args]

    def run(self, *args: str) -> tuple[int, dict, str]:
        code = backfill.main(self.argv(*args))
        out = self.capsys.readouterr().out.strip()
        return code, json.loads(out.splitlines()[-1]), out

    def silver(self, spark):
        return spark.read.format("delta").load(str(self.lake / "silver" / "orders"))

    def comparable(self, spark):
        return self.silver(spark).drop("loaded_at", "run_id").orderBy("order_id")

    def loads(self, spark):
        """batch_load ledger rows: (date, attempt, status, exit code)."""
        ledger = spark.read.format("delta").load(str(self.lake / "_ops" / "runs"))
        rows = ledger.where(F.col("job") == "batch_load").collect()
        return sorted((r.logical_date, r.attempt, r.status, r.exit_code) for r in rows)

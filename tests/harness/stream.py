"""StreamHarness: stream_ingest in-process against the real test broker."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from delta.tables import DeltaTable

from datagen.orders import Event, produce
from lakehouse.jobs import stream_ingest
from tests.harness.builders import pipeline_yaml, write_conf

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def order(order_id: str, ts: datetime, **fields) -> Event:
    body = {
        "order_id": order_id,
        "amount": 10.5,
        "status": "paid",
        "event_time": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        **fields,
    }
    return Event(order_id, json.dumps(body).encode(), "valid", order_id)


def raw(value: bytes | None, key: str = "bad") -> Event:
    return Event(key, value, "bad")


class StreamHarness:
    """One pipeline on a fresh topic and lake; runs the job in-process."""

    def __init__(self, tmp_path: Path, bootstrap: str, topic: str, capsys, monkeypatch):
        self.tmp_path = tmp_path
        self.bootstrap = bootstrap
        self.topic = topic
        self.capsys = capsys
        self.lake = tmp_path / "lake"
        monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(self.lake))
        self.configure()

    def configure(self, **overrides) -> None:
        stream = {
            "watermark": "1 hour",
            "retry": {"attempts": 2, "base_delay": "100ms"},
            **overrides.pop("stream", {}),
        }
        kafka = {
            "topic": self.topic,
            "bootstrap_servers": self.bootstrap,
            **overrides.pop("kafka", {}),
        }
        pipe = pipeline_yaml(source={"kafka": kafka}, stream=stream, **overrides)
        shutil.rmtree(self.tmp_path / "conf", ignore_errors=True)
        self.conf = write_conf(self.tmp_path, pipelines={"orders": pipe})

    def produce(self, events: list[Event]) -> None:
        produce(self.bootstrap, self.topic, events)

    def run(self, *args: str) -> tuple[int, dict]:
        code = stream_ingest.main(["--conf-dir", str(self.conf), "--pipeline", "orders", *args])
        out = self.capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1])

    @property
    def bronze_path(self) -> str:
        return str(self.lake / "bronze" / "orders")

    @property
    def checkpoint(self) -> Path:
        return self.lake / "_checkpoints" / "orders" / "stream_ingest"

    def bronze(self, spark):
        return spark.read.format("delta").load(self.bronze_path)

    def quarantine(self, spark):
        return spark.read.format("delta").load(str(self.lake / "quarantine" / "orders"))

    def versions(self, spark, path: str | None = None) -> int:
        return DeltaTable.forPath(spark, path or self.bronze_path).history().count()


def keys(df) -> list[str]:
    return sorted(r.order_id for r in df.select("order_id").collect())

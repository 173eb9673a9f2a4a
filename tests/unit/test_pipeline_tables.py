"""PipelineTables: where a pipeline's tables, checkpoint and landed files are (no JVM)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from lakehouse.config import load_config
from lakehouse.core.errors import ConfigError
from lakehouse.lake import PipelineTables
from tests.harness.builders import pipeline_yaml, write_conf

DAY = date(2026, 3, 1)


def tables(tmp_path, monkeypatch, **overrides) -> PipelineTables:
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml(**overrides)})
    config = load_config("orders", conf_dir=str(conf))
    return PipelineTables(config.settings, config.pipeline)


def test_the_lake_layout_gives_each_table_its_place(tmp_path, monkeypatch):
    t = tables(
        tmp_path,
        monkeypatch,
        source={"kafka": {"topic": "orders"}, "files": {"path": "landing/{date}"}},
    )
    lake = t.settings.lake_root.rstrip("/")
    assert t.bronze == f"{lake}/bronze/orders"
    assert t.silver == f"{lake}/silver/orders"
    assert t.quarantine == f"{lake}/quarantine/orders"
    assert t.load_quarantine == f"{lake}/quarantine/orders_loads"
    assert t.checkpoint == f"{lake}/_checkpoints/orders/stream_ingest"
    assert t.files(DAY) == f"{lake}/landing/2026-03-01"
    assert t.table("silver.orders") == t.silver
    assert t.table("gold.daily") == f"{lake}/gold/daily"


def test_a_table_s_own_path_and_a_stream_s_own_checkpoint_win(tmp_path, monkeypatch):
    t = tables(
        tmp_path,
        monkeypatch,
        bronze={"table": "bronze.orders", "path": "/data/raw"},
        silver={"table": "silver.orders", "path": "s3a://bucket/silver"},
        stream={"watermark": "1 hour", "checkpoint": "/ck/orders"},
        source={"kafka": {"topic": "orders"}, "files": {"path": "file:/landing/{date}"}},
    )
    assert (t.bronze, t.silver, t.checkpoint) == ("/data/raw", "s3a://bucket/silver", "/ck/orders")
    assert t.table("bronze.orders") == "/data/raw"
    assert t.files(DAY) == "file:/landing/2026-03-01"  # a URI is taken as it is


def test_asking_for_a_table_the_pipeline_lacks_names_the_key(tmp_path, monkeypatch):
    t = tables(tmp_path, monkeypatch)
    t = PipelineTables(t.settings, dataclasses.replace(t.pipeline, silver=None))
    with pytest.raises(ConfigError, match="pipeline orders has no `silver` table"):
        _ = t.silver

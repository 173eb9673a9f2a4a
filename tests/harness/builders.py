"""Test-data builders: config folders and DataFrames with sensible defaults.

A test states only what it is about; everything else is a valid default.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.harness.env import KAFKA_BOOTSTRAP, TEST_SPARK_CONF


def base_yaml(**overrides: Any) -> dict:
    """A valid conf/base.yaml as a dict (lake root from LAKEHOUSE_LAKE_ROOT)."""
    data = {
        "lake_root": "${LAKEHOUSE_LAKE_ROOT:-lake}",
        "spark": {"master": "local[2]", "conf": dict(TEST_SPARK_CONF)},
        "kafka": {"bootstrap_servers": f"${{KAFKA_BOOTSTRAP_SERVERS:-{KAFKA_BOOTSTRAP}}}"},
    }
    data.update(overrides)
    return data


def pipeline_yaml(name: str = "orders", **overrides: Any) -> dict:
    """A small valid pipeline file as a dict."""
    data = {
        "name": name,
        "schema": "order_id STRING NOT NULL, amount DECIMAL(12,2), status STRING, "
        "event_time TIMESTAMP NOT NULL",
        "keys": ["order_id"],
        "event_time": "event_time",
        "partition_by": "event_date",
        "source": {"kafka": {"topic": name}},
        "stream": {"watermark": "1 hour"},
        "bronze": {"table": f"bronze.{name}"},
        "silver": {"table": f"silver.{name}", "order_by": "event_time"},
    }
    data.update(copy.deepcopy(overrides))
    return data


def write_conf(
    root: Path,
    *,
    base: dict | str | None = None,
    envs: dict[str, dict | str] | None = None,
    pipelines: dict[str, dict | str] | None = None,
) -> Path:
    """Write a config folder under ``root``; dicts are dumped, strings written as is."""
    conf = root / "conf"
    (conf / "pipelines").mkdir(parents=True, exist_ok=True)

    def put(path: Path, content: dict | str) -> None:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))

    put(conf / "base.yaml", base_yaml() if base is None else base)
    for env, content in ({"local": {}} if envs is None else envs).items():
        put(conf / f"{env}.yaml", content)
    for name, content in ({"orders": pipeline_yaml()} if pipelines is None else pipelines).items():
        put(conf / "pipelines" / f"{name}.yaml", content)
    return conf

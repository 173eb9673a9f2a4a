"""The silver write modes: one registered writer per mode the config accepts, and the
properties the backfill relies on (no JVM: nothing here touches Spark)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import pytest

from lakehouse.batch import WRITERS, writer_for
from lakehouse.batch.backfill import parallel_for
from lakehouse.config import load_config
from lakehouse.config.model import SilverTable
from lakehouse.core.errors import ConfigError
from tests.harness.builders import pipeline_yaml, write_conf


def pipeline(tmp_path, monkeypatch, **silver):
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    pipe = pipeline_yaml(silver={"table": "silver.orders", **silver})
    conf = write_conf(tmp_path, pipelines={"orders": pipe})
    return load_config("orders", conf_dir=str(conf)).pipeline


def test_every_mode_the_config_accepts_has_a_writer_and_nothing_else_does():
    accepted = set(typing.get_args(typing.get_type_hints(SilverTable)["mode"]))
    assert accepted == {"merge", "replace_partition", "insert_if_absent"}
    assert set(WRITERS) == accepted
    for mode, writer in WRITERS.items():
        assert writer.mode == mode
        assert isinstance(writer.isolated_by_date, bool)


@pytest.mark.parametrize(
    ("silver", "empties"),
    [
        ({"mode": "merge"}, False),
        ({"mode": "merge", "delete_missing": True}, True),
        ({"mode": "insert_if_absent"}, False),
        ({"mode": "replace_partition"}, True),
    ],
)
def test_writers_say_whether_a_date_without_rows_would_be_emptied(
    tmp_path, monkeypatch, silver, empties
):
    p = pipeline(tmp_path, monkeypatch, **silver)
    writer = writer_for(p)
    assert writer.mode == silver["mode"]
    assert writer.empties_dates(p.silver) is empties


def test_a_pipeline_without_silver_has_no_writer(tmp_path, monkeypatch):
    p = pipeline(tmp_path, monkeypatch)
    with pytest.raises(ConfigError, match="pipeline orders has no `silver` table"):
        writer_for(dataclasses.replace(p, silver=None))


@dataclass
class CrossDateWriter:
    """A plug-in mode whose commits read other dates (e.g. keys unique across dates)."""

    mode: str = "merge"
    isolated_by_date: bool = False


def test_the_backfill_asks_the_writer_before_it_loads_in_parallel(tmp_path, monkeypatch):
    p = pipeline(tmp_path, monkeypatch)
    assert parallel_for(p, 4) == 4  # every built-in mode stays inside its dates
    told: list[str] = []
    monkeypatch.setitem(WRITERS, "merge", CrossDateWriter())
    assert parallel_for(p, 4, told.append) == 1
    assert told == [
        "backfill orders: silver mode merge writes outside its dates; "
        "loading one group at a time (not 4)"
    ]
    assert parallel_for(p, 1, told.append) == 1 and len(told) == 1


@pytest.mark.parametrize(
    ("drop", "source", "message"),
    [
        ("silver", None, "pipeline orders has no `silver` table"),
        ("bronze", "bronze", "pipeline orders has no `bronze` table"),
        ("files", "files", "pipeline orders has no `source.files`"),
    ],
)
def test_a_load_the_pipeline_cannot_do_is_a_config_error_before_spark_is_touched(
    tmp_path, monkeypatch, drop, source, message
):
    """A pipeline without silver, or a source kind it lacks: exit 2 (ConfigError) with
    one line, before a session is asked for anything (``session`` here is None)."""
    from lakehouse.batch import DateGroupLoad
    from lakehouse.core.errors import ExitCode

    p = pipeline(tmp_path, monkeypatch)
    p = (
        dataclasses.replace(p, source=dataclasses.replace(p.source, files=None))
        if drop == "files"
        else dataclasses.replace(p, **{drop: None})
    )
    config = load_config("orders", conf_dir=str(tmp_path / "conf"))
    with pytest.raises(ConfigError, match=message) as caught:
        DateGroupLoad(
            None,  # type: ignore[arg-type]
            config.settings,
            p,
            [],
            {},
            source=source,
            dry_run=False,
            group_run_id=None,
            tell=lambda line: None,
        )
    assert caught.value.exit_code == ExitCode.USAGE

"""The quality rule kinds: one registered kind per kind the config accepts, and the
properties the engine and its callers derive from them (no JVM: nothing here touches Spark)."""

from __future__ import annotations

import typing

import pytest

from lakehouse.config import load_config
from lakehouse.config.model import QualityRule
from lakehouse.core.errors import ConfigError, ExitCode
from lakehouse.quality import (
    DATASET_KINDS,
    KINDS,
    ROW_KINDS,
    WINDOW_KINDS,
    RuleResult,
    RuleSet,
    kind_for,
    max_window,
)
from lakehouse.quality.kinds import Batch, DatasetKind, RowCheck, kinds_where
from tests.harness.builders import pipeline_yaml, write_conf

# one valid rule of every kind, on the columns of pipeline_yaml()
EXAMPLES = {
    "not_null": {"column": "status"},
    "unique": {"columns": ["order_id"]},
    "accepted_values": {"column": "status", "values": ["paid"]},
    "range": {"column": "amount", "min": 0},
    "regex": {"column": "status", "pattern": "^[a-z]+$"},
    "expression": {"name": "positive", "expr": "amount > 0"},
    "row_count": {"min": 1},
    "row_count_change": {"max_ratio": 0.5},
    "schema": {"expected": {"amount": "DECIMAL(12,2)"}},
    "freshness_of_source": {"max_age": "6h"},
}


def load_rule(tmp_path, monkeypatch, kind: str, on_fail: str) -> QualityRule:
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    rule = {"rule": kind, "on_fail": on_fail, **EXAMPLES[kind]}
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml(quality=[rule])})
    return load_config("orders", conf_dir=str(conf)).pipeline.quality[0]


def test_every_kind_the_config_accepts_is_registered_and_nothing_else_is():
    accepted = set(typing.get_args(typing.get_type_hints(QualityRule)["rule"]))
    assert set(KINDS) == accepted == set(EXAMPLES)
    for name, kind in KINDS.items():
        assert kind.name == name
        assert kind.level in ("row", "dataset")
        assert kind_for(name) is kind


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_the_config_lets_only_row_kinds_drop_rows(tmp_path, monkeypatch, kind):
    """The config's own list of whole-batch rules (they can `warn` or `fail`) agrees
    with the kinds' declared level."""
    assert load_rule(tmp_path, monkeypatch, kind, "warn").rule == kind
    if kind in ROW_KINDS:
        assert load_rule(tmp_path, monkeypatch, kind, "drop").on_fail == "drop"
    else:
        with pytest.raises(ConfigError, match="can `warn` or `fail`"):
            load_rule(tmp_path, monkeypatch, kind, "drop")


def test_the_kind_sets_come_from_the_kinds_properties():
    assert ROW_KINDS == kinds_where(lambda k: k.level == "row")
    assert DATASET_KINDS == kinds_where(lambda k: k.level == "dataset")
    assert WINDOW_KINDS == kinds_where(lambda k: k.compares_rows)
    assert ROW_KINDS == {"not_null", "unique", "accepted_values", "range", "regex", "expression"}
    assert DATASET_KINDS == {"row_count", "row_count_change", "schema", "freshness_of_source"}
    assert WINDOW_KINDS == {"unique"} and WINDOW_KINDS <= ROW_KINDS
    assert ROW_KINDS | DATASET_KINDS == set(KINDS) and not ROW_KINDS & DATASET_KINDS


def test_an_unknown_kind_is_a_config_error_naming_the_kinds():
    with pytest.raises(ConfigError, match=r"unknown quality rule kind 'sometimes' \(kinds: acc"):
        kind_for("sometimes")
    with pytest.raises(ConfigError, match="unknown quality rule kind 'sometimes'") as caught:
        RuleSet([QualityRule(rule="sometimes")])  # type: ignore[arg-type]
    assert caught.value.exit_code == ExitCode.USAGE


class Positive(RowCheck):
    """A plug-in row kind."""

    name = "positive"

    def broken(self, rule):
        raise AssertionError("not called without Spark")


class Trend(DatasetKind):
    """A plug-in dataset kind that compares with the last 30 runs."""

    name = "trend"

    def history_window(self, rule):
        return 30

    def verdict(self, rule, batch: Batch):
        return True, "steady"


def test_registering_a_kind_is_all_the_engine_needs_to_know_it(monkeypatch):
    monkeypatch.setitem(KINDS, "positive", Positive())
    monkeypatch.setitem(KINDS, "trend", Trend())
    positive = QualityRule(rule="positive", column="amount")  # type: ignore[arg-type]
    trend = QualityRule(rule="trend")  # type: ignore[arg-type]
    change = QualityRule(rule="row_count_change", max_ratio=0.5, window=3)
    rules = RuleSet([trend, positive, change])
    assert rules.row_rules == [positive] and rules.names == ["positive_amount"]
    assert rules.dataset_rules == [trend, change]
    assert max_window([positive, change]) == 3
    assert max_window([change, trend]) == 30
    assert max_window([positive]) == 0 and max_window([]) == 0
    assert kinds_where(lambda k: k.level == "row") == ROW_KINDS | {"positive"}
    assert RuleResult("positive_amount", "positive", "warn", 3, 0, True).level == "row"
    assert RuleResult("trend", "trend", "warn", 3, None, True).level == "dataset"

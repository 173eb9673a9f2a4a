"""``schema``: a batch fails it when a column in ``expected`` is missing or of another type."""

from __future__ import annotations

from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.ddl import DdlError, parse_columns
from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds.base import Batch, DatasetKind, rule_name


class Schema(DatasetKind):
    """Every column of ``expected`` (name -> Spark DDL type) is there, of that type."""

    name = "schema"

    def verdict(self, rule: QualityRule, batch: Batch) -> tuple[bool, str]:
        actual = {f.name: f.dataType for f in batch.schema.fields}
        problems = []
        for name, expected in _expected_types(rule).items():
            if name not in actual:
                problems.append(f"{name} missing")
            elif actual[name] != expected:
                problems.append(
                    f"{name} is {actual[name].simpleString()}, not {expected.simpleString()}"
                )
        return not problems, "; ".join(problems) or "as expected"


def _expected_types(rule: QualityRule) -> dict[str, T.DataType]:
    try:
        return {
            name: parse_columns(f"{name} {ddl}")[0].data_type for name, ddl in rule.expected.items()
        }
    except DdlError as exc:  # the config loader checked it already
        raise ConfigError(f"rule {rule_name(rule)}: {exc}") from None

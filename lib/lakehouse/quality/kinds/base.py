"""What every rule kind shares: the base classes, their declared properties, a rule's name.

A :class:`RowKind` flags the rows that break a rule (one boolean column in
the engine's one projection); a :class:`DatasetKind` judges a whole batch
from the engine's one aggregation. A kind declares the properties code
around it relies on: ``level`` (row or dataset), ``compares_rows`` (needs a
window over rows, so it cannot run on a streaming DataFrame) and
:meth:`RuleKind.history_window` (how many earlier runs it compares with).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule


def rule_name(rule: QualityRule) -> str:
    """The rule's ``name``, or one made of its kind and columns (``not_null_customer_id``)."""
    if rule.name:
        return rule.name
    return "_".join([rule.rule, *rule.target_columns])


class RuleKind(ABC):
    """One kind of quality rule (``rule:`` in the config), registered by name in
    :data:`lakehouse.quality.kinds.KINDS`."""

    name: ClassVar[str]
    level: ClassVar[Literal["row", "dataset"]]
    # a row rule that compares rows (a window): it cannot run on a streaming DataFrame
    compares_rows: ClassVar[bool] = False

    def validate(
        self,
        rule: QualityRule,
        where: str,
        schema: T.StructType,
        empty: DataFrame,
        event_time: str | None,
    ) -> None:
        """Check the rule against the data's ``schema`` (``empty``: a frame of it);
        ConfigError (exit 2) if it does not fit. The target columns are checked already."""
        return None

    def history_window(self, rule: QualityRule) -> int:
        """How many earlier runs' row counts the rule compares with (0: none)."""
        return 0


class RowKind(RuleKind):
    """A rule each row passes or breaks."""

    level = "row"

    @abstractmethod
    def flag(
        self, rule: QualityRule, only: SparkColumn | None, group_by: Sequence[str]
    ) -> SparkColumn:
        """True where a row breaks the rule (null counts as false).

        ``only``: the rows checked at all (None: every row); ``group_by``:
        columns that tell batches apart.
        """


class RowCheck(RowKind):
    """A row rule judged on each row alone."""

    @abstractmethod
    def broken(self, rule: QualityRule) -> SparkColumn:
        """True where a row breaks the rule."""

    def flag(
        self, rule: QualityRule, only: SparkColumn | None, group_by: Sequence[str]
    ) -> SparkColumn:
        check = self.broken(rule)
        return check if only is None else only & check


@dataclass(frozen=True)
class Batch:
    """What a dataset rule judges: one batch (or group) of checked rows."""

    rows: int
    schema: T.StructType
    history: Sequence[int]  # row counts of earlier successful runs, newest first
    value: Any  # the kind's aggregate over the rows (None: it has none, or no rows)
    now: datetime


class DatasetKind(RuleKind):
    """A rule a batch passes or fails as a whole (it can ``warn`` or ``fail``)."""

    level = "dataset"
    aggregates: ClassVar[bool] = False  # adds a column to the one aggregation

    def aggregate(
        self,
        rule: QualityRule,
        checked: SparkColumn,
        schema: T.StructType | None,
        event_time: str | None,
    ) -> SparkColumn:
        """The kind's column of the one aggregation (``checked``: the row is checked);
        only called when ``aggregates``."""
        raise NotImplementedError(f"rule kind {self.name!r} has no aggregate")

    @abstractmethod
    def verdict(self, rule: QualityRule, batch: Batch) -> tuple[bool, str]:
        """(passed, detail) for one batch."""

"""Quality rule kinds, registered by name (``rule:`` in the config).

A kind is one module with a :class:`~lakehouse.quality.kinds.base.RowKind`
or :class:`~lakehouse.quality.kinds.base.DatasetKind` and one line in
:data:`KINDS`; the engine asks the kind, never the rule's name. The sets
of kind names callers filter rules by are derived from the kinds' declared
properties.
"""

from __future__ import annotations

from collections.abc import Callable

from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds.accepted_values import AcceptedValues
from lakehouse.quality.kinds.base import Batch, DatasetKind, RowCheck, RowKind, RuleKind, rule_name
from lakehouse.quality.kinds.expression import Expression
from lakehouse.quality.kinds.freshness_of_source import FreshnessOfSource
from lakehouse.quality.kinds.not_null import NotNull
from lakehouse.quality.kinds.range import Range
from lakehouse.quality.kinds.regex import Regex
from lakehouse.quality.kinds.row_count import RowCount
from lakehouse.quality.kinds.row_count_change import RowCountChange
from lakehouse.quality.kinds.schema import Schema
from lakehouse.quality.kinds.unique import Unique

KINDS: dict[str, RuleKind] = {
    k.name: k
    for k in (
        NotNull(),
        Unique(),
        AcceptedValues(),
        Range(),
        Regex(),
        Expression(),
        RowCount(),
        RowCountChange(),
        Schema(),
        FreshnessOfSource(),
    )
}


def kind_for(name: str) -> RuleKind:
    """The registered kind ``name``; ConfigError (exit 2) naming the kinds if none is."""
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown quality rule kind {name!r} (kinds: {', '.join(sorted(KINDS))})",
            key="rule",
        ) from None


def kinds_where(test: Callable[[RuleKind], bool]) -> frozenset[str]:
    """Names of the registered kinds that pass ``test`` (a property of the kind)."""
    return frozenset(name for name, kind in KINDS.items() if test(kind))


ROW_KINDS = kinds_where(lambda k: k.level == "row")
# row rules that compare rows (a window): they cannot run on a streaming DataFrame
WINDOW_KINDS = kinds_where(lambda k: k.compares_rows)
DATASET_KINDS = kinds_where(lambda k: k.level == "dataset")

__all__ = [
    "DATASET_KINDS",
    "KINDS",
    "ROW_KINDS",
    "WINDOW_KINDS",
    "Batch",
    "DatasetKind",
    "RowCheck",
    "RowKind",
    "RuleKind",
    "kind_for",
    "kinds_where",
    "rule_name",
]

"""Data-quality rules: decide whether data is good enough to publish.

Row rules (``not_null``, ``unique``, ``accepted_values``, ``range``,
``regex``, ``expression``) become one boolean column each in a single
projection; dataset rules (``row_count``, ``row_count_change``, ``schema``,
``freshness_of_source``) and the failure count of every row rule come out of
one aggregation. So checking ten rules costs one pass over the data, not ten
Spark jobs (``bench/quality_bench.py`` measures it). What each kind checks
is its module in :mod:`lakehouse.quality.kinds`; what a check found is a
:class:`~lakehouse.quality.report.QualityReport`, stored by
:mod:`lakehouse.quality.store`.

Severities: ``warn`` records only; ``drop`` removes the rows (counted);
``quarantine`` moves them out with the names of every rule they broke;
``fail`` fails the gate: the caller writes nothing and exits 3.

Public API, usable outside the jobs::

    good, bad, report = check(df, rules, keys=["order_id"])
    report.raise_for_gate()          # QualityGateError (exit 3) on a `fail` rule

``bad`` holds the rows of ``quarantine`` and ``fail`` rules, plus a column
``quality_rules`` (array of the rule names each row broke).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import reduce
from typing import Any

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import QualityRule
from lakehouse.core.errors import ConfigError
from lakehouse.quality.kinds import Batch, DatasetKind, RowKind, kind_for, rule_name
from lakehouse.quality.report import QualityReport, RuleResult

# a group's row_count_change history from its key and the reports of the groups before it
HistoryOf = Callable[[Any, Mapping[Any, QualityReport]], Sequence[int]]
QUALITY_REASON = "quality"  # the reason quarantined rows carry
RULES_COLUMN = "quality_rules"  # bad rows: names of the rules each broke
PREFIX = "_q"  # helper columns of flagged rows: "_q0", "_q_move", ... (reserved in loads)
_DROP = "_q_drop"
_MOVE = "_q_move"  # breaks a quarantine or fail rule
_SAMPLE_ROWS = 200


# ---------------------------------------------------------------- rules


class RuleSet:
    """The rules of a pipeline, compiled for a DataFrame's columns.

    Args:
        rules: the rules (``pipeline.quality``).
        keys: columns that identify a row; failing rows are sampled by them.
        event_time: default column of ``freshness_of_source``.
        sample_size: how many failing keys a result keeps per rule.
        prefix: of the helper columns :meth:`flag` adds and of the aggregation's
            columns (``_q0``, ``_q_move``, ``_q_rows``...); two rule sets with
            different prefixes can flag the same frame (``_q...`` names only).
        distinct_on: columns the checked rows are known to be distinct on (a
            stream's kept rows, deduplicated on the keys): a rule comparing rows
            on all of them and more cannot fail, and is not computed (no window).
    """

    def __init__(
        self,
        rules: Sequence[QualityRule],
        *,
        keys: Sequence[str] = (),
        event_time: str | None = None,
        sample_size: int = 5,
        prefix: str = PREFIX,
        distinct_on: Sequence[str] = (),
    ):
        if not prefix.startswith(PREFIX) or not prefix.isidentifier():
            raise ValueError(f"a rule set's column prefix starts with {PREFIX!r}: {prefix!r}")
        self.prefix = prefix
        self.MOVE = f"{prefix}_move"
        self.DROP = f"{prefix}_drop"
        self._in = f"{prefix}_in"  # the row is checked at all
        self.rules = list(rules)
        self.keys = list(keys)
        self.event_time = event_time
        self.sample_size = sample_size
        self.distinct_on = set(distinct_on)
        kinds = [(r, kind_for(r.rule)) for r in self.rules]
        self._rows = [(r, k) for r, k in kinds if isinstance(k, RowKind)]
        self._datasets = [(r, k) for r, k in kinds if isinstance(k, DatasetKind)]
        self.row_rules = [r for r, _ in self._rows]
        self.dataset_rules = [r for r, _ in self._datasets]
        self.names = [rule_name(r) for r in self.row_rules]

    MOVE = _MOVE  # the default prefix's; an instance has its own (self.MOVE)
    DROP = _DROP

    def _flag(self, i: int) -> str:
        return f"{self.prefix}{i}"

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def moves_rows(self) -> bool:
        """Whether a row rule can take rows out (drop, quarantine or fail)."""
        return any(r.on_fail != "warn" for r in self.row_rules)

    # -- checks against the data's schema (exit 2 before any data moves)

    def validate(self, schema: T.StructType, spark: SparkSession) -> None:
        """Check columns and expressions against ``schema``; ConfigError (exit 2) if not."""
        names = set(schema.fieldNames())
        empty = spark.createDataFrame([], schema)
        for i, rule in enumerate(self.rules):
            where = f"quality[{i}] ({rule_name(rule)})"
            for col in rule.target_columns:
                if col not in names:
                    raise ConfigError(f"{where}: column {col!r} is not in the data", key=where)
            kind_for(rule.rule).validate(rule, where, schema, empty, self.event_time)
        try:  # every row check and the aggregation, analysed (no row read)
            _ = self.flag(empty).groupBy().agg(*self.aggregations(schema)).schema
        except (AnalysisException, ParseException) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"quality rules do not fit the data: {first}") from None

    # -- the one projection

    def flag(
        self,
        df: DataFrame,
        group_by: Sequence[str] = (),
        only: SparkColumn | None = None,
    ) -> DataFrame:
        """``df`` plus one boolean column per row rule, and ``_q_drop`` / ``_q_move``.

        ``only`` limits checking to the rows it selects (others get all flags
        false); ``group_by`` columns tell batches apart (``unique`` holds
        within each group).
        """
        flags: list[SparkColumn] = []
        for i, (rule, kind) in enumerate(self._rows):
            if self._cannot_fail(rule, kind):
                check = F.lit(False)
            else:
                check = kind.flag(rule, only, group_by)
            flags.append(F.coalesce(check, F.lit(False)).alias(self._flag(i)))
        flagged = df.select("*", *flags, (F.lit(True) if only is None else only).alias(self._in))
        drop = [F.col(self._flag(i)) for i, r in enumerate(self.row_rules) if r.on_fail == "drop"]
        move = [
            F.col(self._flag(i))
            for i, r in enumerate(self.row_rules)
            if r.on_fail in ("quarantine", "fail")
        ]
        return flagged.select(
            "*",
            (reduce(lambda a, b: a | b, move) if move else F.lit(False)).alias(self.MOVE),
            (reduce(lambda a, b: a | b, drop) if drop else F.lit(False)).alias(self.DROP),
        )

    def _cannot_fail(self, rule: QualityRule, kind: RowKind) -> bool:
        """A row comparison over columns the rows are known to be distinct on."""
        return (
            kind.compares_rows
            and bool(self.distinct_on)
            and self.distinct_on <= set(rule.target_columns)
        )

    def restrict(self, flagged: DataFrame, only: SparkColumn) -> DataFrame:
        """``flagged`` (from :meth:`flag`, flags possibly null after a union) with the
        rows ``only`` does not select unchecked: every flag false, never null.

        For flags computed early, on more rows than are finally judged (the
        stream computes them before the watermark tells which rows are late).
        """
        scope = F.coalesce(only, F.lit(False)) & F.coalesce(F.col(self._in), F.lit(False))
        return flagged.withColumns(
            {
                c: scope if c == self._in else scope & F.coalesce(F.col(c), F.lit(False))
                for c in self.flag_columns
            }
        )

    @property
    def flag_columns(self) -> list[str]:
        """The helper columns :meth:`flag` adds."""
        flags = [self._flag(i) for i in range(len(self.row_rules))]
        return [*flags, self._in, self.MOVE, self.DROP]

    def broken_names(self) -> SparkColumn:
        """Array of the names of the row rules a flagged row broke."""
        return (
            F.filter(
                F.array(
                    *[
                        F.when(F.col(self._flag(i)), F.lit(name))
                        for i, name in enumerate(self.names)
                    ]
                ),
                lambda x: x.isNotNull(),
            )
            if self.names
            else F.array().cast("array<string>")
        )

    def split(self, flagged: DataFrame) -> tuple[DataFrame, DataFrame]:
        """(rows to publish, rows to quarantine with ``quality_rules``)."""
        good = flagged.where(~F.col(self.MOVE) & ~F.col(self.DROP)).drop(*self.flag_columns)
        bad = (
            flagged.where(F.col(self.MOVE))
            .withColumn(RULES_COLUMN, self.broken_names())
            .drop(*self.flag_columns)
        )
        return good, bad

    # -- the one aggregation

    def aggregations(self, schema: T.StructType | None = None) -> list[SparkColumn]:
        """Columns of the single aggregation over flagged rows (``schema``: theirs)."""
        checked = F.col(self._in)
        q = self.prefix

        def counted(cond: SparkColumn) -> SparkColumn:
            return F.count(F.when(cond & checked, F.lit(1)))

        aggs = [counted(F.lit(True)).alias(f"{q}_rows")]
        aggs += [
            counted(F.col(self._flag(i))).alias(f"{q}_failed{i}")
            for i in range(len(self.row_rules))
        ]
        aggs += [counted(F.col(self.DROP) & ~F.col(self.MOVE)).alias(f"{q}_dropped")]
        aggs += [counted(F.col(self.MOVE)).alias(f"{q}_moved")]
        for i, (rule, kind) in enumerate(self._datasets):
            if kind.aggregates:
                value = kind.aggregate(rule, checked, schema, self.event_time)
                aggs.append(value.alias(f"{q}_agg{i}"))
        return aggs

    def evaluate(
        self,
        flagged: DataFrame,
        group_by: Sequence[str] = (),
        *,
        history: Mapping[Any, Sequence[int]] | Sequence[int] | HistoryOf | None = None,
        now: datetime | Mapping[Any, datetime] | None = None,
    ) -> dict[Any, QualityReport]:
        """Reports per group (key: the group's value, or None without ``group_by``).

        ``history``: row counts of earlier successful runs, newest first
        (per group, or one list for all), for ``row_count_change``; or a
        function of a group's key and the reports of the groups before it,
        called in key order (a grouped load: a date's history holds the
        earlier dates of the group that pass, see lib/loads).
        ``now``: the clock of ``freshness_of_source`` (per group, or one for
        all; default: the wall clock).
        """
        wall = datetime.now(timezone.utc)
        rows = flagged.groupBy(*group_by).agg(*self.aggregations(flagged.schema)).collect()
        groups = {(tuple(r[g] for g in group_by) if group_by else None): r for r in rows}
        if group_by and len(group_by) == 1:
            groups = {k[0]: v for k, v in groups.items()}
        if not group_by and not groups:
            groups = {None: None}
        samples = self._samples(flagged, group_by, groups)
        reports: dict[Any, QualityReport] = {}
        for key, agg in sorted(groups.items()) if callable(history) else groups.items():
            if callable(history):
                past = history(key, reports)
            elif isinstance(history, Mapping):
                past = history.get(key, ())
            else:
                past = history or ()
            clock = (now.get(key) if isinstance(now, Mapping) else now) or wall
            reports[key] = self._report(flagged.schema, agg, samples.get(key, {}), past, clock)
        return reports

    def report_from_totals(self, flagged: DataFrame, totals: Mapping[str, Any]) -> QualityReport:
        """A report from aggregation values summed by the caller.

        For a caller that folded :meth:`aggregations` into an aggregation of
        its own (the stream's per-batch statistics); row rules only.
        """
        filled: dict[str, Any] = defaultdict(int, totals)  # an empty batch has no rows to sum
        samples = self._samples(flagged, (), {None: filled}).get(None, {})
        return self._report(flagged.schema, filled, samples, (), datetime.now(timezone.utc))

    def _samples(
        self,
        flagged: DataFrame,
        group_by: Sequence[str],
        groups: Mapping[Any, Any],
    ) -> dict[Any, dict[int, list[str]]]:
        failing = [
            i
            for i in range(len(self.row_rules))
            if any(agg is not None and agg[f"{self.prefix}_failed{i}"] for agg in groups.values())
        ]
        if not failing:
            return {}
        keys = self.keys or [c for c in flagged.columns if not c.startswith(PREFIX)][:3]
        any_flag = reduce(lambda a, b: a | b, [F.col(self._flag(i)) for i in failing])
        picked = (
            flagged.where(any_flag)
            .select(
                *group_by,
                F.to_json(F.struct(*[F.col(k) for k in keys])).alias(f"{self.prefix}_key"),
                *[self._flag(i) for i in failing],
            )
            .limit(_SAMPLE_ROWS * max(1, len(groups)))
            .collect()
        )
        found: dict[Any, dict[int, list[str]]] = {}
        for row in picked:
            key = (
                None
                if not group_by
                else (row[group_by[0]] if len(group_by) == 1 else tuple(row[g] for g in group_by))
            )
            per_rule = found.setdefault(key, {})
            for i in failing:
                if row[self._flag(i)] and len(per_rule.setdefault(i, [])) < self.sample_size:
                    per_rule[i].append(row[f"{self.prefix}_key"])
        return found

    def _report(
        self,
        schema: T.StructType,
        agg: Any,
        samples: Mapping[int, list[str]],
        history: Sequence[int],
        now: datetime,
    ) -> QualityReport:
        q = self.prefix
        n = int(agg[f"{q}_rows"]) if agg is not None else 0
        report = QualityReport(rows_checked=n)
        if agg is not None:
            report.rows_dropped = int(agg[f"{q}_dropped"])
            report.rows_quarantined = int(agg[f"{q}_moved"])
        for i, rule in enumerate(self.row_rules):
            failed = int(agg[f"{q}_failed{i}"]) if agg is not None else 0
            report.results.append(
                RuleResult(
                    rule=self.names[i],
                    kind=rule.rule,
                    severity=rule.on_fail,
                    rows_checked=n,
                    rows_failed=failed,
                    passed=failed == 0,
                    samples=tuple(samples.get(i, ())),
                    detail=None if failed == 0 else f"{failed} of {n} rows",
                )
            )
        for i, (rule, kind) in enumerate(self._datasets):
            value = agg[f"{q}_agg{i}"] if agg is not None and kind.aggregates else None
            batch = Batch(rows=n, schema=schema, history=history, value=value, now=now)
            passed, detail = kind.verdict(rule, batch)
            report.results.append(
                RuleResult(
                    rule=rule_name(rule),
                    kind=rule.rule,
                    severity=rule.on_fail,
                    rows_checked=n,
                    rows_failed=None,
                    passed=passed,
                    detail=detail,
                )
            )
        return report


# ---------------------------------------------------------------- the one-call API


def check(
    df: DataFrame,
    rules: Sequence[QualityRule] | RuleSet,
    *,
    keys: Sequence[str] = (),
    event_time: str | None = None,
    history: Sequence[int] | None = None,
    now: datetime | None = None,
) -> tuple[DataFrame, DataFrame, QualityReport]:
    """Check ``df`` against ``rules``: (rows to publish, rows to quarantine, report).

    One projection and one aggregation (plus one small query for sample
    keys when a row rule fails). The returned frames are lazy: cache ``df``
    first if it is expensive to compute twice.
    """
    ruleset = (
        rules if isinstance(rules, RuleSet) else RuleSet(rules, keys=keys, event_time=event_time)
    )
    ruleset.validate(df.schema, df.sparkSession)
    flagged = ruleset.flag(df)
    report = ruleset.evaluate(flagged, history=history, now=now)[None]
    good, bad = ruleset.split(flagged)
    return good, bad, report


def max_window(rules: Sequence[QualityRule]) -> int:
    """The most earlier runs a rule compares with (``row_count_change``'s window; 0: none)."""
    return max((kind_for(r.rule).history_window(r) for r in rules), default=0)

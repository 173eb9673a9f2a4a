"""Cross-field checks of a pipeline: what one key alone cannot tell.

Each field checks itself as it is built (:mod:`lakehouse.config.model`);
these checks look across fields (a rule's column is in the schema, the event
time is a timestamp, a section names only known columns, an expression rule
is one safe SQL expression) and return every problem, one per section, rule,
table and job, so ``lakehouse validate`` can list them all at once.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

from lakehouse.config.model import (
    IDENTIFIER,
    Fail,
    Freshness,
    Pipeline,
    QualityRule,
    check_table_name,
)
from lakehouse.config.typed import join_key
from lakehouse.core.columns import RESERVED_COLUMNS
from lakehouse.core.ddl import Column, DdlError, parse_columns
from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError


def pipeline_problems(p: Pipeline, fail: Fail, *, ops_database: str = "ops") -> list[ConfigError]:
    """Every cross-field problem of a pipeline: one per section, rule, table, job and view."""
    problems: list[ConfigError] = []

    def check(step: typing.Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except ConfigError as exc:
            problems.append(exc)

    try:
        by_name = _check_columns(p, fail)
    except ConfigError as exc:
        return [exc]  # the checks below all need the columns
    for i, key in enumerate(p.keys):
        if key not in by_name:
            problems.append(fail(f"keys[{i}]", f"{key!r} is not a column of the schema"))
    check(_check_times, p, by_name, fail)
    known = set(by_name) | {p.partition_by}
    check(_check_sections, p, known, fail)
    seen_names: dict[str, int] = {}
    for i, rule in enumerate(p.quality):
        check(_check_rule, rule, f"quality[{i}]", known, fail)
        name = rule.name or "_".join([rule.rule, *rule.target_columns])
        if name in seen_names:
            problems.append(
                fail(
                    f"quality[{i}]",
                    f"rule name {name!r} is already used by quality[{seen_names[name]}]; "
                    "give one of them a `name`",
                )
            )
        seen_names.setdefault(name, i)
    tables = {t.table for t in (p.bronze, p.silver) if t is not None}
    for table, fresh in p.freshness.items():
        check(_check_freshness, table, fresh, tables, known, fail)
    for job in p.sla:
        if not IDENTIFIER.fullmatch(job):
            problems.append(
                fail(join_key("sla", job), "job names are identifiers such as batch_load")
            )
    check(_check_maintenance, p, known, fail)
    known_tables = {t.lower() for t in p.catalog_tables(ops_database)}
    for i, view in enumerate(p.gold):
        name = view.name.lower()
        if name in known_tables:
            problems.append(fail(f"gold[{i}].name", f"{view.name!r} is a table of the lake"))
            continue
        problem = view_problem(view.sql, known_tables)
        if problem:
            problems.append(fail(f"gold[{i}].sql", problem))
        known_tables.add(name)  # later views may read this one
    return problems


def _parse_spark_sql(text: str) -> list[Any] | str:
    """``text`` parsed as Spark SQL (sqlglot, no JVM): its statements, or the parse error."""
    import sqlglot

    try:
        return [t for t in sqlglot.parse(text, read="spark") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _banned_calls(tree: Any) -> list[str]:
    """Functions of ``tree`` that would run arbitrary Java code (``reflect`` ...)."""
    from sqlglot import exp

    calls = {
        (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        for f in tree.find_all(exp.Func)
    }
    return sorted(calls & _BANNED_FUNCTIONS)


def view_problem(text: str, tables: set[str]) -> str | None:
    """Why ``text`` cannot be a gold view over ``tables`` (lower-case names), or None.

    One SELECT (with CTEs, joins, unions), parsed as Spark SQL without a JVM:
    no statement of any other kind, no ``;``, no function that runs Java code,
    and every table it reads is a table of the lake or an earlier view, named
    ``database.table``.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.tokenize(text, read="spark")
    except sqlglot.errors.SqlglotError:
        tokens = []  # the parse below names the problem
    if any(t.token_type == TokenType.SEMICOLON for t in tokens):
        return "must be one SELECT, without `;`"
    trees = _parse_spark_sql(text)
    if isinstance(trees, str):
        return f"not valid SQL: {trees}"
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        return "must be one SELECT query (no DDL, DML or other statement)"
    tree = trees[0]
    statements = tuple(
        getattr(exp, n)
        for n in ("DDL", "DML", "Command", "Use", "Set", "Insert", "Delete", "Update", "Merge")
        if hasattr(exp, n)
    )
    if any(tree.find_all(*statements)):
        return "must be a query only (no DDL or DML inside it)"
    banned = _banned_calls(tree)
    if banned:
        return f"function(s) {', '.join(banned)} may not be used in a view (they run Java code)"
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    unknown: set[str] = set()
    for table in tree.find_all(exp.Table):
        if not table.name:
            return "reads something that is not a table (a table function or a path)"
        parts = [p.name.lower() for p in (table.args.get("catalog"), table.args.get("db")) if p]
        name = ".".join([*parts, table.name.lower()])
        if not parts and name in ctes:
            continue
        if name not in tables:
            unknown.add(name)
    if unknown:
        return (
            f"unknown table(s) {', '.join(sorted(unknown))} "
            f"(tables and views: {', '.join(sorted(tables))})"
        )
    return None


def _check_columns(p: Pipeline, fail: Fail) -> dict[str, Column]:
    """The schema parses and its names are plain and not reserved; returns the columns by name."""
    try:
        columns = p.columns
    except DdlError as exc:
        raise fail("schema", str(exc)) from None
    by_name = {c.name: c for c in columns}
    for col in columns:
        if not IDENTIFIER.fullmatch(col.name):
            raise fail("schema", f"column name {col.name!r} is not a plain identifier")
        if col.name in RESERVED_COLUMNS:
            raise fail("schema", f"column name {col.name!r} is reserved for Kafka/audit metadata")
    return by_name


def _check_times(p: Pipeline, by_name: dict[str, Column], fail: Fail) -> None:
    """The event-time column is a timestamp; the partition column a date or a new column."""
    if p.event_time not in by_name:
        raise fail("event_time", f"{p.event_time!r} is not a column of the schema")
    if by_name[p.event_time].type_name not in ("timestamp", "timestamp_ntz"):
        raise fail(
            "event_time",
            f"{p.event_time!r} must be a TIMESTAMP column, not {by_name[p.event_time].type_name}",
        )
    if p.partition_by in RESERVED_COLUMNS:
        raise fail("partition_by", f"{p.partition_by!r} is reserved for Kafka/audit metadata")
    if p.partition_by in by_name and by_name[p.partition_by].type_name != "date":
        raise fail("partition_by", f"{p.partition_by!r} is in the schema but is not a DATE")


def _check_sections(p: Pipeline, known: set[str], fail: Fail) -> None:
    if p.stream is not None and p.source.kafka is None:
        raise fail("stream", "a `stream` section needs `source.kafka`")
    if p.stream is not None and p.bronze is None:
        raise fail("stream", "a `stream` section needs a `bronze` table to write to")
    if p.silver is not None and p.silver.order_by and p.silver.order_by not in known:
        raise fail("silver.order_by", f"{p.silver.order_by!r} is not a column of the schema")
    if p.silver is not None and p.silver.delete_missing and p.silver.mode != "merge":
        raise fail("silver.delete_missing", "only applies to `mode: merge`")
    if p.silver is not None and p.silver.apply != "auto" and p.silver.mode == "replace_partition":
        raise fail("silver.apply", "only applies to `mode: merge` and `mode: insert_if_absent`")


def longest_run(p: Pipeline) -> tuple[Duration, str]:
    """How long a job of the pipeline may run: ``maintenance.longest_job`` or a longer
    ``sla.<job>.max_duration``; with where that figure comes from."""
    longest, source = p.maintenance.longest_job, "maintenance.longest_job"
    for job, sla in p.sla.items():
        if sla.max_duration is not None and sla.max_duration.seconds > longest.seconds:
            longest, source = sla.max_duration, f"sla.{job}.max_duration"
    return longest, source


def _check_maintenance(p: Pipeline, known: set[str], fail: Fail) -> None:
    m = p.maintenance
    tables = {t.table for t in (p.bronze, p.silver) if t is not None}
    for table, columns in m.zorder_by.items():
        where = join_key("maintenance.zorder_by", table)
        if table not in tables:
            raise fail(where, f"not a table of this pipeline (tables: {', '.join(sorted(tables))})")
        for column in columns:
            if column == p.partition_by:
                raise fail(where, f"{column!r} is the partition column: Z-order other columns")
            if column not in known:
                raise fail(where, f"{column!r} is not a column of the schema")
    if p.stream is not None:
        reach, what = p.stream.watermark.seconds, f"stream.watermark {p.stream.watermark}"
        if p.bronze is not None and p.bronze.dedup == "keys":
            reach += p.bronze.key_lookback.seconds
            what += f" + bronze.key_lookback {p.bronze.key_lookback}"
        if m.closed_after.seconds <= reach:
            raise fail(
                "maintenance.closed_after",
                f"{m.closed_after} is not longer than what the stream may still write "
                f"({what}): OPTIMIZE would rewrite partitions the stream reads",
            )
    longest, source = longest_run(p)
    for limit, name in ((longest, source), (m.stream_downtime, "maintenance.stream_downtime")):
        if m.vacuum_retention.seconds < limit.seconds:
            raise fail(
                "maintenance.vacuum_retention",
                f"{m.vacuum_retention} is shorter than {name} ({limit}): VACUUM would delete "
                "files a running job or a resuming reader still needs",
            )
    if m.log_retention.seconds < m.vacuum_retention.seconds:
        raise fail(
            "maintenance.log_retention",
            f"{m.log_retention} is shorter than maintenance.vacuum_retention "
            f"({m.vacuum_retention}): time travel would outlive its log",
        )


def _check_freshness(
    table: str, fresh: Freshness, tables: set[str], known: set[str], fail: Fail
) -> None:
    where = join_key("freshness", table)
    try:
        check_table_name(table)
    except ValueError as exc:
        raise fail(where, str(exc)) from None
    if table not in tables:
        raise fail(where, f"not a table of this pipeline (tables: {', '.join(sorted(tables))})")
    if fresh.column and fresh.column not in known and fresh.column != "ingested_at":
        raise fail(f"{where}.column", f"{fresh.column!r} is not a column of the schema")


def _check_rule(rule: QualityRule, where: str, known: set[str], fail: Fail) -> None:
    required, optional = _RULE_KEYS[rule.rule]
    given = {
        f.name
        for f in dataclasses.fields(rule)
        if f.name not in ("rule", "name", "on_fail")
        and getattr(rule, f.name) != f.default
        and not (f.default_factory is not dataclasses.MISSING and not getattr(rule, f.name))
    }
    for key in sorted(required - given):
        raise fail(f"{where}.{key}", f"missing required key for rule {rule.rule!r}")
    for key in sorted(given - required - optional):
        raise fail(f"{where}.{key}", f"not a key of rule {rule.rule!r}")
    if rule.rule in ("not_null", "unique") and not rule.target_columns:
        raise fail(where, f"rule {rule.rule!r} needs `column` or `columns`")
    if rule.rule == "range" and rule.min is None and rule.max is None:
        raise fail(where, "rule 'range' needs `min`, `max` or both")
    if rule.rule == "row_count" and rule.min is None and rule.max is None:
        raise fail(where, "rule 'row_count' needs `min`, `max` or both")
    if rule.rule == "regex" and rule.pattern is not None:
        try:
            re.compile(rule.pattern)
        except re.error as exc:
            raise fail(f"{where}.pattern", f"not a valid regular expression: {exc}") from None
    if rule.rule == "row_count_change" and rule.window < 1:
        raise fail(f"{where}.window", "must be at least 1")
    if rule.rule == "expression" and not rule.name:
        raise fail(f"{where}.name", "an expression rule needs a `name`")
    if rule.rule in _DATASET_RULES and rule.on_fail not in ("warn", "fail"):
        raise fail(
            f"{where}.on_fail",
            f"rule {rule.rule!r} judges the whole batch: it can `warn` or `fail`, "
            f"not {rule.on_fail!r}",
        )
    for col in rule.target_columns:
        if col not in known:
            raise fail(where, f"column {col!r} is not a column of the schema")
    if rule.rule == "expression" and rule.expr is not None:
        problem = expression_problem(rule.expr, known)
        if problem:
            raise fail(f"{where}.expr", problem)
    if rule.rule == "schema":
        for name, ddl in rule.expected.items():
            if not IDENTIFIER.fullmatch(name):
                raise fail(f"{where}.expected", f"{name!r} is not a plain column name")
            try:
                parse_columns(f"{name} {ddl}")
            except DdlError as exc:
                raise fail(f"{where}.expected.{name}", f"not a Spark type: {exc}") from None


# SQL functions that run arbitrary JVM code: never from a config file
_BANNED_FUNCTIONS = {"reflect", "java_method", "try_reflect"}

# rule kind -> (required keys, optional keys); `rule`, `name`, `on_fail` always allowed
_RULE_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "not_null": (set(), {"column", "columns"}),
    "unique": (set(), {"column", "columns"}),
    "accepted_values": ({"column", "values"}, set()),
    "range": ({"column"}, {"min", "max", "min_inclusive", "max_inclusive"}),
    "regex": ({"column", "pattern"}, set()),
    "expression": ({"expr"}, set()),
    "row_count": (set(), {"min", "max"}),
    "row_count_change": ({"max_ratio"}, {"window"}),
    "schema": ({"expected"}, set()),
    "freshness_of_source": ({"max_age"}, {"column"}),
}

_DATASET_RULES = ("row_count", "row_count_change", "schema", "freshness_of_source")


def expression_problem(text: str, known: set[str]) -> str | None:
    """Why a SQL boolean expression cannot be a rule, or None.

    Parsed as Spark SQL without a JVM (sqlglot), so a typo or an unknown
    column is a config error (exit 2) before any Spark work; the job checks
    it again against the data's real schema before reading a row.
    """
    from sqlglot import exp

    trees = _parse_spark_sql(text)
    if isinstance(trees, str):
        return f"not a valid SQL expression: {trees}"
    if len(trees) != 1:
        return "must be one SQL expression (no `;`)"
    tree = trees[0]
    statements = tuple(
        getattr(exp, n) for n in ("Query", "DDL", "DML", "Command", "Use", "Set") if hasattr(exp, n)
    )
    if isinstance(tree, statements) or any(tree.find_all(*statements)):
        return "must be an expression, not a statement or a query"
    banned = _banned_calls(tree)
    if banned:
        return f"function(s) {', '.join(banned)} may not be used in a rule (they run Java code)"
    unknown = sorted(
        {(c.table or c.name) for c in tree.find_all(exp.Column) if (c.table or c.name) not in known}
    )
    if unknown:
        return f"unknown column(s) {', '.join(unknown)} (columns: {', '.join(sorted(known))})"
    return None

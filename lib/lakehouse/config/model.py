"""The one config loader: YAML in, frozen typed objects out, checked once.

Layout of a config folder::

    conf/base.yaml               settings shared by every environment
    conf/<env>.yaml              overlay for one environment (local, cluster, ...)
    conf/pipelines/<name>.yaml   one file per pipeline

``${VAR}`` and ``${VAR:-default}`` in any string are filled from the
environment (``$${`` writes a literal ``${``). Every problem raises
:class:`~lakehouse.core.errors.ConfigError` naming the file and the key path, before any
Spark work, so a job with a bad config exits 2 having written nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lakehouse.config.typed import (
    Builder,
    KeyProblem,
    KeySources,
    deep_merge,
    field_meta,
    join_key,
    read_yaml,
    to_plain,
)
from lakehouse.core.columns import RESERVED_COLUMNS
from lakehouse.core.ddl import Column, DdlError, parse_columns
from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError, ConfigProblems, did_you_mean
from lakehouse.core.paths import project_root
from lakehouse.core.retry import Backoff

# Field metadata of settings that change how a run goes, never a row it writes:
# left out of Pipeline.fingerprint().
RUN_ONLY = {"shapes_data": False}

Fail = typing.Callable[[str, str], ConfigError]  # key path, message -> the error to raise

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TABLE_NAME = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")

# Kafka consumer options Spark sets itself and refuses as `kafka.<option>`.
_KAFKA_OPTIONS_SPARK_OWNS = {
    "auto.offset.reset": "use source.kafka.starting_offsets",
    "enable.auto.commit": "Spark tracks offsets in the checkpoint",
    "key.deserializer": "Spark reads keys as bytes",
    "value.deserializer": "Spark reads values as bytes",
    "key.serializer": "Spark writes keys as bytes",
    "value.serializer": "Spark writes values as bytes",
    "interceptor.classes": "not supported by Spark's Kafka source",
    "bootstrap.servers": "use source.kafka.bootstrap_servers",
}


# --------------------------------------------------------------------------
# Field checks (raise ValueError; the builder adds file and key path)


def _check_identifier(value: str) -> None:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid identifier (letters, digits, _; not first digit)"
        )


def check_table_name(value: str) -> None:
    """A table name is dotted parts of ``[A-Za-z0-9_]``: ``bronze.orders``."""
    if not TABLE_NAME.fullmatch(value):
        raise ValueError(
            f"invalid table name {value!r}: use dotted parts of letters, digits and _ "
            "(e.g. silver.orders)"
        )


def _check_topic(value: str) -> None:
    if not KAFKA_TOPIC.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"invalid Kafka topic {value!r}: use letters, digits, '.', '_', '-'")


def _check_time_of_day(value: str) -> None:
    if not _TIME_OF_DAY.fullmatch(value):
        raise ValueError(f"invalid time of day {value!r}: use HH:MM in UTC, e.g. '06:00'")


def _check_nonempty(value: Any) -> None:
    if not value:
        raise ValueError("must not be empty")


# --------------------------------------------------------------------------
# Settings: conf/base.yaml + conf/<env>.yaml


@dataclass(frozen=True)
class SparkSettings:
    """How jobs reach Spark: master, deploy mode, jar delivery, extra confs."""

    master: str = "local[*]"
    deploy_mode: Literal["client", "cluster"] = "client"
    # local: --jars from the cache filled by scripts/setup.sh;
    # packages: --packages, resolved by Spark from Maven Central or `repositories`
    jars: Literal["local", "packages"] = "local"
    repositories: tuple[str, ...] = ()
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaSettings:
    """Defaults for every pipeline's Kafka source."""

    bootstrap_servers: str = field(
        default="127.0.0.1:9092", metadata=field_meta(check=_check_nonempty)
    )


@dataclass(frozen=True)
class Settings:
    """Everything a job needs to know about where it runs."""

    lake_root: str
    checkpoint_root: str | None = None
    spark: SparkSettings = field(default_factory=SparkSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    # filled in by the loader, not from YAML
    env: str = field(default="local", metadata={"internal": True})
    conf_dir: str = field(default="conf", metadata={"internal": True})

    @property
    def is_local_lake(self) -> bool:
        """True when the lake lives on this machine's file system."""
        return "://" not in self.lake_root or self.lake_root.startswith("file:")

    def path(self, *parts: str) -> str:
        """A path below the lake root."""
        return "/".join([self.lake_root.rstrip("/"), *parts])

    def table_path(self, table: str, explicit_path: str | None = None) -> str:
        """Where a table lives: ``bronze.orders`` -> ``<lake>/bronze/orders``."""
        check_table_name(table)
        if explicit_path:
            return explicit_path
        return self.path(*table.split("."))

    @property
    def ledger_path(self) -> str:
        """The run ledger table."""
        return self.path("_ops", "runs")

    @property
    def quality_path(self) -> str:
        """Results of every quality check, per run and rule."""
        return self.path("_ops", "quality")

    def quarantine_path(self, pipeline: str) -> str:
        """The pipeline's quarantine table (events ``stream_ingest`` refused)."""
        return self.path("quarantine", pipeline)

    def load_quarantine_path(self, pipeline: str) -> str:
        """Rows ``batch_load`` refused, partitioned by logical date."""
        return self.path("quarantine", f"{pipeline}_loads")

    def checkpoint_path(self, pipeline: str, job: str) -> str:
        """The checkpoint folder of one streaming query."""
        root = (self.checkpoint_root or self.path("_checkpoints")).rstrip("/")
        return f"{root}/{pipeline}/{job}"


# --------------------------------------------------------------------------
# Pipeline: conf/pipelines/<name>.yaml


@dataclass(frozen=True)
class KafkaSource:
    """Where a pipeline's events come from in Kafka."""

    bootstrap_servers: str | None = None  # default: kafka.bootstrap_servers of the env
    topic: str | None = field(default=None, metadata=field_meta(check=_check_topic))
    pattern: str | None = None
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.topic is None) == (self.pattern is None):
            raise ValueError("set exactly one of `topic` and `pattern`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise KeyProblem("pattern", f"not a valid regular expression: {exc}") from exc
        if self.max_offsets_per_trigger is not None and self.max_offsets_per_trigger < 1:
            raise KeyProblem("max_offsets_per_trigger", "must be at least 1")
        if self.starting_offsets not in ("earliest", "latest"):
            try:
                json.loads(self.starting_offsets)
            except ValueError as exc:
                raise KeyProblem(
                    "starting_offsets", "use earliest, latest or a JSON offsets object"
                ) from exc
        for key in self.options:
            name = key.removeprefix("kafka.")
            if key.startswith("kafka."):
                raise KeyProblem(("options", key), f"write it without the prefix: {name}")
            if name in _KAFKA_OPTIONS_SPARK_OWNS:
                raise KeyProblem(("options", key), _KAFKA_OPTIONS_SPARK_OWNS[name])


@dataclass(frozen=True)
class FilesSource:
    """Landed files for batch loads; ``{date}`` in the path is the logical date."""

    path: str = field(metadata=field_meta(check=_check_nonempty))
    format: Literal["json", "csv", "parquet", "delta"] = "json"
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sources:
    """A pipeline's inputs: a Kafka topic, landed files, or both."""

    kafka: KafkaSource | None = None
    files: FilesSource | None = None

    def __post_init__(self) -> None:
        if self.kafka is None and self.files is None:
            raise ValueError("needs `kafka` or `files` (or both)")


@dataclass(frozen=True)
class ProcessingTime:
    """A micro-batch every ``processing_time``."""

    processing_time: Duration


@dataclass(frozen=True)
class RetrySettings:
    """How often to try again after a transient failure, and how long to wait."""

    attempts: int = 3
    base_delay: Duration = Duration.parse("5s")  # noqa: RUF009 - immutable
    max_delay: Duration = Duration.parse("1m")  # noqa: RUF009 - immutable

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise KeyProblem("attempts", "must be at least 1")

    def backoff(self) -> Backoff:
        """The same as a :class:`~lakehouse.core.retry.Backoff`."""
        return Backoff(self.attempts, self.base_delay.seconds, self.max_delay.seconds)


@dataclass(frozen=True)
class StreamSettings:
    """Structured Streaming settings of ``stream_ingest``."""

    watermark: Duration = Duration.parse("1 hour")  # noqa: RUF009 - immutable
    trigger: Literal["available_now", "once"] | ProcessingTime = "available_now"
    late_events: Literal["quarantine", "drop"] = "quarantine"
    checkpoint: str | None = None
    # broker down or a query failing with a transient error: restart this often
    retry: RetrySettings = field(default_factory=RetrySettings, metadata=RUN_ONLY)
    # on SIGTERM/SIGINT: let the running micro-batch finish for this long, then stop
    stop_grace: Duration = field(default=Duration.parse("30s"), metadata=RUN_ONLY)


@dataclass(frozen=True)
class BronzeTable:
    """The raw, deduplicated events table.

    ``dedup`` says what makes a bronze row unique:

    - ``watermark`` (default): each micro-batch is one Delta idempotent
      append (``txnAppId`` = the checkpoint's id, ``txnVersion`` = the batch
      id), so a replayed batch writes nothing twice; events are unique by key
      within the watermark delay (``dropDuplicatesWithinWatermark``). A key
      re-sent later than that is a second row.
    - ``keys``: each micro-batch is a MERGE insert-if-absent on the keys over
      the batch's days and ``key_lookback`` before them: a key re-sent up to
      that long after its first day's end is not added again; one re-sent
      later is.
    """

    table: str = field(metadata=field_meta(check=check_table_name))
    path: str | None = None
    dedup: Literal["watermark", "keys"] = "watermark"
    key_lookback: Duration = Duration.parse("1d")  # noqa: RUF009 - immutable

    def __post_init__(self) -> None:
        if self.key_lookback.seconds % 86400:
            raise KeyProblem("key_lookback", "must be whole days (bronze partitions are days)")

    @property
    def lookback_days(self) -> int:
        """``key_lookback`` in partitions (days)."""
        return int(self.key_lookback.seconds // 86400)


@dataclass(frozen=True)
class SilverTable:
    """The cleaned, merged table loaded per logical date."""

    table: str = field(metadata=field_meta(check=check_table_name))
    path: str | None = None
    mode: Literal["merge", "replace_partition", "insert_if_absent"] = "merge"
    order_by: str | None = None
    schema_evolution: bool = False
    # merge only: rows of the date that the source no longer has are deleted
    delete_missing: bool = False
    # no source for the date: fail (exit 1) or skip (ledger status `skipped`, exit 0)
    on_missing_source: Literal["fail", "skip"] = "fail"
    # a concurrent writer won the commit (ConcurrentAppendException & co.): try again
    retry: RetrySettings = field(
        default_factory=lambda: RetrySettings(
            attempts=5, base_delay=Duration.parse("1s"), max_delay=Duration.parse("30s")
        ),
        metadata=RUN_ONLY,
    )


@dataclass(frozen=True)
class BackfillSettings:
    """Defaults of ``backfill`` (its flags win)."""

    parallel: int = 2  # loads running at once in one Spark application
    # consecutive dates per load (one pass, one commit, per-date results); 15 was the
    # fastest measured (bench/backfill_bench.py); lower it when one day is very large
    group_days: int = 15
    # one date's load failing with a transient error (conflict, lost executor, timeout)
    retry: RetrySettings = field(default_factory=RetrySettings)

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise KeyProblem("parallel", "must be at least 1")
        if self.group_days < 1:
            raise KeyProblem("group_days", "must be at least 1")


RuleKind = Literal[
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "regex",
    "expression",
    "row_count",
    "row_count_change",
    "schema",
    "freshness_of_source",
]

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


@dataclass(frozen=True)
class QualityRule:
    """One data-quality rule and what to do with rows (or runs) that break it."""

    rule: RuleKind
    name: str | None = field(default=None, metadata=field_meta(check=_check_identifier))
    on_fail: Literal["warn", "drop", "quarantine", "fail"] = "warn"
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    pattern: str | None = None
    expr: str | None = None
    max_ratio: float | None = None
    window: int = 7
    expected: Mapping[str, str] = field(default_factory=dict)
    max_age: Duration | None = None

    @property
    def target_columns(self) -> tuple[str, ...]:
        """Columns the rule reads (empty for dataset-level rules)."""
        return (self.column,) if self.column else self.columns


@dataclass(frozen=True)
class Freshness:
    """Staleness thresholds of one table."""

    from_: Literal["column", "commit", "kafka_lag"] = field(
        default="column", metadata=field_meta(alias="from")
    )
    column: str | None = None
    warn_after: Duration | int | None = None
    error_after: Duration | int | None = None

    def __post_init__(self) -> None:
        if self.from_ == "column" and not self.column:
            raise ValueError("needs `column` (or `from: commit` / `from: kafka_lag`)")
        if self.warn_after is None and self.error_after is None:
            raise ValueError("set `warn_after`, `error_after` or both")
        for key in ("warn_after", "error_after"):
            value = getattr(self, key)
            if value is None:
                continue
            if self.from_ == "kafka_lag" and not isinstance(value, int):
                raise KeyProblem(key, "with `from: kafka_lag` thresholds are message counts")
            if self.from_ != "kafka_lag" and not isinstance(value, Duration):
                raise KeyProblem(key, "must be a duration such as 15m, 2h or 1d")


@dataclass(frozen=True)
class Sla:
    """Time promises of one job."""

    max_duration: Duration | None = None
    deadline: str | None = field(default=None, metadata=field_meta(check=_check_time_of_day))


AlertEvent = Literal["failure", "success", "sla_miss", "stale", "quality", "all"]


@dataclass(frozen=True)
class AlertSink:
    """Where alerts go and which events they carry."""

    sink: Literal["log", "file", "webhook"]
    on: tuple[AlertEvent, ...] = ("failure",)
    url: str | None = None
    path: str | None = None
    min_interval: Duration = Duration.parse("1h")  # noqa: RUF009 - immutable

    def __post_init__(self) -> None:
        if self.sink == "file" and not self.path:
            raise ValueError("a file sink needs `path`")
        if self.sink == "webhook" and self.url is None:
            raise ValueError("a webhook sink needs `url` (from the environment: ${VAR})")

    @property
    def active(self) -> bool:
        """A webhook whose URL came out empty from the environment sends nothing."""
        return not (self.sink == "webhook" and not self.url)


@dataclass(frozen=True)
class Pipeline:
    """One pipeline: its events, tables, rules and promises."""

    name: str = field(metadata=field_meta(check=_check_identifier))
    schema: str = field(metadata=field_meta(check=_check_nonempty))
    keys: tuple[str, ...] = field(metadata=field_meta(check=_check_nonempty))
    event_time: str
    partition_by: str = field(metadata=field_meta(check=_check_identifier))
    source: Sources
    description: str = field(default="", metadata=RUN_ONLY)
    stream: StreamSettings | None = None
    bronze: BronzeTable | None = None
    silver: SilverTable | None = None
    backfill: BackfillSettings = field(default_factory=BackfillSettings, metadata=RUN_ONLY)
    quality: tuple[QualityRule, ...] = ()
    freshness: Mapping[str, Freshness] = field(default_factory=dict, metadata=RUN_ONLY)
    sla: Mapping[str, Sla] = field(default_factory=dict, metadata=RUN_ONLY)
    alerts: tuple[AlertSink, ...] = field(default=(), metadata=RUN_ONLY)

    @functools.cached_property
    def columns(self) -> list[Column]:
        """The event schema, parsed (once per pipeline object)."""
        return parse_columns(self.schema)

    @property
    def column_names(self) -> list[str]:
        """Names of the event schema's columns, in order."""
        return [c.name for c in self.columns]

    def fingerprint(self) -> str:
        """A hash of everything in the pipeline that shapes the data it writes.

        Fields marked ``RUN_ONLY`` (the description, alerts, SLAs, freshness
        thresholds, backfill settings, retries, the stop grace) change no row,
        so changing them does not change the fingerprint.
        """
        data = to_plain(self, shaping_only=True)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Config:
    """Settings of the environment, plus the pipeline a job was asked for."""

    settings: Settings
    pipeline: Pipeline | None = None


# --------------------------------------------------------------------------
# Cross-field checks of a pipeline


def pipeline_problems(p: Pipeline, fail: Fail) -> list[ConfigError]:
    """Every cross-field problem of a pipeline: one per section, rule, table and job."""
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
    return problems


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

_DATASET_RULES = ("row_count", "row_count_change", "schema", "freshness_of_source")


def expression_problem(text: str, known: set[str]) -> str | None:
    """Why a SQL boolean expression cannot be a rule, or None.

    Parsed as Spark SQL without a JVM (sqlglot), so a typo or an unknown
    column is a config error (exit 2) before any Spark work; the job checks
    it again against the data's real schema before reading a row.
    """
    import sqlglot
    from sqlglot import exp

    try:
        trees = [t for t in sqlglot.parse(text, read="spark") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"not a valid SQL expression: {first}"
    if len(trees) != 1:
        return "must be one SQL expression (no `;`)"
    tree = trees[0]
    statements = tuple(
        getattr(exp, n) for n in ("Query", "DDL", "DML", "Command", "Use", "Set") if hasattr(exp, n)
    )
    if isinstance(tree, statements) or any(tree.find_all(*statements)):
        return "must be an expression, not a statement or a query"
    calls = {
        (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        for f in tree.find_all(exp.Func)
    }
    banned = sorted(calls & _BANNED_FUNCTIONS)
    if banned:
        return f"function(s) {', '.join(banned)} may not be used in a rule (they run Java code)"
    unknown = sorted(
        {(c.table or c.name) for c in tree.find_all(exp.Column) if (c.table or c.name) not in known}
    )
    if unknown:
        return f"unknown column(s) {', '.join(unknown)} (columns: {', '.join(sorted(known))})"
    return None


# --------------------------------------------------------------------------
# Public entry points


def default_conf_dir() -> Path:
    """``conf/`` next to ``lib/`` (the repository's own config)."""
    return project_root() / "conf"


def resolve_conf_dir(conf_dir: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """``--conf-dir`` wins over ``LAKEHOUSE_CONF_DIR``, which wins over ``./conf``."""
    chosen = conf_dir or env.get("LAKEHOUSE_CONF_DIR") or default_conf_dir()
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"config folder {str(chosen)!r} does not exist")
    return path


def list_envs(conf_dir: Path) -> list[str]:
    """Environment overlays available in a config folder."""
    return sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")


def list_pipelines(conf_dir: Path) -> list[str]:
    """Pipelines defined in a config folder."""
    return sorted(p.stem for p in (conf_dir / "pipelines").glob("*.yaml"))


def load_settings(
    env_name: str | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load ``base.yaml`` overlaid by ``<env>.yaml`` into :class:`Settings`."""
    environ = os.environ if environ is None else environ
    folder = resolve_conf_dir(conf_dir, environ)
    name = env_name or environ.get("LAKEHOUSE_ENV") or "local"
    if not IDENTIFIER.fullmatch(name):
        raise ConfigError(f"invalid environment name {name!r}")
    base_file = folder / "base.yaml"
    env_file = folder / f"{name}.yaml"
    if name == "base" or not env_file.is_file():
        known = list_envs(folder)
        raise ConfigError(
            f"unknown environment {name!r}{did_you_mean(name, known)} "
            f"(environments in {folder}: {', '.join(known) or 'none'})"
        )
    base = read_yaml(base_file, environ, display=_display(base_file))
    overlay = read_yaml(env_file, environ, display=_display(env_file))
    source = KeySources(_display(base_file))
    source.record(base, _display(base_file))
    source.record(overlay, _display(env_file))
    merged = deep_merge(base, overlay)
    settings = Builder(source).build_all(Settings, merged)
    lake_root = _resolve_path(settings.lake_root, folder.parent)
    checkpoint_root = (
        _resolve_path(settings.checkpoint_root, folder.parent) if settings.checkpoint_root else None
    )
    for key, value in settings.spark.conf.items():
        if "\n" in value:
            raise ConfigError("values must be one line", file=source.file_for("spark"), key=key)
    return dataclasses.replace(
        settings,
        lake_root=lake_root,
        checkpoint_root=checkpoint_root,
        env=name,
        conf_dir=str(folder),
    )


def load_pipeline(
    name: str, settings: Settings, environ: Mapping[str, str] | None = None
) -> Pipeline:
    """Load and check ``pipelines/<name>.yaml`` of the settings' config folder."""
    environ = os.environ if environ is None else environ
    folder = Path(settings.conf_dir)
    if not IDENTIFIER.fullmatch(name or ""):
        raise ConfigError(f"invalid pipeline name {name!r} (letters, digits and _ only)")
    path = folder / "pipelines" / f"{name}.yaml"
    if not path.is_file():
        known = list_pipelines(folder)
        raise ConfigError(
            f"unknown pipeline {name!r}{did_you_mean(name, known)} "
            f"(pipelines in {folder}: {', '.join(known) or 'none'})"
        )
    display = _display(path)
    data = read_yaml(path, environ, display=display)
    builder = Builder(KeySources(display))
    pipeline = builder.build_all(Pipeline, data)
    problems = []
    if pipeline.name != name:
        problems.append(builder.fail("name", f"is {pipeline.name!r} but the file is {name}.yaml"))
    problems += pipeline_problems(pipeline, builder.fail)
    if problems:
        raise ConfigProblems(problems)
    kafka = pipeline.source.kafka
    if kafka is not None and kafka.bootstrap_servers is None:
        kafka = dataclasses.replace(kafka, bootstrap_servers=settings.kafka.bootstrap_servers)
        pipeline = dataclasses.replace(
            pipeline, source=dataclasses.replace(pipeline.source, kafka=kafka)
        )
    return pipeline


def load_config(
    pipeline: str | None = None,
    *,
    env: str | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the environment settings and, if named, one pipeline. Raises ConfigError."""
    settings = load_settings(env, conf_dir, environ)
    loaded = load_pipeline(pipeline, settings, environ) if pipeline is not None else None
    return Config(settings=settings, pipeline=loaded)


def _display(path: Path) -> str:
    """A path as it is best shown in messages: relative to the cwd when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _resolve_path(value: str, base: Path) -> str:
    """Absolute local paths and URIs stay; relative paths are relative to the project."""
    if "://" in value or value.startswith("file:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())

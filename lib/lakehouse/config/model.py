"""The typed model of settings and pipeline files: frozen dataclasses, each field checked.

A field's own check (an identifier, a table name, a topic, a time of day)
runs as :mod:`lakehouse.config.typed` builds it, so the error names the file
and key path; checks across fields are in :mod:`lakehouse.config.checks`,
reading the files in :mod:`lakehouse.config.loader`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lakehouse.config.typed import (
    KeyProblem,
    field_meta,
    to_plain,
)
from lakehouse.core.ddl import Column, parse_columns
from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError
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


# Hadoop file systems a lake may live on (the part before "://"); file: and
# plain local paths are always fine.
LAKE_SCHEMES = ("s3a", "hdfs", "viewfs", "abfs", "abfss", "gs")
_URI_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _check_lake_uri(value: str) -> None:
    """A local path, ``file:``, or a URI of a Hadoop file system the project knows."""
    if not value:
        raise ValueError("must not be empty")
    _check_root_uri(value)


def _check_root_uri(value: str) -> None:
    """As :func:`_check_lake_uri`; empty is fine (an optional root left unset)."""
    match = _URI_SCHEME.fullmatch(value)
    if match is None:
        return  # a local path (relative paths are resolved by the loader)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "file":
        return
    if scheme in ("s3", "s3n"):
        raise ValueError(f"{scheme}:// is not Hadoop's S3 connector here: write s3a://{rest} (S3A)")
    if scheme not in LAKE_SCHEMES:
        raise ValueError(
            f"unknown file system scheme {scheme}:// (known: file, {', '.join(LAKE_SCHEMES)})"
        )
    authority = rest.split("/", 1)[0]
    if not authority:
        raise ValueError(f"{value!r} names no bucket or host: write {scheme}://<bucket>/<prefix>")
    if scheme == "s3a" and not _S3_BUCKET.fullmatch(authority):
        raise ValueError(f"invalid S3 bucket name {authority!r}")


def uri_scheme(value: str) -> str:
    """``s3a`` for ``s3a://b/p``; ``file`` for local paths and ``file:`` URIs."""
    match = _URI_SCHEME.fullmatch(value)
    return match.group(1).lower() if match else "file"


def _check_endpoint(value: str) -> None:
    if not re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?/?", value):
        raise ValueError(f"invalid endpoint {value!r}: use http(s)://host[:port]")


def _check_metastore_uri(value: str) -> None:
    if not re.fullmatch(r"thrift://[^/\s:,]+:\d{1,5}(,thrift://[^/\s:,]+:\d{1,5})*", value):
        raise ValueError(
            f"invalid metastore URI {value!r}: use thrift://host:port (comma-separated for several)"
        )


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
class S3Settings:
    """How Spark reaches S3 (or an S3-compatible store) for ``s3a://`` lakes.

    Credentials: both keys (from ``${VAR}``, never written in the file), or
    neither, and S3A's default chain answers (environment, profile, instance
    or pod role).
    """

    endpoint: str | None = field(default=None, metadata=field_meta(check=_check_endpoint))
    region: str | None = None
    path_style: bool = False
    access_key: str | None = None
    secret_key: str | None = None
    # commits as conditional PUTs (If-None-Match: *): safe with several writers
    conditional_commits: bool = True

    @property
    def configured(self) -> bool:
        """True when the environment names an S3 endpoint, region or keys."""
        return any(v is not None for v in (self.endpoint, self.region, self.access_key))

    def __post_init__(self) -> None:
        if (self.access_key is None) != (self.secret_key is None):
            missing = "secret_key" if self.secret_key is None else "access_key"
            raise KeyProblem(missing, "set both access_key and secret_key, or neither")
        for key in ("access_key", "secret_key"):
            value = getattr(self, key)
            if value is not None and not value.strip():
                raise KeyProblem(key, "is empty (is its ${VAR} set to an empty value?)")


@dataclass(frozen=True)
class CatalogSettings:
    """Where the lake's tables are registered by name (``SELECT * FROM silver.orders``).

    ``none``: tables are addressed by path only. ``hive``: a Hive metastore at
    ``metastore_uri`` (locally scripts/metastore.sh; on a cluster, the
    cluster's). ``spark``: whatever catalog the environment's ``spark.conf``
    sets up (AWS Glue, Unity Catalog, a metastore the cluster already points
    at); the jobs only register into it.
    """

    type: Literal["none", "hive", "spark"] = "none"
    metastore_uri: str | None = field(default=None, metadata=field_meta(check=_check_metastore_uri))
    # the database of the ledger and quality tables (<lake>/_ops/...)
    ops_database: str = field(default="ops", metadata=field_meta(check=_check_identifier))

    @property
    def enabled(self) -> bool:
        return self.type != "none"

    def __post_init__(self) -> None:
        if self.type == "hive" and not self.metastore_uri:
            raise KeyProblem("metastore_uri", "a hive catalog needs thrift://host:port")


@dataclass(frozen=True)
class Settings:
    """Everything a job needs to know about where it runs."""

    lake_root: str = field(metadata=field_meta(check=_check_lake_uri))
    checkpoint_root: str | None = field(default=None, metadata=field_meta(check=_check_root_uri))
    spark: SparkSettings = field(default_factory=SparkSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    # filled in by the loader, not from YAML
    env: str = field(default="local", metadata={"internal": True})
    conf_dir: str = field(default="conf", metadata={"internal": True})

    @property
    def is_local_lake(self) -> bool:
        """True when the lake lives on this machine's file system."""
        return "://" not in self.lake_root or self.lake_root.startswith("file:")

    @property
    def local_dir(self) -> str:
        """A folder on this machine for what belongs beside the lake but is local.

        The lake root itself for a local lake; for a remote lake a folder named
        after it under ``$LAKEHOUSE_LOCAL_DIR`` (default
        ``~/.local/state/lakehouse``), so relative file alert sinks never land
        in whatever folder the job was started from.
        """
        if self.is_local_lake:
            return self.lake_root
        base = os.environ.get("LAKEHOUSE_LOCAL_DIR") or os.path.join(
            os.path.expanduser("~"), ".local", "state", "lakehouse"
        )
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.lake_root.rstrip("/")).strip("_")
        return os.path.join(base, name)

    @property
    def schemes(self) -> set[str]:
        """File system schemes of the lake and checkpoint roots (``{"file", "s3a"}``)."""
        roots = [self.lake_root, self.checkpoint_root or self.lake_root]
        return {uri_scheme(root) for root in roots}

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

    @property
    def catalog_path(self) -> str:
        """Locations of the catalog's databases (views and names only; data stays at its path)."""
        return self.path("_catalog")

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

    ``keep_raw`` keeps each row's Kafka value and headers as they arrived
    (``raw_value``, ``raw_headers``), so a field the producer added is never
    lost and the row can be derived again. Either way, valid events carrying
    fields outside the schema are counted per micro-batch (ledger details).
    Silver is loaded from the declared columns only, so it is a run setting.
    """

    table: str = field(metadata=field_meta(check=check_table_name))
    path: str | None = None
    dedup: Literal["watermark", "keys"] = "watermark"
    key_lookback: Duration = Duration.parse("1d")  # noqa: RUF009 - immutable
    keep_raw: bool = field(default=False, metadata=RUN_ONLY)

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
    # merge and insert_if_absent: apply the planned changes by a MERGE of the changed
    # rows, by rewriting the dates (replaceWhere), or by whichever costs less (auto);
    # the same table either way, so it shapes no data
    apply: Literal["auto", "merge", "rewrite"] = field(default="auto", metadata=RUN_ONLY)
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


def _interval(value: Duration) -> str:
    """A Delta table property interval (``interval 30 days``) of a duration."""
    seconds = int(value.seconds)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0:
            return f"interval {seconds // size} {unit}"
    return f"interval {seconds} seconds"


@dataclass(frozen=True)
class MaintenanceSettings:
    """What ``maintain`` does to the pipeline's tables, and the limits it keeps to.

    Partitions whose day ended at least ``closed_after`` ago are closed: the
    stream and the daily loads no longer write them, so OPTIMIZE compacts
    them (Z-ordered by ``zorder_by[table]`` when set). VACUUM then deletes
    files unreferenced for ``vacuum_retention``, which must outlast the
    longest job (``longest_job`` or any ``sla.*.max_duration``) and the time
    a stopped stream or reader may take to resume (``stream_downtime``).
    """

    closed_after: Duration = Duration.parse("2d")  # noqa: RUF009 - immutable
    optimize: bool = True
    zorder_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    vacuum: bool = True
    vacuum_retention: Duration = Duration.parse("7d")  # noqa: RUF009 - immutable
    log_retention: Duration = Duration.parse("30d")  # noqa: RUF009 - immutable
    checkpoint_retention: Duration = Duration.parse("2d")  # noqa: RUF009 - immutable
    longest_job: Duration = Duration.parse("6h")  # noqa: RUF009 - immutable
    stream_downtime: Duration = Duration.parse("1d")  # noqa: RUF009 - immutable
    # OPTIMIZE losing to a concurrent writer of the same partition: try again
    retry: RetrySettings = field(default_factory=RetrySettings)

    def properties(self) -> dict[str, str]:
        """The retention table properties every table of the pipeline carries."""
        return {
            "delta.logRetentionDuration": _interval(self.log_retention),
            "delta.deletedFileRetentionDuration": _interval(self.vacuum_retention),
            "delta.checkpointRetentionDuration": _interval(self.checkpoint_retention),
        }


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
class GoldView:
    """A view over the lake's tables, (re)created after every successful load."""

    name: str = field(metadata=field_meta(check=check_table_name))
    sql: str = field(metadata=field_meta(check=_check_nonempty))
    description: str = ""

    def __post_init__(self) -> None:
        if self.name.count(".") != 1:
            raise KeyProblem("name", f"{self.name!r}: name a view database.view (gold.daily)")


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
    # views change no row of the pipeline's tables
    gold: tuple[GoldView, ...] = field(default=(), metadata=RUN_ONLY)
    # compaction and clean-up change files, never rows
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings, metadata=RUN_ONLY)

    @functools.cached_property
    def columns(self) -> list[Column]:
        """The event schema, parsed (once per pipeline object)."""
        return parse_columns(self.schema)

    @property
    def column_names(self) -> list[str]:
        """Names of the event schema's columns, in order."""
        return [c.name for c in self.columns]

    def catalog_tables(self, ops_database: str = "ops") -> list[str]:
        """Catalog names of the pipeline's tables: its own, its quarantines, the ops tables."""
        names = [t.table for t in (self.bronze, self.silver) if t is not None]
        names += [f"quarantine.{self.name}", f"quarantine.{self.name}_loads"]
        return [*names, f"{ops_database}.runs", f"{ops_database}.quality"]

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

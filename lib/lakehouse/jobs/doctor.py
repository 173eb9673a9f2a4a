"""Check that this machine (or cluster) can run the lakehouse jobs.

Batch, no inputs. Checks, in order: Python and its packages, Java, the config
(base, overlay and every pipeline), the jars, the lake root, the Kafka
brokers the config names, and a real Delta write + MERGE + read round trip
through the project's SparkSession builder. Prints a checklist, records the
run in the ledger, and prints the run as JSON on the last line.

The brokers are asked by the Kafka admin client in the session's JVM (the one
the jobs use), once per bootstrap list and client options: each pipeline's
``source.kafka.options`` (SASL, TLS), so a secured broker is checked with the
credentials the pipeline streams with and refused credentials are named.

Exit 0 only when every check passes; 2 when the config is invalid; 1 otherwise.

Usage: ./spark-submit.sh doctor [--env ENV] [--conf-dir DIR]
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from lakehouse.config import Config, Pipeline, list_pipelines, load_config, load_pipeline
from lakehouse.core import ConfigError, ExitCode, UsageError, one_line
from lakehouse.lake import (
    Ledger,
    RunRecord,
    fs,
    jars_dir,
    new_run_id,
    read_manifest,
    s3a_jars,
    spark_jars,
    utcnow,
)
from lakehouse.lake.storage import uses_s3a
from lakehouse.runtime import (
    check_only,
    emit,
    ensure_lake_writable,
    job_parser,
    record_and_emit,
    report_error,
    setup_logging,
)
from lakehouse.stream import BrokersUnreachable, check_brokers

JOB = "doctor"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Check:
    """One line of the checklist."""

    name: str
    ok: bool
    detail: str


class Checklist:
    """Runs checks, prints each as it finishes, keeps the results."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def run(self, name: str, fn: Callable[[], str]) -> bool:
        try:
            check = Check(name, True, fn())
        except Exception as exc:
            check = Check(name, False, one_line(exc))
        self.add(check)
        return check.ok

    def add(self, check: Check) -> None:
        self.checks.append(check)
        mark = "ok  " if check.ok else "FAIL"
        print(f"  [{mark}] {check.name:<8} {check.detail}", flush=True)

    def skip(self, name: str, why: str) -> None:
        self.add(Check(name, False, f"not checked: {why}"))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_details(self) -> dict:
        return {"checks": [c.__dict__ for c in self.checks]}


def check_python() -> str:
    versions = []
    for dist in ("pyspark", "delta-spark", "pyyaml"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            raise RuntimeError(f"{dist} is not installed: run scripts/setup.sh") from None
    return f"Python {sys.version.split()[0]}; " + ", ".join(versions)


def check_java() -> str:
    from lakehouse.lake import java_binary

    java = java_binary()
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    version = next((line.split('"')[1] for line in out.splitlines() if '"' in line), "")
    major = int(version.split(".")[1] if version.startswith("1.") else version.split(".")[0] or 0)
    if major < 17:
        raise RuntimeError(f"Java 17+ needed, {java} is {version or 'unknown'}")
    return f"Java {version} ({java})"


def check_config(args) -> tuple[str, Config, list[Pipeline]]:
    cfg = load_config(env=args.env, conf_dir=args.conf_dir)
    names = list_pipelines(Path(cfg.settings.conf_dir))
    pipelines = [load_pipeline(name, cfg.settings) for name in names]
    return (
        (
            f"env {cfg.settings.env} from {cfg.settings.conf_dir}; "
            f"pipelines: {', '.join(names) or 'none'}; lake {cfg.settings.lake_root}"
        ),
        cfg,
        pipelines,
    )


def check_jars(cfg: Config, local_broker: bool) -> str:
    if cfg.settings.spark.jars == "packages":
        spark_part = "Spark jars come from --packages"
    else:
        spark_part = f"{len(spark_jars())} Spark jars"
        if uses_s3a(cfg.settings):
            spark_part += f" + {len(s3a_jars())} S3A jars"
    if not local_broker:
        return spark_part
    manifest = read_manifest("kafka")
    return f"{spark_part}; local broker {manifest['coordinates'][0]} in {jars_dir() / 'kafka'}"


@dataclass
class KafkaTarget:
    """One bootstrap list with one set of client options, and the pipelines using them."""

    servers: str
    options: dict[str, str]
    pipelines: list[str]


def kafka_targets(cfg: Config, pipelines: list[Pipeline]) -> list[KafkaTarget]:
    """Every bootstrap list the config names, with each pipeline's client options.

    The environment's ``kafka.bootstrap_servers`` is checked on its own (no
    options) only when no pipeline reads from it.
    """
    targets: dict[tuple[str, tuple], KafkaTarget] = {}
    for pipeline in pipelines:
        kafka = pipeline.source.kafka
        if kafka is not None and kafka.bootstrap_servers:
            options = dict(kafka.options)
            key = (kafka.bootstrap_servers, tuple(sorted(options.items())))
            target = targets.setdefault(key, KafkaTarget(kafka.bootstrap_servers, options, []))
            target.pipelines.append(pipeline.name)
    default = cfg.settings.kafka.bootstrap_servers
    if all(target.servers != default for target in targets.values()):
        targets[(default, ())] = KafkaTarget(default, {}, [])
    return list(targets.values())


def check_kafka(spark, target: KafkaTarget) -> str:
    """What the brokers answer this target's client (a secret never shows in the line)."""
    used_by = f" (pipelines: {', '.join(target.pipelines)})" if target.pipelines else ""
    try:
        return f"{target.servers}: {check_brokers(spark, target.servers, target.options)}{used_by}"
    except BrokersUnreachable as exc:
        hint = ""
        if all(part.split(":")[0] in LOCAL_HOSTS for part in target.servers.split(",")):
            hint = "; start the local broker: scripts/kafka.sh start"
        raise RuntimeError(
            f"no Kafka broker answers at {target.servers} ({exc.reason}){hint}"
        ) from None


def check_delta(spark, lake_path: str) -> str:
    """Write 3 rows, MERGE 1 update + 1 insert, read back, compare, clean up."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    try:
        spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id INT, value STRING").write.format(
            "delta"
        ).mode("overwrite").save(lake_path)
        updates = spark.createDataFrame([(2, "B"), (4, "d")], "id INT, value STRING")
        (
            DeltaTable.forPath(spark, lake_path)
            .alias("t")
            .merge(updates.alias("s"), F.col("t.id") == F.col("s.id"))
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        got = sorted(tuple(r) for r in spark.read.format("delta").load(lake_path).collect())
    finally:
        fs.delete(spark, lake_path)
    want = [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
    if got != want:
        raise RuntimeError(f"Delta round trip read {got}, expected {want}")
    return f"write + MERGE + read OK under {lake_path.rsplit('/', 3)[0]}"


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    parser = job_parser(JOB, __doc__, pipeline=False)
    record = RunRecord(run_id=new_run_id(), job=JOB, started_at=utcnow())
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        message = report_error(JOB, exc, ExitCode.USAGE)
        emit(record.finish("failed", ExitCode.USAGE, error=exc, error_message=message))
        return ExitCode.USAGE
    if check_only():  # the launcher's pass before spark-submit: quiet unless the config is bad
        try:
            check_config(args)
            return ExitCode.OK
        except ConfigError:
            pass  # reported below as the failed config check

    print("lakehouse-jobs doctor")
    checks = Checklist()
    checks.run("python", check_python)
    checks.run("java", check_java)
    try:
        detail, cfg, pipelines = check_config(args)
        checks.add(Check("config", True, detail))
    except ConfigError as exc:
        checks.add(Check("config", False, str(exc)))
        for name in ("jars", "lake", "kafka", "delta"):
            checks.skip(name, "config is invalid")
        print(f"{JOB}: error: {exc}", file=sys.stderr)
        record.details.update(checks.as_details())
        emit(record.finish("failed", ExitCode.USAGE, error=exc, error_message=str(exc)))
        return ExitCode.USAGE
    record.env = cfg.settings.env

    targets = kafka_targets(cfg, pipelines)
    local_broker = any(
        host in LOCAL_HOSTS
        for t in targets
        for host in (p.split(":")[0] for p in t.servers.split(","))
    )
    jars_ok = checks.run("jars", lambda: check_jars(cfg, local_broker))
    lake_ok = checks.run(
        "lake",
        lambda: (ensure_lake_writable(cfg.settings), f"{cfg.settings.lake_root} writable")[1],
    )
    spark = None
    if jars_ok and lake_ok:
        from lakehouse.lake import build_session

        try:
            spark = build_session(cfg.settings, JOB)
        except Exception as exc:
            checks.add(Check("delta", False, f"Spark session did not start: {one_line(exc)}"))
    for target in targets:  # the Kafka client is the one in the session's JVM
        if spark is None:
            checks.skip("kafka", f"{target.servers}: needs the Spark session")
        else:
            checks.run("kafka", lambda t=target: check_kafka(spark, t))
    if spark is not None:
        path = cfg.settings.path("_ops", "doctor", uuid.uuid4().hex)
        checks.run("delta", lambda: check_delta(spark, path))
    elif not (jars_ok and lake_ok):
        checks.skip("delta", "needs the jars and a writable lake root")

    failed = [c.name for c in checks.checks if not c.ok]
    code = ExitCode.OK if not failed else ExitCode.FAILURE
    print(f"doctor: {'all checks passed' if not failed else 'failed: ' + ', '.join(failed)}")
    record.details.update(checks.as_details())
    message = (
        None
        if not failed
        else "; ".join(f"{c.name}: {c.detail}" for c in checks.checks if not c.ok)
    )
    if failed:
        print(f"{JOB}: error: {message}", file=sys.stderr, flush=True)
    record.finish("success" if not failed else "failed", code, error_message=message)
    if spark is None:
        emit(record)
        return code
    return record_and_emit(Ledger(spark, cfg.settings.ledger_path), record)


if __name__ == "__main__":
    sys.exit(main())

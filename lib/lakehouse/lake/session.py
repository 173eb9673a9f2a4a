"""The one SparkSession builder every job (and the test suite) uses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config.model import Settings
from lakehouse.core.errors import LakehouseError
from lakehouse.lake.catalog import catalog_conf
from lakehouse.lake.jars import (
    LOCAL_LOGSTORE,
    lakehouse_jar,
    s3a_jars,
    s3a_packages,
    spark_jars,
    spark_packages,
)
from lakehouse.lake.storage import apply_storage, s3a_conf, uses_s3a

FAIR_POOLS_FILE = Path(__file__).resolve().parent / "fairscheduler.xml"
FAIR_POOLS = 32  # backfill_0 .. backfill_31 (lakehouse.batch.backfill.scheduler_pool)
DELTA_SETTINGS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}


# Spark settings the launcher's command line gave (``--conf``, comma-separated keys):
# spark-submit already set them, and the session builder must not put the env
# file's values back over them.
OVERRIDES_ENV = "LAKEHOUSE_CONF_OVERRIDES"


def launched_by_spark_submit() -> bool:
    """True inside a driver started by spark-submit (it set master and jars already)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def app_name(job: str, pipeline: str | None = None) -> str:
    """``lakehouse-jobs:<job>:<pipeline>``, the name every run shows in the Spark UI."""
    return f"lakehouse-jobs:{job}:{pipeline or '-'}"


def jar_settings(settings: Settings) -> dict[str, str]:
    """How the JVM jars reach Spark: files from the cache, or Maven coordinates.

    The project's own jar (the multi-process-safe LogStore for ``file:``
    lakes) always travels as a file; in ``packages`` mode it is optional, so
    a cluster that never ran scripts/setup.sh can still launch.
    """
    conf: dict[str, str] = {}
    s3a = uses_s3a(settings)
    if settings.spark.jars == "packages":
        packages = spark_packages() + (s3a_packages() if s3a else [])
        conf["spark.jars.packages"] = ",".join(packages)
        if settings.spark.repositories:
            conf["spark.jars.repositories"] = ",".join(settings.spark.repositories)
        own = lakehouse_jar(required=False)
        if own:
            conf["spark.jars"] = own
    else:
        conf["spark.jars"] = ",".join(spark_jars() + (s3a_jars() if s3a else []))
    if "spark.jars" in conf:
        conf["spark.delta.logStore.file.impl"] = LOCAL_LOGSTORE
    elif s3a and settings.s3.conditional_commits:
        raise LakehouseError(
            "an s3a:// lake commits through the project's LogStore (jvm/src), which is not "
            "built here: run scripts/setup.sh, or set s3.conditional_commits: false if "
            "exactly one application ever writes each table"
        )
    return conf


def spark_conf(settings: Settings, *, with_jars: bool = True) -> dict[str, str]:
    """Every Spark setting a job runs with, from config: Delta, UTC, jars, extras.

    The launcher passes the same settings to spark-submit, so a job started by
    ``spark-submit.sh`` and one started in-process see identical settings.
    User settings from ``spark.conf`` come last and win.
    """
    conf = dict(DELTA_SETTINGS)
    if with_jars:
        conf.update(jar_settings(settings))
    conf.update(s3a_conf(settings))
    conf.update(catalog_conf(settings))
    conf.update(settings.spark.conf)
    if (
        conf.get("spark.scheduler.mode", "").upper() == "FAIR"
        and "spark.scheduler.allocation.file" not in conf
        and settings.spark.deploy_mode != "cluster"  # the file is on this host only
        and FAIR_POOLS_FILE.is_file()  # not from the zip spark-submit ships (the launcher set it)
    ):
        conf["spark.scheduler.allocation.file"] = f"file:{FAIR_POOLS_FILE}"
    return conf


def java_binary() -> str:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java`` or the one on PATH.

    Raises:
        LakehouseError: no Java is installed.
    """
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    found = shutil.which("java")
    if found is None:
        raise LakehouseError(
            "Java not found: install Java 17 (apt-get install openjdk-17-jdk-headless) "
            "or set JAVA_HOME"
        )
    return found


def build_session(settings: Settings, job: str, pipeline: str | None = None) -> SparkSession:
    """Get or create the SparkSession for ``job``, configured from ``settings``.

    Under spark-submit the launcher already chose master, deploy mode and jars,
    and the settings named in ``$LAKEHOUSE_CONF_OVERRIDES`` keep the values the
    command line gave; in-process (tests, notebooks, ``python jobs/x.py``) all
    of them come from config.

    Raises:
        LakehouseError: Java or the jar cache is missing.
    """
    builder = SparkSession.builder.appName(app_name(job, pipeline))
    under_submit = launched_by_spark_submit()
    if not under_submit:
        java_binary()
        builder = builder.master(settings.spark.master)
    overridden = set()
    if under_submit:
        overridden = {k for k in os.environ.get(OVERRIDES_ENV, "").split(",") if k}
    for key, value in spark_conf(settings, with_jars=not under_submit).items():
        if key not in overridden:
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    apply_storage(spark, settings)
    return spark

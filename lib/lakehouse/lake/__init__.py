"""The lake itself: the SparkSession, jars, file systems, Delta write primitives, where each
pipeline keeps its data, and the run ledger.
"""

from __future__ import annotations

from lakehouse.lake.delta_io import key_condition, materialize, release
from lakehouse.lake.jars import (
    LAKEHOUSE_JAR,
    SCALA_BINARY,
    jars_dir,
    read_manifest,
    s3a_jars,
    s3a_packages,
    spark_hadoop_version,
    spark_jars,
    spark_packages,
)
from lakehouse.lake.ledger import (
    Ledger,
    RunRecord,
    check_run_id,
    find_run_without_jvm,
    new_run_id,
    utcnow,
)
from lakehouse.lake.nojvm import readable as readable_without_jvm
from lakehouse.lake.session import build_session, jar_settings, java_binary, spark_conf
from lakehouse.lake.tables import PipelineTables

__all__ = [
    "LAKEHOUSE_JAR",
    "SCALA_BINARY",
    "Ledger",
    "PipelineTables",
    "RunRecord",
    "build_session",
    "check_run_id",
    "find_run_without_jvm",
    "jar_settings",
    "jars_dir",
    "java_binary",
    "key_condition",
    "materialize",
    "new_run_id",
    "read_manifest",
    "readable_without_jvm",
    "release",
    "s3a_jars",
    "s3a_packages",
    "spark_conf",
    "spark_hadoop_version",
    "spark_jars",
    "spark_packages",
    "utcnow",
]

"""The JVM jars Spark needs beyond its own: Delta and the Kafka connector.

Their Maven coordinates are derived from the installed ``pyspark`` and
``delta-spark`` (pinned once, in pyproject.toml), so the Python and JVM sides
never disagree. ``scripts/resolve_jars.py`` downloads them once into
``.cache/jars/spark`` (with their transitive dependencies, minus what Spark
already ships) and builds the project's own small jar (``jvm/src``) into
``.cache/jars/lakehouse``; jobs then pass that list as ``spark.jars``. On a
cluster with a Maven mirror, ``spark.jars: packages`` passes the coordinates
instead.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

from lakehouse.core.errors import LakehouseError
from lakehouse.core.paths import project_root

SCALA_BINARY = "2.13"
LAKEHOUSE_JAR = "lakehouse-jvm.jar"
# Delta LogStore for file: paths that is safe between processes (jvm/src)
LOCAL_LOGSTORE = "lakehouse.delta.AtomicLocalLogStore"
# Delta LogStore for s3a: paths: commits are conditional PUTs (jvm/src)
S3_LOGSTORE = "lakehouse.delta.ConditionalPutLogStore"
# the AWS SDK modules S3A calls (instead of the SDK's 690 MB bundle)
_S3A_SDK_MODULES = ("s3", "sts", "s3-transfer-manager", "apache-client")


class JarsMissingError(LakehouseError):
    """The jar cache is empty or was resolved for other versions."""


def installed_version(dist: str) -> str:
    """Version of an installed Python distribution (``pyspark``, ``delta-spark``)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        raise JarsMissingError(
            f"Python package {dist} is not installed: run scripts/setup.sh"
        ) from None


def spark_packages() -> list[str]:
    """Maven coordinates of the Delta jar and the Kafka connector for this pyspark."""
    spark = installed_version("pyspark")
    delta = installed_version("delta-spark")
    spark_line = ".".join(spark.split(".")[:2])
    return [
        f"io.delta:delta-spark_{spark_line}_{SCALA_BINARY}:{delta}",
        f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{spark}",
    ]


def spark_hadoop_version() -> str:
    """The Hadoop version pyspark ships (``hadoop-client-api-<version>.jar``)."""
    import pyspark

    folder = Path(pyspark.__file__).parent / "jars"
    for jar in sorted(folder.glob("hadoop-client-api-*.jar")):
        return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    raise JarsMissingError(f"no hadoop-client-api jar in {folder}: reinstall pyspark")


def s3a_packages(aws_sdk: str | None = None) -> list[str]:
    """Maven coordinates of the S3A connector for this pyspark's Hadoop.

    With ``aws_sdk`` (the version hadoop-aws was built with), the SDK modules
    S3A calls are named too, so the bundle can be left out; without it, only
    ``hadoop-aws`` (Spark's ``--packages`` then fetches the bundle).
    """
    coords = [f"org.apache.hadoop:hadoop-aws:{spark_hadoop_version()}"]
    if aws_sdk:
        coords += [f"software.amazon.awssdk:{m}:{aws_sdk}" for m in _S3A_SDK_MODULES]
    return coords


def jars_dir() -> Path:
    """Root of the jar cache (``LAKEHOUSE_JARS_DIR`` or ``.cache/jars``)."""
    return Path(os.environ.get("LAKEHOUSE_JARS_DIR") or project_root() / ".cache" / "jars")


def read_manifest(kind: str) -> dict:
    """The manifest written by scripts/resolve_jars.py for one jar set."""
    path = jars_dir() / kind / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise JarsMissingError(
            f"no {kind} jars in {path.parent}: run scripts/setup.sh to download them, "
            "or set spark.jars: packages (Spark fetches them from Maven)"
        ) from None
    except ValueError:
        raise JarsMissingError(f"{path} is damaged: delete it and run scripts/setup.sh") from None


def lakehouse_jar(required: bool = True) -> str | None:
    """The project's own JVM jar (built by scripts/setup.sh from jvm/src)."""
    path = jars_dir() / "lakehouse" / LAKEHOUSE_JAR
    if path.is_file():
        return str(path)
    if required:
        raise JarsMissingError(f"{path} is missing: run scripts/setup.sh to build it")
    return None


def _cached(kind: str, manifest: dict) -> list[str]:
    """The jar files a manifest lists, all present, or JarsMissingError."""
    folder = jars_dir() / kind
    paths = [folder / name for name in manifest.get("jars", [])]
    missing = [p.name for p in paths if not p.is_file()]
    if missing or not paths:
        raise JarsMissingError(
            f"jar cache {folder} is incomplete (missing {', '.join(missing) or 'all'}): "
            "run scripts/setup.sh"
        )
    return [str(p) for p in paths]


def spark_jars() -> list[str]:
    """Local paths of the Spark-side jars: Delta, the Kafka connector, the project's own.

    Checks the cache was resolved for the installed pyspark / delta-spark.
    """
    manifest = read_manifest("spark")
    wanted = spark_packages()
    if manifest.get("coordinates") != wanted:
        raise JarsMissingError(
            f"cached jars are for {manifest.get('coordinates')}, this install needs {wanted}: "
            "run scripts/setup.sh"
        )
    return [*_cached("spark", manifest), str(lakehouse_jar())]


def s3a_jars() -> list[str]:
    """Local paths of the S3A connector jars (for lakes on ``s3a://``).

    Checks the cache was resolved for the Hadoop pyspark ships.
    """
    manifest = read_manifest("s3a")
    want = s3a_packages()[0]
    if want not in manifest.get("coordinates", []):
        raise JarsMissingError(
            f"cached S3A jars are for {manifest.get('coordinates', ['?'])[0]}, this pyspark "
            f"needs {want}: run scripts/setup.sh"
        )
    return _cached("s3a", manifest)
